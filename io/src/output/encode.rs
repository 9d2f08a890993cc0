//! One encoder per format (PNG, JPEG, TIFF), fed band by band, each output
//! carrying the provenance note, the XMP declaration and the input's kept
//! metadata.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use image::ImageEncoder as _;

use super::durable::{phase_tracing, stage_with, write_in_halves, Staged};
use super::png_rows;
use crate::exif;
use crate::images::Metadata;
use crate::xmp;

/// Output file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    Png,
    #[cfg_attr(feature = "clap", value(alias = "jpg"))]
    Jpeg,
    #[cfg_attr(feature = "clap", value(alias = "tif"))]
    Tiff,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Jpeg => "jpg",
            Format::Tiff => "tiff",
        }
    }
}

/// JPEG quality of colourized output: high, since the chroma is smooth and
/// the detail all comes from the original's L*.
const JPEG_QUALITY: u8 = 92;

/// Interleaved RGB samples of an output, 8 or 16 bits.
#[derive(Clone, Copy, Debug)]
pub enum Pixels<'a> {
    Rgb8(&'a [u8]),
    Rgb16(&'a [u16]),
}

impl Pixels<'_> {
    fn samples(&self) -> usize {
        match self {
            Pixels::Rgb8(p) => p.len(),
            Pixels::Rgb16(p) => p.len(),
        }
    }
}

/// A band of rows for an encoder to fill: interleaved RGB, 8 or 16 bits.
#[derive(Debug)]
pub enum BandMut<'a> {
    Rgb8(&'a mut [u8]),
    Rgb16(&'a mut [u16]),
}

/// Fills the band of rows starting at the given row: `fill(y0, band)`
/// writes rows `y0 .. y0 + n`, `n` being the band's length over `3 * width`.
pub type Fill<'f> = dyn FnMut(usize, BandMut<'_>) -> Result<()> + 'f;

/// Rows per PNG band: the band's RGB stays in the L2 cache.
const PNG_BAND_ROWS: usize = colorize_shared::recombine::BAND_ROWS;

/// Encodes `rgb` (interleaved sRGB8) into `out`: [`encode_pixels`].
pub fn encode(
    out: &mut Vec<u8>,
    format: Format,
    width: usize,
    height: usize,
    rgb: &[u8],
    provenance: &str,
    meta: &Metadata,
) -> Result<()> {
    encode_pixels(
        out,
        format,
        width,
        height,
        Pixels::Rgb8(rgb),
        provenance,
        meta,
    )
}

/// Encodes whole-frame `pixels` into `out`, cleared first: its capacity is
/// kept, so a camera or box loop reuses one buffer. [`encode_bands`] with
/// the bands copied from `pixels`, so the bytes are those of the streaming
/// path.
pub fn encode_pixels(
    out: &mut Vec<u8>,
    format: Format,
    width: usize,
    height: usize,
    pixels: Pixels<'_>,
    provenance: &str,
    meta: &Metadata,
) -> Result<()> {
    anyhow::ensure!(
        pixels.samples() == 3 * width * height,
        "RGB buffer has {} samples, {width}x{height} needs {}",
        pixels.samples(),
        3 * width * height
    );
    out.clear();
    let sixteen = matches!(pixels, Pixels::Rgb16(_));
    encode_bands(
        &mut io::Cursor::new(out),
        format,
        (width, height, sixteen),
        provenance,
        meta,
        &mut copy_from(pixels, width),
    )
}

