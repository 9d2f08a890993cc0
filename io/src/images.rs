//! Image files in: header checks against the decode limits, decoding with
//! the metadata an archive keeps. L* planes: [`crate::lstar`]; outputs:
//! [`crate::output`].

use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::lstar::{is_16_bit, l_plane, LPlane};

/// Caps on what a decoder may be asked to produce, checked against the
/// file's header before any pixel buffer is allocated, so a decompression
/// bomb (a small file declaring 100000x100000) fails fast in bounded memory.
///
/// The defaults ([`DecodeLimits::DEFAULT`]) are a bomb guard, not a
/// judgement of what fits: a 2560x1600 frame is 4 Mpixel, an A4 master at
/// 1200 dpi (9920x14032) 139 Mpixel, well inside 1 Gpixel. Whether an
/// image fits in memory is the memory budget's decision ([`crate::memory`]
/// estimates each image's need from the same header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    /// Widest image accepted, in pixels. Default 65535.
    pub max_width: u32,
    /// Tallest image accepted, in pixels. Default 65535.
    pub max_height: u32,
    /// Most pixels (width x height) accepted. Default 1,000,000,000 (1 Gpixel).
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate: the decoded image (e.g. 3 bytes a
    /// pixel for 8-bit RGB, 8 for 16-bit RGBA) plus the decoder's own
    /// buffers. Default 8 GiB (1 Gpixel of 16-bit RGBA).
    pub max_decoded_bytes: u64,
}

impl DecodeLimits {
    /// The documented defaults: 65535 x 65535, 1 Gpixel, 8 GiB decoded.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_width: 65535,
        max_height: 65535,
        max_pixels: 1_000_000_000,
        max_decoded_bytes: 8 << 30,
    };

    /// No caps at all (tests and trusted inputs only).
    pub const UNLIMITED: DecodeLimits = DecodeLimits {
        max_width: u32::MAX,
        max_height: u32::MAX,
        max_pixels: u64::MAX,
        max_decoded_bytes: u64::MAX,
    };

    /// Checks a header's dimensions and decoded size; the error says which
    /// limit (and which flag raises it).
    pub fn check(&self, width: u32, height: u32, decoded_bytes: u64) -> Result<()> {
        let pixels = width as u64 * height as u64;
        if pixels > self.max_pixels {
            bail!(
                "{width}x{height} is over the {} limit (--max-pixels {})",
                mpixel(self.max_pixels),
                self.max_pixels
            );
        }
        if width > self.max_width {
            bail!(
                "{width}x{height} is over the width limit of {} pixels (--max-width)",
                self.max_width
            );
        }
        if height > self.max_height {
            bail!(
                "{width}x{height} is over the height limit of {} pixels (--max-height)",
                self.max_height
            );
        }
        if decoded_bytes > self.max_decoded_bytes {
            bail!(
                "{width}x{height} needs {} MiB decoded, over the {} MiB limit (--max-decoded-mib)",
                decoded_bytes.div_ceil(1 << 20),
                self.max_decoded_bytes >> 20
            );
        }
        if width == 0 || height == 0 {
            bail!("{width}x{height}: the image is empty");
        }
        Ok(())
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits::DEFAULT
    }
}

fn mpixel(pixels: u64) -> String {
    if pixels % 1_000_000_000 == 0 {
        format!("{} Gpixel", pixels / 1_000_000_000)
    } else if pixels % 1_000_000 == 0 {
        format!("{} Mpixel", pixels / 1_000_000)
    } else {
        format!("{pixels} pixel")
    }
}

/// What an input says about itself besides its pixels, carried to its
/// output (`output::encode`): the raw ICC profile, the EXIF tags worth
/// keeping ([`crate::exif`]; a TIFF input's own descriptive tags count) and
/// the XMP packet. Unreadable metadata counts as absent: it never costs a
/// scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub icc: Option<Vec<u8>>,
    pub exif: Option<crate::exif::Exif>,
    pub xmp: Option<Vec<u8>>,
}

