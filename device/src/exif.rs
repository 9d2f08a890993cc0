//! EXIF carried from an input to its output: read from an EXIF blob (PNG
//! `eXIf`, JPEG APP1) or from a TIFF file's own first directory (the same
//! structure), rewritten as a little-endian EXIF blob for PNG and JPEG
//! outputs, or as tags of the output's directory for TIFF ones.
//!
//! What is dropped, because the colourized file makes it false or would
//! break it: the tags that describe the input's pixel layout (size, bits,
//! photometric interpretation, strips, tiles, compression), its thumbnail
//! (IFD1: a gray picture of a colour image), its `Software` (the output's is
//! this tool, written by the encoder), its XMP and ICC tags (carried on
//! their own), the interoperability directory and the maker note (whose
//! private offsets point into the old file). Everything else of IFD0, the
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

struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The value of the entry at `at`, converted to little-endian.
    fn value(&self, at: usize, field_type: u16, count: u32) -> Option<Vec<u8>> {
        let unit = type_size(field_type)?;
        let len = unit.checked_mul(count as usize)?;
        let start = if len <= 4 {
            at + 8
        } else {
            self.u32(at + 8)? as usize
        };
        let raw = self.bytes.get(start..start.checked_add(len)?)?;
        if !self.big || unit == 1 {
            return Some(raw.to_vec());
        }
        // Rationals are two 4-byte numbers: swap each half.
        let word = if matches!(field_type, 5 | 10) {
            4
        } else {
            unit
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
    /// whole TIFF file. Anything malformed ends the reading of that
    /// directory, keeping what was read: metadata never costs a scan.
    pub fn parse(bytes: &[u8]) -> Option<Exif> {
        let big = match bytes.get(..4)? {
            b"II*\0" => false,
            b"MM\0*" => true,
            _ => return None,
        };
        let r = Reader { bytes, big };
        let mut exif = Exif::default();
        let ifd0 = r.u32(4)? as usize;
        let mut subs = Vec::new();
        exif.read_ifd(&r, ifd0, Ifd::Primary, &mut subs);
        for (ifd, at) in subs {
            exif.read_ifd(&r, at, ifd, &mut Vec::new());
        }
        exif.entries.sort_by_key(|e| (e.ifd, e.tag));
        exif.entries.dedup_by_key(|e| (e.ifd, e.tag));
        Some(exif)
    }

    fn read_ifd(&mut self, r: &Reader<'_>, at: usize, ifd: Ifd, subs: &mut Vec<(Ifd, usize)>) {
        let Some(n) = r.u16(at) else { return };
        for i in 0..n as usize {
            let e = at + 2 + 12 * i;
            let (Some(tag), Some(field_type), Some(count)) = (r.u16(e), r.u16(e + 2), r.u32(e + 4))
            else {
                return;
            };
            if ifd == Ifd::Primary {
                match tag {
                    TAG_EXIF_IFD => {
                        if let Some(p) = r.u32(e + 8) {
                            subs.push((Ifd::Exif, p as usize));
                        }
                    }
                    TAG_GPS_IFD => {
                        if let Some(p) = r.u32(e + 8) {
                            subs.push((Ifd::Gps, p as usize));
                        }
                    }
                    _ => {}
                }
                if dropped_from_primary(tag) {
                    continue;
                }
            }
            if ifd == Ifd::Exif && matches!(tag, TAG_INTEROP_IFD | TAG_MAKER_NOTE) {
                continue;
            }
            if let Some(value) = r.value(e, field_type, count) {
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

/// The raw value of `tag` in the first directory of a TIFF-structured blob
/// (a TIFF's XMP or ICC profile), whatever its type.
pub fn primary_tag_bytes(bytes: &[u8], tag: u16) -> Option<Vec<u8>> {
    let big = match bytes.get(..4)? {
        b"II*\0" => false,
        b"MM\0*" => true,
        _ => return None,
    };
    let r = Reader { bytes, big };
    let at = r.u32(4)? as usize;
    let n = r.u16(at)?;
    (0..n as usize).find_map(|i| {
        let e = at + 2 + 12 * i;
        if r.u16(e)? != tag {
            return None;
        }
        let (ty, count) = (r.u16(e + 2)?, r.u32(e + 4)?);
        let len = type_size(ty)?.checked_mul(count as usize)?;
        let start = if len <= 4 {
            e + 8
        } else {
            r.u32(e + 8)? as usize
        };
        Some(bytes.get(start..start.checked_add(len)?)?.to_vec())
    })
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
}