/// A [`Fill`] that copies the bands out of whole-frame `pixels`.
fn copy_from(
    pixels: Pixels<'_>,
    width: usize,
) -> impl FnMut(usize, BandMut<'_>) -> Result<()> + '_ {
    move |y0, band| {
        let at = 3 * width * y0;
        match (pixels, band) {
            (Pixels::Rgb8(src), BandMut::Rgb8(dst)) => {
                dst.copy_from_slice(&src[at..at + dst.len()])
            }
            (Pixels::Rgb16(src), BandMut::Rgb16(dst)) => {
                dst.copy_from_slice(&src[at..at + dst.len()])
            }
            _ => bail!("8- and 16-bit samples mixed"),
        }
        Ok(())
    }
}

/// Encodes a `width x height` image of 8- or 16-bit (`sixteen`) RGB into
/// `out`, asking `fill` for its rows band by band, top to bottom: PNG in
/// bands of 16 rows streamed through the deflater, TIFF one strip at a
/// time, so no full-frame buffer exists; JPEG (8-bit only) needs the whole
/// frame and collects the bands first. Every output carries `provenance`
/// (PNG `Software`, JPEG comment, TIFF `Software`), the XMP declaration
/// merged into the input's XMP, and the input's ICC profile and kept EXIF
/// tags from `meta` ([`crate::exif`]).
pub fn encode_bands<W: Write + io::Seek>(
    out: &mut W,
    format: Format,
    (width, height, sixteen): (usize, usize, bool),
    provenance: &str,
    meta: &Metadata,
    fill: &mut Fill<'_>,
) -> Result<()> {
    anyhow::ensure!(
        width > 0 && height > 0 && u32::try_from(width.max(height)).is_ok(),
        "can not encode a {width}x{height} image"
    );
    let (w, h) = (width as u32, height as u32);
    let xmp = xmp::merged(provenance, meta.xmp.as_deref());
    let exif = meta.exif.as_ref().filter(|e| !e.is_empty());
    match format {
        Format::Png => {
            let mut info = png::Info::with_size(w, h);
            info.icc_profile = meta.icc.as_deref().map(Into::into);
            info.exif_metadata = exif.map(|e| e.to_blob().into());
            // Everything up to the image data from the png crate, into
            // memory (its writer ends the file with IEND when dropped);
            // the image data ours, streamed ([`png_rows`]).
            let mut head = Vec::new();
            let mut enc = png::Encoder::with_info(&mut head, info)?;
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(if sixteen {
                png::BitDepth::Sixteen
            } else {
                png::BitDepth::Eight
            });
            // Still lossless: fdeflate with adaptive row filters encodes a
            // 2560x1600 frame ~30x faster than the default zlib level 6, for
            // files ~25% larger (numbers in BENCHMARKS.md); a Pi Zero would
            // spend longer deflating than colourizing otherwise.
            enc.set_compression(png::Compression::Fast);
            enc.add_itxt_chunk("Software".into(), provenance.into())?;
            // Uncompressed, as the XMP spec asks for PNG.
            enc.add_itxt_chunk("XML:com.adobe.xmp".into(), xmp)?;
            enc.write_header()?.finish()?;
            let (head, iend) = head.split_at(head.len() - 12);
            ensure!(&iend[4..8] == b"IEND", "unexpected PNG header layout");
            out.write_all(head)?;
            let bpp = if sixteen { 6 } else { 3 };
            let mut band16 = Vec::new();
            let mut rows = |y0: usize, bytes: &mut [u8]| -> Result<()> {
                if sixteen {
                    band16.resize(bytes.len() / 2, 0u16);
                    fill(y0, BandMut::Rgb16(&mut band16))?;
                    for (b, v) in bytes.chunks_exact_mut(2).zip(&band16) {
                        b.copy_from_slice(&v.to_be_bytes());
                    }
                    Ok(())
                } else {
                    fill(y0, BandMut::Rgb8(bytes))
                }
            };
            png_rows::write_idat(out, (bpp * width, height, bpp), PNG_BAND_ROWS, &mut rows)?;
            out.write_all(iend)?;
        }
        Format::Jpeg => {
            anyhow::ensure!(
                !sixteen,
                "JPEG holds 8-bit samples only: write 16-bit outputs as PNG or TIFF"
            );
            let mut rgb = vec![0u8; 3 * width * height];
            for (i, band) in rgb.chunks_mut(3 * width * PNG_BAND_ROWS).enumerate() {
                fill(i * PNG_BAND_ROWS, BandMut::Rgb8(band))?;
            }
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY)
                .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)?;
            drop(rgb);
            // Metadata segments after SOI and the encoder's JFIF APP0, which
            // JFIF wants first: EXIF (APP1), XMP (APP1), ICC (APP2, in
            // chunks), the provenance (COM).
            let head = match buf.get(2..6) {
                Some([0xFF, 0xE0, hi, lo]) => 4 + u16::from_be_bytes([*hi, *lo]) as usize,
                _ => 2,
            };
            out.write_all(&buf[..head])?;
            let segment = |out: &mut W, marker: u8, parts: &[&[u8]]| -> Result<()> {
                let len: usize = parts.iter().map(|p| p.len()).sum();
                anyhow::ensure!(len <= 65533, "a JPEG metadata segment over 64 KB");
                out.write_all(&[0xFF, marker])?;
                out.write_all(&((len + 2) as u16).to_be_bytes())?;
                for p in parts {
                    out.write_all(p)?;
                }
                Ok(())
            };
            if let Some(e) = exif {
                let blob = e.for_jpeg(w, h).to_blob();
                // EXIF has no continuation: a blob over one segment is dropped
                // rather than cut.
                if blob.len() <= 65533 - 6 {
                    segment(out, 0xE1, &[b"Exif\0\0", &blob])?;
                } else {
                    eprintln!("note: the input's EXIF ({} bytes) does not fit a JPEG segment; not carried", blob.len());
                }
            }
            // The declaration always goes in: if the input's XMP makes the
            // packet too large for one segment, ours alone.
            let xmp = if xmp.len() <= 65533 - 29 {
                xmp
            } else {
                eprintln!("note: the input's XMP does not fit a JPEG segment; only the machine-colour declaration is written");
                xmp::packet(provenance)
            };
            segment(
                out,
                0xE1,
                &[b"http://ns.adobe.com/xap/1.0/\0", xmp.as_bytes()],
            )?;
            if let Some(icc) = meta.icc.as_deref() {
                let chunks: Vec<&[u8]> = icc.chunks(65533 - 14).collect();
                if chunks.len() <= 255 {
                    for (i, c) in chunks.iter().enumerate() {
                        let seq = [i as u8 + 1, chunks.len() as u8];
                        segment(out, 0xE2, &[b"ICC_PROFILE\0", &seq, c])?;
                    }
                }
            }
            let text = provenance.as_bytes();
            segment(out, 0xFE, &[&text[..text.len().min(65533)]])?;
            out.write_all(&buf[head..])?;
        }
        Format::Tiff => encode_tiff(out, (width, height, sixteen), provenance, &xmp, meta, fill)?,
    }
    Ok(())
}