/// Decodes an image held in memory (format from its content), within
/// `limits`. Errors do not name a file; [`open`] adds the path.
pub fn decode_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<DynamicImage> {
    decode_bytes_with_metadata(bytes, limits).map(|(img, _)| img)
}

/// [`decode_bytes`], with the image's [`Metadata`].
pub fn decode_bytes_with_metadata(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Metadata)> {
    decode_reader(ImageReader::new(Cursor::new(bytes)), limits)
}

/// The one decoder: guess the format from the content, read the header,
/// check [`DecodeLimits`], only then decode.
fn decode_reader<R: BufRead + Seek>(
    reader: ImageReader<R>,
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Metadata)> {
    let mut reader = reader.with_guessed_format().context("can not read")?;
    let (mut tiff_exif, mut tiff_xmp, mut tiff_icc) = (None, None, None);
    match reader.format() {
        None => bail!("not a PNG, JPEG or TIFF image (the content is neither)"),
        Some(ImageFormat::Jpeg) => {
            // The JPEG decoder fills a cut-off scan with gray instead of
            // failing: refuse a JPEG without its end marker.
            let mut inner = reader.into_inner();
            let complete = jpeg_has_end_marker(&mut inner).context("can not read")?;
            ensure!(
                complete,
                "the JPEG has no end marker after its image data: the file is truncated"
            );
            reader = ImageReader::with_format(inner, ImageFormat::Jpeg);
        }
        Some(ImageFormat::Png) => {
            let mut inner = reader.into_inner();
            check_png_header(&mut inner, limits)?;
            reader = ImageReader::with_format(inner, ImageFormat::Png);
        }
        Some(ImageFormat::Tiff) => {
            // A TIFF's descriptive tags (description, date, orientation, its
            // Exif directory) are in its own first directory: the file is
            // its EXIF.
            // Read piece by piece, capped: a master can be gigabytes.
            let mut inner = crate::exif::Seekable(reader.into_inner());
            tiff_exif = crate::exif::Exif::read(&mut inner).filter(|e| !e.is_empty());
            // The tiff crate reads no XMP or ICC stored as UNDEFINED, as
            // many writers store them.
            tiff_xmp = crate::exif::primary_tag_bytes(&mut inner, 700);
            tiff_icc = crate::exif::primary_tag_bytes(&mut inner, 34675);
            let mut inner = inner.0;
            inner.rewind().context("can not read")?;
            reader = ImageReader::with_format(inner, ImageFormat::Tiff);
        }
        Some(_) => {}
    }
    let mut decoder = checked_decoder(reader, limits)?;
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.max_width);
    lim.max_image_height = Some(limits.max_height);
    lim.max_alloc = Some(
        limits
            .max_decoded_bytes
            .saturating_sub(decoder.total_bytes()),
    );
    decoder.set_limits(lim).map_err(decode_error)?;
    let exif = decoder.exif_metadata().ok().flatten().and_then(|blob| {
        let tiff = blob.strip_prefix(b"Exif\0\0").unwrap_or(&blob);
        crate::exif::Exif::parse(tiff).filter(|e| !e.is_empty())
    });
    let meta = Metadata {
        icc: decoder.icc_profile().ok().flatten().or(tiff_icc),
        exif: exif.or(tiff_exif),
        xmp: decoder.xmp_metadata().ok().flatten().or(tiff_xmp),
    };
    // zune-jpeg (the JPEG decoder) panics on some corrupt scans (found by
    // fuzz/convert_mjpeg): a bad file must be an error, never a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_pixels(decoder)))
        .map_err(|_| anyhow::anyhow!("corrupt image data (the decoder failed internally)"))?
        .map_err(decode_error)
        .map(|img| (img, meta))
}

