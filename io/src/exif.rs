//! EXIF carried from an input to its output: read from an EXIF blob (PNG
//! `eXIf`, JPEG APP1) or from a TIFF file's own first directory (the same
//! structure), rewritten as a little-endian EXIF blob for PNG and JPEG
//! outputs, or as tags of the output's directory for TIFF ones.
//!
//! What is dropped, because the colourized file makes it false or would
//! break it: the tags that describe the input's pixel layout (size, bits,
//! photometric interpretation, strips, tiles, compression, transfer
//! function, JPEG tables), its thumbnail (IFD1: a gray picture of a colour
//! image) and Photoshop's resources and layers (a gray thumbnail; layers
//! Photoshop would rebuild the gray image from), its `Software` (the
//! output's is this tool, written by the encoder), its XMP and ICC tags
//! (carried on their own), and whatever holds offsets into the old file
//! (SubIFDs, free space, the interoperability directory, the maker note). Everything else of IFD0, the
//! Exif directory and the GPS directory is kept byte for byte, including
//! `Orientation`: outputs keep the input's pixels unrotated with its
//! orientation tag, so viewers show both the same way.

/// A directory of the EXIF structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ifd {
    /// IFD0: the image's own tags (description, date, artist, orientation).
    Primary,
    /// The Exif sub-directory (tag 34665): capture settings, original date.
    Exif,
    /// The GPS sub-directory (tag 34853).
    Gps,
}

/// One kept tag: its directory, number, TIFF field type and count, and the
/// value's bytes in little-endian order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub ifd: Ifd,
    pub tag: u16,
    pub field_type: u16,
    pub count: u32,
    pub value: Vec<u8>,
}

/// The kept tags of one input, in directory then tag order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exif {
    pub entries: Vec<Entry>,
}

pub const TAG_ORIENTATION: u16 = 274;
const TAG_EXIF_IFD: u16 = 34665;
const TAG_GPS_IFD: u16 = 34853;
const TAG_INTEROP_IFD: u16 = 40965;
const TAG_MAKER_NOTE: u16 = 37500;
const TAG_IPTC: u16 = 33723;

/// IFD0 tags that describe the stored pixels, or are carried otherwise.
fn dropped_from_primary(tag: u16) -> bool {
    matches!(
        tag,
        254..=259 // subfile type, width, length, bits, compression
            | 262 | 263 | 266 // photometric, thresholding, fill order
            | 273 | 277..=281 // strips, samples per pixel, min/max sample
            | 284 | 305 | 317 | 320 // planar, Software, predictor, colour map
            | 322..=325 | 338 | 339 // tiles, extra samples, sample format
            | 513 | 514 | 529..=532 // JPEG thumbnail, YCbCr
            | 700 | 34675 // XMP, ICC
            | 288 | 289 | 301 | 330 | 347 // free offsets, transfer function, SubIFDs, JPEG tables
            | 34377 | 37724 // Photoshop resources (a gray thumbnail) and layers
            | TAG_EXIF_IFD | TAG_GPS_IFD | TAG_INTEROP_IFD
    )
}

fn type_size(field_type: u16) -> Option<usize> {
    Some(match field_type {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 => 4,
        5 | 10 | 12 => 8,
        _ => return None,
    })
}

/// Caps on what one input's EXIF may cost, whatever its directories claim:
/// entries per directory and value bytes in all. A JPEG's EXIF is at most
/// 64 KB; a TIFF's descriptive tags fit easily.
const MAX_ENTRIES: u64 = 1024;
const MAX_VALUE_BYTES: u64 = 1 << 20;

/// Bytes at an offset of a TIFF-structured source: a blob in memory, or a
/// file read piece by piece (a TIFF master can be gigabytes; its tags are
/// a few kilobytes somewhere in it).
pub trait Source {
    /// `len` bytes at `offset`, or `None` past the end.
    fn read_at(&mut self, offset: u64, len: u64) -> Option<Vec<u8>>;
}

impl Source for &[u8] {
    fn read_at(&mut self, offset: u64, len: u64) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end).map(<[u8]>::to_vec)
    }
}

/// A seekable file as a [`Source`].
pub struct Seekable<R>(pub R);