/// Uncompressed bytes per TIFF strip (the tiff crate's choice, kept).
const TIFF_STRIP_BYTES: usize = 1_000_000;

/// TIFF, LZW-compressed (lossless) strip by strip, with the EXIF tags in the
/// image's directory and its Exif and GPS sub-directories. The strips are
/// ours: the tiff crate compresses only an image given whole.
fn encode_tiff<W: Write + io::Seek>(
    out: &mut W,
    (width, height, sixteen): (usize, usize, bool),
    provenance: &str,
    xmp: &str,
    meta: &Metadata,
    fill: &mut Fill<'_>,
) -> Result<()> {
    use tiff::encoder::{Rational, TiffEncoder};
    use tiff::tags::{CompressionMethod, PhotometricInterpretation, ResolutionUnit, Tag};
    let (icc, exif) = (meta.icc.as_deref(), meta.exif.as_ref());
    let mut enc = TiffEncoder::new(&mut *out)?;
    // Sub-directories first: the image's directory points at them.
    let mut subs = Vec::new();
    for (ifd, tag) in [(exif::Ifd::Exif, 34665u16), (exif::Ifd::Gps, 34853)] {
        let Some(entries) = exif.map(|e| e.ifd(ifd).collect::<Vec<_>>()) else {
            continue;
        };
        if entries.is_empty() {
            continue;
        }
        let mut dir = enc.extra_directory()?;
        // ComponentsConfiguration describes JPEG-compressed data only.
        for e in entries.into_iter().filter(|e| e.tag != 0x9101) {
            write_tiff_entry(&mut dir, e)?;
        }
        subs.push((tag, dir.finish_with_offsets()?.offset));
    }
    let mut d = enc.image_directory()?;
    let sample_bytes = if sixteen { 2 } else { 1 };
    let row_bytes = 3 * sample_bytes * width;
    let rows_per_strip = TIFF_STRIP_BYTES.div_ceil(row_bytes).min(height);
    // LZW: lossless, and the compression every TIFF reader takes (exiftool
    // -validate flags Deflate as outside baseline TIFF); TIFF's variant of
    // it (MSB first, code size switched one code early).
    let mut lzw = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let (mut band8, mut band16, mut raw, mut packed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut offsets, mut counts) = (Vec::new(), Vec::new());
    for y0 in (0..height).step_by(rows_per_strip) {
        let n = 3 * width * rows_per_strip.min(height - y0);
        let bytes: &[u8] = if sixteen {
            band16.resize(n, 0u16);
            fill(y0, BandMut::Rgb16(&mut band16))?;
            // The tiff crate writes the file in the machine's byte order.
            raw.clear();
            raw.extend(band16.iter().flat_map(|v| v.to_ne_bytes()));
            &raw
        } else {
            band8.resize(n, 0u8);
            fill(y0, BandMut::Rgb8(&mut band8))?;
            &band8
        };
        packed.clear();
        lzw.reset();
        lzw.into_vec(&mut packed).encode_all(bytes).status?;
        offsets.push(u32::try_from(d.write_data(&packed[..])?).context("TIFF over 4 GB")?);
        counts.push(packed.len() as u32);
    }
    let bits = if sixteen { 16u16 } else { 8 };
    d.write_tag(Tag::ImageWidth, width as u32)?;
    d.write_tag(Tag::ImageLength, height as u32)?;
    d.write_tag(Tag::BitsPerSample, &[bits, bits, bits][..])?;
    d.write_tag(Tag::Compression, CompressionMethod::LZW.to_u16())?;
    d.write_tag(
        Tag::PhotometricInterpretation,
        PhotometricInterpretation::RGB.to_u16(),
    )?;
    d.write_tag(Tag::StripOffsets, &offsets[..])?;
    d.write_tag(Tag::SamplesPerPixel, 3u16)?;
    d.write_tag(Tag::RowsPerStrip, rows_per_strip as u32)?;
    d.write_tag(Tag::StripByteCounts, &counts[..])?;
    d.write_tag(Tag::XResolution, Rational { n: 1, d: 1 })?;
    d.write_tag(Tag::YResolution, Rational { n: 1, d: 1 })?;
    d.write_tag(Tag::ResolutionUnit, ResolutionUnit::None.to_u16())?;
    // TIFF ASCII fields take 7-bit text without NUL, and the model id comes
    // from the model file.
    let ascii: String = provenance
        .chars()
        .map(|c| if c.is_ascii() && c != '\0' { c } else { '?' })
        .collect();
    d.write_tag(Tag::Software, ascii.as_str())?;
    d.write_tag(Tag::Unknown(700), xmp.as_bytes())?;
    if let Some(icc) = icc {
        d.write_tag(Tag::Unknown(34675), icc)?;
    }
    if let Some(exif) = exif {
        for e in exif.ifd(exif::Ifd::Primary) {
            write_tiff_entry(&mut d, e)?;
        }
    }
    for (tag, offset) in subs {
        d.write_tag(Tag::Unknown(tag), offset)?;
    }
    d.finish()?;
    Ok(())
}