/// A PNG's width and height straight from IHDR, checked against `limits`
/// before the PNG decoder sees them: on 32-bit targets it refuses a bomb's
/// size itself, with a vaguer error. Rewinds `r`.
pub(crate) fn check_png_header<R: Read + Seek>(r: &mut R, limits: &DecodeLimits) -> Result<()> {
    if let Some((width, height)) = png_dimensions(r).context("can not read")? {
        limits.check(width, height, 0)?;
    }
    Ok(())
}

/// The decoder for `reader` once it has read the header, with the image's
/// width, height and decoded size checked against `limits` (by us, for a
/// clearer message than the decoder's). The allocation cap bounds the
/// decoder's own buffers (PNG chunks, TIFF strips) while it reads the
/// header; the caller sets the limits for the pixels.
pub(crate) fn checked_decoder<'a, R: BufRead + Seek + 'a>(
    mut reader: ImageReader<R>,
    limits: &DecodeLimits,
) -> Result<impl ImageDecoder + 'a> {
    let mut lim = image::Limits::default();
    lim.max_image_width = None;
    lim.max_image_height = None;
    lim.max_alloc = Some(limits.max_decoded_bytes);
    reader.limits(lim);
    let decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    limits.check(width, height, decoder.total_bytes())?;
    Ok(decoder)
}

/// A PNG's width and height from its IHDR chunk: None if the file is too
/// short, IHDR is not first or its CRC is wrong (the decoder then says so).
/// Rewinds `r`.
fn png_dimensions<R: Read + Seek>(r: &mut R) -> std::io::Result<Option<(u32, u32)>> {
    let start = r.stream_position()?;
    // Signature, length, "IHDR", 13 bytes of data, CRC.
    let mut head = [0u8; 33];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    r.seek(std::io::SeekFrom::Start(start))?;
    if got < head.len() || &head[12..16] != b"IHDR" {
        return Ok(None);
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if png_crc32(&head[12..29]) != be(&head[29..33]) {
        return Ok(None);
    }
    Ok(Some((be(&head[16..20]), be(&head[20..24]))))
}

/// The CRC-32 of a PNG chunk (its type and data), as the chunk stores it.
pub fn png_crc32(type_and_data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in type_and_data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Whether an EOI marker (FF D9) follows the first start-of-scan (FF DA):
/// inside entropy-coded data an FF byte is always stuffed (FF 00) or a
/// marker, so a file cut anywhere in its scans has none; an EXIF thumbnail's
/// EOI comes before the first scan and does not count. Rewinds `r`.
fn jpeg_has_end_marker<R: Read + Seek>(r: &mut R) -> std::io::Result<bool> {
    let start = r.stream_position()?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut prev, mut in_scan, mut found) = (0u8, false, false);
    'read: loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if prev == 0xFF {
                if b == 0xDA {
                    in_scan = true;
                } else if b == 0xD9 && in_scan {
                    found = true;
                    break 'read;
                }
            }
            prev = b;
        }
    }
    r.seek(std::io::SeekFrom::Start(start))?;
    Ok(found)
}

fn decode_error(e: image::ImageError) -> anyhow::Error {
    match e {
        image::ImageError::Limits(l) => {
            anyhow::anyhow!("the decoder needs more memory than the limits allow: {l}")
        }
        image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow::anyhow!("the file ends too early (truncated?)")
        }
        e => anyhow::anyhow!("not a readable PNG, JPEG or TIFF image: {e}"),
    }
}

/// Decodes an image file (format from its content, not its name) within
/// `limits`; errors start with the path.
pub fn open(path: &Path, limits: &DecodeLimits) -> Result<DynamicImage> {
    open_with_metadata(path, limits).map(|(img, _)| img)
}

/// [`open`], with the file's [`Metadata`].
pub fn open_with_metadata(path: &Path, limits: &DecodeLimits) -> Result<(DynamicImage, Metadata)> {
    decode_file_with_metadata(path, limits).with_context(|| path.display().to_string())
}