impl<S: Source + ?Sized> Source for &mut S {
    fn read_at(&mut self, offset: u64, len: u64) -> Option<Vec<u8>> {
        (**self).read_at(offset, len)
    }
}

impl<R: std::io::Read + std::io::Seek> Source for Seekable<R> {
    fn read_at(&mut self, offset: u64, len: u64) -> Option<Vec<u8>> {
        use std::io::{Read, SeekFrom};
        self.0.seek(SeekFrom::Start(offset)).ok()?;
        let mut buf = Vec::with_capacity(usize::try_from(len.min(MAX_VALUE_BYTES)).ok()?);
        (&mut self.0).take(len).read_to_end(&mut buf).ok()?;
        (buf.len() as u64 == len).then_some(buf)
    }
}

struct Reader<S> {
    src: S,
    big: bool,
    /// Value bytes read so far, against [`MAX_VALUE_BYTES`].
    spent: u64,
}

impl<S: Source> Reader<S> {
    fn open(mut src: S) -> Option<(Self, u64)> {
        let head = src.read_at(0, 8)?;
        let big = match &head[..4] {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        let r = Reader { src, big, spent: 0 };
        let ifd0 = r.u32_of(&head[4..8]);
        Some((r, ifd0 as u64))
    }

    fn u16_of(&self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32_of(&self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    /// The entries of the directory at `at`: (tag, type, count, the 4
    /// value-or-offset bytes), at most [`MAX_ENTRIES`].
    fn directory(&mut self, at: u64) -> Vec<(u16, u16, u32, [u8; 4])> {
        let Some(n) = self.src.read_at(at, 2).map(|b| self.u16_of(&b)) else {
            return Vec::new();
        };
        let n = (n as u64).min(MAX_ENTRIES);
        let Some(raw) = self.src.read_at(at + 2, 12 * n) else {
            return Vec::new();
        };
        raw.chunks_exact(12)
            .map(|e| {
                (
                    self.u16_of(&e[0..2]),
                    self.u16_of(&e[2..4]),
                    self.u32_of(&e[4..8]),
                    [e[8], e[9], e[10], e[11]],
                )
            })
            .collect()
    }

    /// The value of an entry, converted to little-endian; `None` if it is
    /// malformed or would pass [`MAX_VALUE_BYTES`].
    fn value(
        &mut self,
        field_type: u16,
        count: u32,
        inline: [u8; 4],
        opaque: bool,
    ) -> Option<Vec<u8>> {
        let unit = type_size(field_type)? as u64;
        let len = unit * count as u64;
        if self.spent + len > MAX_VALUE_BYTES {
            return None;
        }
        self.spent += len;
        let raw = if len <= 4 {
            inline[..len as usize].to_vec()
        } else {
            let at = self.u32_of(&inline) as u64;
            self.src.read_at(at, len)?
        };
        if !self.big || unit == 1 || opaque {
            return Some(raw);
        }
        // Rationals are two 4-byte numbers: swap each half.
        let word = if matches!(field_type, 5 | 10) {
            4
        } else {
            unit as usize
        };
        Some(
            raw.chunks_exact(word)
                .flat_map(|w| w.iter().rev().copied())
                .collect(),
        )
    }
}

impl Exif {
    /// Reads a TIFF-structured blob (`II*\0` or `MM\0*`): an EXIF blob or a
    /// whole TIFF file in memory. See [`Exif::read`].
    pub fn parse(bytes: &[u8]) -> Option<Exif> {
        Exif::read(bytes)
    }

    /// Reads IFD0 and its Exif and GPS directories from `src`. Anything
    /// malformed ends the reading of that directory, keeping what was
    /// read, and what may be read is capped (entries, value bytes; one Exif
    /// and one GPS directory): metadata never costs a scan, nor more than a
    /// megabyte.
    pub fn read(src: impl Source) -> Option<Exif> {
        let (mut r, ifd0) = Reader::open(src)?;
        let mut exif = Exif::default();
        let mut subs: Vec<(Ifd, u64)> = Vec::new();
        exif.read_ifd(&mut r, ifd0, Ifd::Primary, &mut subs);
        for (ifd, at) in subs {
            exif.read_ifd(&mut r, at, ifd, &mut Vec::new());
        }
        exif.entries.sort_by_key(|e| (e.ifd, e.tag));
        exif.entries.dedup_by_key(|e| (e.ifd, e.tag));
        Some(exif)
    }

    fn read_ifd<S: Source>(
        &mut self,
        r: &mut Reader<S>,
        at: u64,
        ifd: Ifd,
        subs: &mut Vec<(Ifd, u64)>,
    ) {
        let mut seen = std::collections::HashSet::new();
        for (tag, field_type, count, inline) in r.directory(at) {
            if !seen.insert(tag) {
                continue;
            }
            if ifd == Ifd::Primary {
                let sub = match tag {
                    TAG_EXIF_IFD => Some(Ifd::Exif),
                    TAG_GPS_IFD => Some(Ifd::Gps),
                    _ => None,
                };
                if let Some(sub) = sub {
                    if !subs.iter().any(|(i, _)| *i == sub) {
                        subs.push((sub, r.u32_of(&inline) as u64));
                    }
                }
                if dropped_from_primary(tag) {
                    continue;
                }
            }
            if ifd == Ifd::Exif && matches!(tag, TAG_INTEROP_IFD | TAG_MAKER_NOTE) {
                continue;
            }
            // IPTC-NAA is a byte stream that writers often type as LONG:
            // kept byte for byte, as UNDEFINED.
            let opaque = tag == TAG_IPTC;
            if let Some(value) = r.value(field_type, count, inline, opaque) {
                let (field_type, count) = if opaque {
                    (7, value.len() as u32)
                } else {
                    (field_type, count)
                };
                self.entries.push(Entry {
                    ifd,
                    tag,
                    field_type,
                    count,
                    value,
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value of a SHORT tag.
    pub fn short(&self, ifd: Ifd, tag: u16) -> Option<u16> {
        let e = self
            .entries
            .iter()
            .find(|e| e.ifd == ifd && e.tag == tag && e.field_type == 3)?;
        Some(u16::from_le_bytes(e.value.get(..2)?.try_into().ok()?))
    }

    /// The entries of one directory.
    pub fn ifd(&self, ifd: Ifd) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.ifd == ifd)
    }

    /// These tags plus the ones EXIF requires of a JPEG's: the pixel size in
    /// the Exif directory (when there is one) and YCbCrPositioning (centred,
    /// as the encoder samples chroma).
    pub fn for_jpeg(&self, width: u32, height: u32) -> Exif {
        let mut e = self.clone();
        let mut set = |ifd: Ifd, tag: u16, field_type: u16, value: Vec<u8>| {
            e.entries.retain(|x| !(x.ifd == ifd && x.tag == tag));
            e.entries.push(Entry {
                ifd,
                tag,
                field_type,
                count: 1,
                value,
            });
        };
        set(Ifd::Primary, 531, 3, 1u16.to_le_bytes().to_vec());
        if self.ifd(Ifd::Exif).next().is_some() {
            set(Ifd::Exif, 0xA002, 4, width.to_le_bytes().to_vec());
            set(Ifd::Exif, 0xA003, 4, height.to_le_bytes().to_vec());
        }
        e.entries.sort_by_key(|x| (x.ifd, x.tag));
        e
    }

    /// A little-endian EXIF blob (`II*\0`, IFD0, then the Exif and GPS
    /// directories, each followed by its out-of-line values), as PNG's
    /// `eXIf` and JPEG's APP1 (after `Exif\0\0`) hold it.
    pub fn to_blob(&self) -> Vec<u8> {
        let primary: Vec<&Entry> = self.ifd(Ifd::Primary).collect();
        let exif: Vec<&Entry> = self.ifd(Ifd::Exif).collect();
        let gps: Vec<&Entry> = self.ifd(Ifd::Gps).collect();
        let ifd_len = |entries: usize, extra: usize| 2 + 12 * (entries + extra) + 4;
        let data_len = |entries: &[&Entry]| -> usize {
            entries
                .iter()
                .map(|e| {
                    if e.value.len() > 4 {
                        (e.value.len() + 1) & !1
                    } else {
                        0
                    }
                })
                .sum()
        };
        let subs = usize::from(!exif.is_empty()) + usize::from(!gps.is_empty());
        let p0 = 8;
        let p_exif = p0 + ifd_len(primary.len(), subs) + data_len(&primary);
        let p_gps = p_exif
            + if exif.is_empty() {
                0
            } else {
                ifd_len(exif.len(), 0) + data_len(&exif)
            };
        let mut out = b"II*\0".to_vec();
        out.extend_from_slice(&(p0 as u32).to_le_bytes());
        let mut pointers = Vec::new();
        if !exif.is_empty() {
            pointers.push((TAG_EXIF_IFD, p_exif as u32));
        }
        if !gps.is_empty() {
            pointers.push((TAG_GPS_IFD, p_gps as u32));
        }
        write_ifd(&mut out, &primary, &pointers);
        if !exif.is_empty() {
            write_ifd(&mut out, &exif, &[]);
        }
        if !gps.is_empty() {
            write_ifd(&mut out, &gps, &[]);
        }
        out
    }
}

/// The raw value of `tag` in the first directory of a TIFF-structured
/// source (a TIFF's XMP or ICC profile), whatever its type, up to a
/// megabyte.
pub fn primary_tag_bytes(src: impl Source, tag: u16) -> Option<Vec<u8>> {
    let (mut r, ifd0) = Reader::open(src)?;
    let (_, field_type, count, inline) = r.directory(ifd0).into_iter().find(|e| e.0 == tag)?;
    r.value(field_type, count, inline, true)
}

/// Appends one directory at `out.len()` (tags ascending, `pointers` as LONG
/// entries among them), no next directory, then its out-of-line values.
fn write_ifd(out: &mut Vec<u8>, entries: &[&Entry], pointers: &[(u16, u32)]) {
    let start = out.len();
    let n = entries.len() + pointers.len();
    let mut data_at = start + 2 + 12 * n + 4;
    struct Row<'a> {
        tag: u16,
        field_type: u16,
        count: u32,
        inline: [u8; 4],
        outside: Option<&'a [u8]>,
    }
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(n);
    for e in entries {
        let mut inline = [0u8; 4];
        let outside = if e.value.len() <= 4 {
            inline[..e.value.len()].copy_from_slice(&e.value);
            None
        } else {
            inline = (data_at as u32).to_le_bytes();
            data_at += (e.value.len() + 1) & !1;
            Some(e.value.as_slice())
        };
        rows.push(Row {
            tag: e.tag,
            field_type: e.field_type,
            count: e.count,
            inline,
            outside,
        });
    }
    for &(tag, at) in pointers {
        rows.push(Row {
            tag,
            field_type: 4,
            count: 1,
            inline: at.to_le_bytes(),
            outside: None,
        });
    }
    rows.sort_by_key(|r| r.tag);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    for r in &rows {
        out.extend_from_slice(&r.tag.to_le_bytes());
        out.extend_from_slice(&r.field_type.to_le_bytes());
        out.extend_from_slice(&r.count.to_le_bytes());
        out.extend_from_slice(&r.inline);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    for r in rows {
        if let Some(v) = r.outside {
            out.extend_from_slice(v);
            if v.len() % 2 == 1 {
                out.push(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ifd: Ifd, tag: u16, field_type: u16, count: u32, value: &[u8]) -> Entry {
        Entry {
            ifd,
            tag,
            field_type,
            count,
            value: value.to_vec(),
        }
    }

    #[test]
    fn a_blob_reads_back_what_was_written() {
        let exif = Exif {
            entries: vec![
                entry(Ifd::Primary, 270, 2, 12, b"Box 3, 1921\0"),
                entry(Ifd::Primary, TAG_ORIENTATION, 3, 1, &6u16.to_le_bytes()),
                entry(Ifd::Exif, 36867, 2, 20, b"1921:05:04 10:00:00\0"),
                entry(
                    Ifd::Gps,
                    2,
                    5,
                    3,
                    &[
                        48, 0, 0, 0, 1, 0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                    ],
                ),
            ],
        };
        let back = Exif::parse(&exif.to_blob()).unwrap();
        assert_eq!(back, exif);
        assert_eq!(back.short(Ifd::Primary, TAG_ORIENTATION), Some(6));
    }

    #[test]
    fn pixel_layout_tags_are_dropped_and_big_endian_is_read() {
        // A big-endian TIFF-like structure: width (dropped), description,
        // orientation, a rational (x resolution, kept).
        let mut b = b"MM\0*".to_vec();
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        let mut row = |tag: u16, ty: u16, count: u32, v: [u8; 4]| {
            b.extend_from_slice(&tag.to_be_bytes());
            b.extend_from_slice(&ty.to_be_bytes());
            b.extend_from_slice(&count.to_be_bytes());
            b.extend_from_slice(&v);
        };
        row(256, 3, 1, [0, 64, 0, 0]);
        row(270, 2, 4, *b"abc\0");
        row(274, 3, 1, [0, 8, 0, 0]);
        row(282, 5, 1, 62u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&300u32.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        let e = Exif::parse(&b).unwrap();
        let tags: Vec<u16> = e.entries.iter().map(|e| e.tag).collect();
        assert_eq!(tags, [270, 274, 282]);
        assert_eq!(e.short(Ifd::Primary, TAG_ORIENTATION), Some(8));
        let xres = &e.entries[2].value;
        assert_eq!(xres[..], [44, 1, 0, 0, 1, 0, 0, 0], "300/1 little-endian");
    }

    #[test]
    fn garbage_is_no_exif_and_truncation_keeps_what_was_read() {
        assert_eq!(Exif::parse(b"not exif"), None);
        let exif = Exif {
            entries: vec![
                entry(Ifd::Primary, 270, 2, 6, b"hello\0"),
                entry(Ifd::Primary, 315, 2, 8, b"someone\0"),
            ],
        };
        let blob = exif.to_blob();
        // Cut inside the second value: the first entry survives.
        let cut = Exif::parse(&blob[..blob.len() - 3]).unwrap();
        assert_eq!(cut.entries.len(), 1);
    }

    /// A little-endian structure of one IFD0 with `entries` (tag, type,
    /// count, value-or-offset), then `tail` bytes.
    fn blob(entries: &[(u16, u16, u32, u32)], tail: &[u8]) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&8u32.to_le_bytes());
        b.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for &(tag, ty, count, v) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn hostile_directories_cost_bounded_time_and_memory() {
        // 65,535 Exif pointers, all to IFD0 itself: one sub-directory read.
        let selfish = blob(&vec![(34665, 4, 1, 8); 65535], &[]);
        let t = std::time::Instant::now();
        let e = Exif::parse(&selfish).unwrap();
        assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
        assert!(e.entries.len() <= 2 * MAX_ENTRIES as usize);
        // Many tags all pointing at one 512 KB value: the value bytes read
        // stop at the cap.
        let head = 8 + 2 + 12 * 64 + 4;
        let big: Vec<(u16, u16, u32, u32)> = (0..64)
            .map(|i| (40000 + i, 7, 512 * 1024, head as u32))
            .collect();
        let e = Exif::parse(&blob(&big, &vec![7u8; 512 * 1024])).unwrap();
        let bytes: usize = e.entries.iter().map(|x| x.value.len()).sum();
        assert!(bytes as u64 <= MAX_VALUE_BYTES, "{bytes}");
        // Offsets at the top of the 32-bit range: no overflow, no panic.
        let far = blob(
            &[(270, 2, 100, u32::MAX - 2), (34665, 4, 1, u32::MAX - 1)],
            &[],
        );
        assert_eq!(Exif::parse(&far).unwrap().entries.len(), 0);
    }

    #[test]
    fn iptc_typed_as_long_is_kept_byte_for_byte() {
        // Big-endian file, IPTC-NAA (33723) as 2 LONGs: the 8 bytes are a
        // byte stream and must not be swapped.
        let mut b = b"MM\0*".to_vec();
        b.extend_from_slice(&8u32.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&33723u16.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(&2u32.to_be_bytes());
        b.extend_from_slice(&26u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(b"\x1c\x02\x78\x00\x02Hi");
        b.push(0);
        let e = Exif::parse(&b).unwrap();
        assert_eq!(e.entries[0].value, b"\x1c\x02\x78\x00\x02Hi\0");
        assert_eq!((e.entries[0].field_type, e.entries[0].count), (7, 8));
    }
}