/// One kept EXIF tag as a TIFF directory entry, with its own type (UNDEFINED
/// and SBYTE values go in as BYTE: the tiff crate writes no others).
fn write_tiff_entry<W: Write + io::Seek, K: tiff::encoder::TiffKind>(
    d: &mut tiff::encoder::DirectoryEncoder<'_, W, K>,
    e: &exif::Entry,
) -> Result<()> {
    use tiff::encoder::{Rational, SRational};
    let tag = tiff::tags::Tag::Unknown(e.tag);
    let v = &e.value;
    let words = |n: usize| v.chunks_exact(n);
    let u32s = || words(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()));
    let i32s = || words(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()));
    match e.field_type {
        2 => {
            let text: String = v
                .iter()
                .take_while(|&&b| b != 0)
                .map(|&b| if b.is_ascii() { b as char } else { '?' })
                .collect();
            d.write_tag(tag, text.as_str())?
        }
        3 => d.write_tag(
            tag,
            &words(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>()[..],
        )?,
        8 => d.write_tag(
            tag,
            &words(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect::<Vec<_>>()[..],
        )?,
        4 => d.write_tag(tag, &u32s().collect::<Vec<_>>()[..])?,
        9 => d.write_tag(tag, &i32s().collect::<Vec<_>>()[..])?,
        5 => {
            let n: Vec<u32> = u32s().collect();
            let r: Vec<Rational> = n
                .chunks_exact(2)
                .map(|p| Rational { n: p[0], d: p[1] })
                .collect();
            d.write_tag(tag, &r[..])?
        }
        10 => {
            let n: Vec<i32> = i32s().collect();
            let r: Vec<SRational> = n
                .chunks_exact(2)
                .map(|p| SRational { n: p[0], d: p[1] })
                .collect();
            d.write_tag(tag, &r[..])?
        }
        11 => d.write_tag(tag, &u32s().map(f32::from_bits).collect::<Vec<_>>()[..])?,
        12 => d.write_tag(
            tag,
            &words(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                .collect::<Vec<_>>()[..],
        )?,
        _ => d.write_tag(tag, &v[..])?,
    }
    Ok(())
}

/// Encodes an image band by band ([`encode_bands`]) straight into its temp
/// file, for [`Staged::commit`] to put in place atomically and durably: PNG
/// and TIFF outputs never exist whole in memory.
pub fn stage_image_bands(
    path: &Path,
    format: Format,
    size: (usize, usize, bool),
    provenance: &str,
    meta: &Metadata,
    fill: &mut Fill<'_>,
) -> Result<Staged> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    if phase_tracing() {
        // The power-cut test (`COLORIZE_PHASE_TRACE`): the whole file is
        // encoded first, so that its "write" step finds the temp file half
        // on disk, as `write_atomic` leaves it. Not the streaming path.
        let mut bytes = Vec::new();
        encode_bands(
            &mut io::Cursor::new(&mut bytes),
            format,
            size,
            provenance,
            meta,
            fill,
        )
        .context("encoding failed")?;
        return stage_with(dir, &name.to_string_lossy(), |f| {
            write_in_halves(f, &bytes, path)
        });
    }
    stage_with(dir, &name.to_string_lossy(), |f| {
        encode_bands(f, format, size, provenance, meta, fill).context("encoding failed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_round_trips_with_its_provenance() {
        let rgb: Vec<u8> = (0..3 * 5 * 4).map(|i| i as u8).collect();
        for format in [Format::Png, Format::Jpeg, Format::Tiff] {
            let mut out = Vec::new();
            encode(
                &mut out,
                format,
                5,
                4,
                &rgb,
                "made by a test",
                &Metadata::default(),
            )
            .unwrap();
            let img = image::load_from_memory(&out).unwrap().to_rgb8();
            assert_eq!(img.dimensions(), (5, 4), "{format:?}");
            if format != Format::Jpeg {
                assert_eq!(img.into_raw(), rgb, "{format:?}");
            }
            let text = b"made by a test";
            assert!(out.windows(text.len()).any(|w| w == text), "{format:?}");
            // A model id is text from the model file: any of it must encode.
            encode(
                &mut out,
                format,
                5,
                4,
                &rgb,
                "model \u{e9}t\u{e9} \0",
                &Metadata::default(),
            )
            .unwrap();
            assert!(encode(&mut out, format, 5, 5, &rgb, "", &Metadata::default()).is_err());
        }
    }
}