/// [`open_with_metadata`] for a caller that names the file itself: errors
/// do not. Read as a stream, so the file's bytes are never all in memory
/// beside its pixels.
pub fn decode_file_with_metadata(
    path: &Path,
    limits: &DecodeLimits,
) -> Result<(DynamicImage, Metadata)> {
    let file = std::fs::File::open(path).context("can not open")?;
    decode_reader(ImageReader::new(BufReader::new(file)), limits)
}

thread_local! {
    /// The pixel buffer of the last image this thread decoded and gave back
    /// ([`recycle`]): the next decode reuses it instead of mapping and
    /// faulting in fresh pages (12 MB for a 2560x1600 photo).
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Gives a decoded image's pixel buffer back for this thread's next decode
/// (8-bit images; others are dropped).
pub fn recycle(img: DynamicImage) {
    if !is_16_bit(&img) {
        let buf = img.into_bytes();
        SPARE.with(|s| {
            let old = s.take();
            s.set(if buf.capacity() >= old.capacity() {
                buf
            } else {
                old
            });
        });
    }
}

/// Frees this thread's spare pixel buffer ([`recycle`]) if it holds more
/// than `keep` bytes: a batch under a memory budget keeps a photo's buffer
/// for the next photo, not a master's.
pub fn trim_spare(keep: usize) {
    SPARE.with(|s| {
        let buf = s.take();
        if buf.capacity() <= keep {
            s.set(buf);
        }
    });
}

/// Bytes of this thread's spare pixel buffer ([`recycle`]).
pub fn spare_bytes() -> usize {
    SPARE.with(|s| {
        let buf = s.take();
        let n = buf.capacity();
        s.set(buf);
        n
    })
}

/// [`DynamicImage::from_decoder`], 8-bit images into this thread's spare
/// buffer ([`recycle`]).
fn read_pixels(decoder: impl ImageDecoder) -> image::ImageResult<DynamicImage> {
    let (w, h) = decoder.dimensions();
    let color = decoder.color_type();
    if !matches!(
        color,
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8
    ) {
        return DynamicImage::from_decoder(decoder);
    }
    // Only growth is zeroed: the decoder overwrites every byte it is given.
    let mut buf = SPARE.with(|s| s.take());
    let size = decoder.total_bytes() as usize;
    if buf.len() < size {
        buf.resize(size, 0);
    }
    buf.truncate(size);
    decoder.read_image(&mut buf)?;
    let sized = "buffer sized by the decoder";
    Ok(match color {
        ColorType::L8 => {
            DynamicImage::ImageLuma8(image::ImageBuffer::from_raw(w, h, buf).expect(sized))
        }
        ColorType::La8 => {
            DynamicImage::ImageLumaA8(image::ImageBuffer::from_raw(w, h, buf).expect(sized))
        }
        ColorType::Rgb8 => {
            DynamicImage::ImageRgb8(image::ImageBuffer::from_raw(w, h, buf).expect(sized))
        }
        _ => DynamicImage::ImageRgba8(image::ImageBuffer::from_raw(w, h, buf).expect(sized)),
    })
}

/// Decodes a file straight to its L* plane (the decoded image is dropped
/// before this returns).
pub fn load_l(path: &Path, limits: &DecodeLimits) -> Result<LPlane> {
    Ok(l_plane(&open(path, limits)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG chunk: length, type, data, CRC-32.
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = png_crc32(&out[4..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// A tiny PNG declaring `w x h` 8-bit RGB, with a stub IDAT.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(chunk(b"IHDR", &ihdr));
        out.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00]));
        out.extend(chunk(b"IEND", &[]));
        out
    }

    #[test]
    fn gray_jpegs_decode_luma_only_and_take_l_from_the_gray_table() {
        use image::ImageEncoder as _;
        // One component: zune-jpeg decodes only it (no chroma, no colour
        // conversion) and L* comes from the exact 256-entry gray table.
        let gray = image::GrayImage::from_fn(37, 21, |x, y| image::Luma([(x * 7 + y * 11) as u8]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .write_image(gray.as_raw(), 37, 21, image::ExtendedColorType::L8)
            .unwrap();
        let img = decode_bytes(&jpeg, &DecodeLimits::DEFAULT).unwrap();
        let DynamicImage::ImageLuma8(decoded) = &img else {
            panic!("a gray JPEG decoded as {:?}", img.color());
        };
        let plane = l_plane(&img);
        for (l, v) in plane.l.iter().zip(decoded.as_raw()) {
            assert_eq!(*l, colorize_shared::lab::gray8_to_l(*v));
        }
        // A recycled buffer serves the next decode, whatever its size.
        let want = decoded.as_raw().clone();
        recycle(img);
        let again = decode_bytes(&jpeg, &DecodeLimits::DEFAULT).unwrap();
        assert_eq!(again.as_bytes(), want.as_slice());
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = png_header(100_000, 100_000);
        let start = std::time::Instant::now();
        let e = decode_bytes(&bomb, &DecodeLimits::default()).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("100000x100000 is over the 1 Gpixel limit (--max-pixels"),
            "{msg}"
        );
        eprintln!("bomb refused in {:?}", start.elapsed());
        // Each limit on its own, with its own message.
        let small = png_header(300, 200);
        let l = DecodeLimits {
            max_width: 299,
            ..DecodeLimits::DEFAULT
        };
        assert!(format!("{:#}", decode_bytes(&small, &l).unwrap_err()).contains("--max-width"));
        let l = DecodeLimits {
            max_height: 199,
            ..DecodeLimits::DEFAULT
        };
        assert!(format!("{:#}", decode_bytes(&small, &l).unwrap_err()).contains("--max-height"));
        let l = DecodeLimits {
            max_decoded_bytes: 300 * 200 * 3 - 1,
            ..DecodeLimits::DEFAULT
        };
        let msg = format!("{:#}", decode_bytes(&small, &l).unwrap_err());
        assert!(msg.contains("--max-decoded-mib"), "{msg}");
        // Within the limits the header passes and the stub data fails later.
        let msg = format!(
            "{:#}",
            decode_bytes(&small, &DecodeLimits::default()).unwrap_err()
        );
        assert!(!msg.contains("limit"), "{msg}");
    }

    #[test]
    fn real_images_decode_within_limits() {
        let img =
            image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 9]));
        for format in [
            image::ImageFormat::Png,
            image::ImageFormat::Tiff,
            image::ImageFormat::Jpeg,
        ] {
            let mut buf = Cursor::new(Vec::new());
            img.write_to(&mut buf, format).unwrap();
            let got = decode_bytes(buf.get_ref(), &DecodeLimits::default()).unwrap();
            if format == image::ImageFormat::Jpeg {
                assert_eq!((got.width(), got.height()), (7, 5)); // lossy
            } else {
                assert_eq!(got.to_rgb8(), img, "{format:?}");
            }
            let exact = DecodeLimits {
                max_width: 7,
                max_height: 5,
                max_pixels: 35,
                max_decoded_bytes: 35 * 3 + (1 << 16),
            };
            assert!(decode_bytes(buf.get_ref(), &exact).is_ok(), "{format:?}");
            let under = DecodeLimits {
                max_pixels: 34,
                ..exact
            };
            let msg = format!("{:#}", decode_bytes(buf.get_ref(), &under).unwrap_err());
            assert!(
                msg.contains("7x5 is over the 34 pixel limit"),
                "{format:?}: {msg}"
            );
        }
        for junk in [&b""[..], b"GIF89a", b"hello world, not an image"] {
            let msg = format!(
                "{:#}",
                decode_bytes(junk, &DecodeLimits::default()).unwrap_err()
            );
            assert!(msg.contains("PNG, JPEG or TIFF"), "{msg}");
        }
    }
}
