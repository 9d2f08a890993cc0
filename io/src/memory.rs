//! What one image costs in memory, known from its header before a pixel
//! is decoded: [`probe`] reads the header, [`estimate`] adds up the buffers
//! the one colourize path ([`crate::pipeline`]) holds at its peak. A batch
//! admits an image only when that estimate fits in what is left of its
//! memory budget (the device's `memory` module).
//!
//! The path has two phases, and the peak is the larger:
//! - **decode**: the decoded pixels, plus what the decoder holds beside
//!   them (a TIFF's samples are decoded into the tiff crate's own buffer and
//!   copied out: twice the image; a progressive JPEG keeps every DCT
//!   coefficient, 2 bytes a sample), and then the
//!   L* plane (2 bytes a pixel) taken from the pixels, with a converted copy
//!   first for layouts read that way (alpha, and alpha under an ICC
//!   profile);
//! - **encode**: the L* plane and the output's buffers: bands of rows for
//!   PNG and TIFF, which stream, and for JPEG the whole 8-bit RGB image and
//!   its compressed bytes.
//!
//! The constants are measured (BENCHMARKS.md, "Memory: estimated and
//! measured peak", made by `scripts/memory-bench.sh`).

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result};
use image::{ColorType, ImageDecoder, ImageFormat, ImageReader};

use crate::images::DecodeLimits;
use crate::output::Format;
use crate::pipeline::OutputSpec;

/// What an image file's header says about the memory it will take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub color: ColorType,
    /// It carries an ICC profile (alpha layouts under one are converted
    /// twice).
    pub icc: bool,
    /// A progressive JPEG: the bytes its decoder keeps per pixel beside the
    /// pixels (its coefficients and component planes, after chroma
    /// subsampling), in 1/16 of a byte.
    pub progressive_sixteenths: Option<u32>,
}

impl Header {
    pub fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// "9920x14032 16-bit gray TIFF", for messages.
    pub fn describe(&self) -> String {
        let depth = if crate::lstar::is_16_bit_color(self.color) {
            16
        } else {
            8
        };
        let layout = match self.color {
            ColorType::L8 | ColorType::L16 => "gray",
            ColorType::La8 | ColorType::La16 => "gray+alpha",
            ColorType::Rgba8 | ColorType::Rgba16 | ColorType::Rgba32F => "RGBA",
            _ => "RGB",
        };
        let format = match self.format {
            ImageFormat::Jpeg if self.progressive_sixteenths.is_some() => "progressive JPEG",
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Tiff => "TIFF",
            _ => "image",
        };
        let icc = if self.icc { ", ICC-tagged" } else { "" };
        format!(
            "{}x{} {depth}-bit {layout} {format}{icc}",
            self.width, self.height
        )
    }
}

/// Reads `path`'s header (and, for a JPEG, its frame header), checks it
/// against `limits` (the decompression-bomb guard, with the same message
/// decoding gives), and decodes nothing. Errors do not name the file; a
/// decoder that panics on a corrupt header is an error too, as in decoding.
pub fn probe(path: &Path, limits: &DecodeLimits) -> Result<Header> {
    std::panic::catch_unwind(|| probe_unguarded(path, limits)).unwrap_or_else(|_| {
        Err(anyhow::anyhow!(
            "corrupt image header (the decoder failed internally)"
        ))
    })
}

fn probe_unguarded(path: &Path, limits: &DecodeLimits) -> Result<Header> {
    let file = std::fs::File::open(path).context("can not open")?;
    let reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .context("can not read")?;
    let Some(format) = reader.format() else {
        anyhow::bail!("not a PNG, JPEG or TIFF image (the content is neither)");
    };
    let mut reader = reader;
    let mut progressive_sixteenths = None;
    if format == ImageFormat::Jpeg {
        let mut inner = reader.into_inner();
        // A header cut short is the decoder's to report, in its words.
        progressive_sixteenths = jpeg_progressive_extra(&mut inner).unwrap_or(None);
        inner.seek(SeekFrom::Start(0)).context("can not read")?;
        reader = ImageReader::with_format(inner, format);
    }
    if format == ImageFormat::Png {
        // As decoding does: the bomb's size from IHDR first.
        let mut inner = reader.into_inner();
        crate::images::check_png_header(&mut inner, limits)?;
        reader = ImageReader::with_format(inner, format);
    }
    let mut decoder = crate::images::checked_decoder(reader, limits)?;
    let (width, height) = decoder.dimensions();
    Ok(Header {
        format,
        width,
        height,
        color: decoder.color_type(),
        icc: decoder.icc_profile().ok().flatten().is_some(),
        progressive_sixteenths,
    })
}

/// A JPEG's progressive-decoding overhead from its frame header (SOF2),
/// in sixteenths of a byte per pixel: every DCT coefficient is kept until
/// the last scan, 2 bytes a component sample and each component counted at
/// its sampled size; measured 2.08-2.15 bytes a sample with the rest of the
/// decoder's state (4:4:4 and 4:2:2 photos), taken as 2.25. `None` for a baseline JPEG (decoded a row of blocks at a time).
/// Rewinds nothing; reads markers up to the first scan.
fn jpeg_progressive_extra<R: Read + Seek>(r: &mut R) -> std::io::Result<Option<u32>> {
    let mut two = [0u8; 2];
    r.read_exact(&mut two)?;
    if two != [0xFF, 0xD8] {
        return Ok(None);
    }
    let mut one = [0u8; 1];
    loop {
        r.read_exact(&mut one)?;
        if one[0] != 0xFF {
            return Ok(None);
        }
        // Any number of 0xFF fill bytes may come before a marker.
        while one[0] == 0xFF {
            r.read_exact(&mut one)?;
        }
        let marker = one[0];
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            return Ok(None);
        }
        r.read_exact(&mut two)?;
        let len = u16::from_be_bytes(two) as i64;
        // SOF2, SOF6, SOF10, SOF14: the progressive frames.
        if matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE) {
            let mut head = [0u8; 6];
            r.read_exact(&mut head)?;
            let comps = head[5] as usize;
            let mut spec = vec![0u8; 3 * comps];
            r.read_exact(&mut spec)?;
            let factors: Vec<(u32, u32)> = spec
                .chunks(3)
                .map(|c| ((c[1] >> 4).max(1) as u32, (c[1] & 15).max(1) as u32))
                .collect();
            let hmax = factors.iter().map(|f| f.0).max().unwrap_or(1);
            let vmax = factors.iter().map(|f| f.1).max().unwrap_or(1);
            // Each component's share of a pixel, in sixteenths: (h/hmax)(v/vmax).
            let share: u32 = factors
                .iter()
                .map(|&(h, v)| 16 * h * v / (hmax * vmax))
                .sum();
            return Ok(Some(share * 9 / 4));
        }
        if marker == 0xC0 || marker == 0xC1 || marker == 0xC3 {
            return Ok(None);
        }
        r.seek(SeekFrom::Current(len - 2))?;
    }
}

/// Bytes a pixel of the decoded image.
fn decoded_bytes_per_pixel(color: ColorType) -> u64 {
    color.bytes_per_pixel() as u64
}

/// Bytes a pixel of the converted copy the L* plane is taken from, for the
/// layouts not read in place ([`crate::lstar::l_plane_into`],
/// [`crate::icc`]): alpha is dropped first, and under an ICC profile the
/// copy is converted into a second one.
fn copy_bytes_per_pixel(color: ColorType, icc: bool) -> u64 {
    let copy = match color {
        ColorType::L8 | ColorType::Rgb8 | ColorType::L16 | ColorType::Rgb16 => return 0,
        ColorType::La8 => 1,
        ColorType::Rgba8 => 3,
        ColorType::La16 => 2,
        ColorType::Rgba16 => 6,
        // Float and other rare layouts: converted to 16-bit RGB.
        _ => 6,
    };
    if icc {
        // The profile's transform writes RGB of the same depth beside it.
        copy + if copy % 2 == 0 { 6 } else { 3 }
    } else {
        copy
    }
}

/// Bytes every job holds besides its planes: band buffers of the encoders
/// (16 rows of 16-bit RGB, a few copies) and small allocations.
fn fixed_bytes(width: u64) -> u64 {
    (1 << 20) + 64 * 6 * width
}

/// The most memory colourizing this image into `spec` takes at once, in
/// bytes: the larger of its decode and encode phases (see the module
/// documentation). The program's own memory (code, model, runtime) is not
/// included.
pub fn estimate(h: &Header, spec: OutputSpec) -> u64 {
    let px = h.pixels();
    let decoded = px * decoded_bytes_per_pixel(h.color);
    let decoder_extra = match h.format {
        ImageFormat::Tiff => decoded,
        ImageFormat::Jpeg => h.progressive_sixteenths.map_or(0, |s| px * s as u64 / 16),
        _ => 0,
    };
    let l = 2 * px;
    let copy = px * copy_bytes_per_pixel(h.color, h.icc);
    let decode = decoded + decoder_extra.max(l + copy);
    let encode = l + match spec.format {
        // The whole 8-bit image, then its compressed bytes (well under
        // half a byte a pixel at quality 92).
        Format::Jpeg => 3 * px + px / 2,
        Format::Png | Format::Tiff => 0,
    };
    decode.max(encode) + fixed_bytes(h.width as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Depth;

    fn header(format: ImageFormat, color: ColorType, w: u32, h: u32) -> Header {
        Header {
            format,
            width: w,
            height: h,
            color,
            icc: false,
            progressive_sixteenths: None,
        }
    }

    #[test]
    fn a_16_bit_gray_tiff_master_costs_twice_its_pixels() {
        // The A4 master at 1200 dpi: 278 MB of samples, decoded into the
        // tiff crate's buffer and copied out; the L* plane is as large.
        let h = header(ImageFormat::Tiff, ColorType::L16, 9920, 14032);
        let px = 9920u64 * 14032;
        let need = estimate(&h, OutputSpec::PNG);
        assert!(need >= 4 * px && need < 4 * px + (8 << 20), "{need}");
        assert_eq!(h.describe(), "9920x14032 16-bit gray TIFF");
    }

    #[test]
    fn the_peak_is_the_larger_phase() {
        let px = 4000u64 * 3000;
        // An 8-bit gray PNG into PNG: the decoded image and L* (3 bytes a
        // pixel); into JPEG the encode phase is larger (L*, RGB, bytes).
        let gray = header(ImageFormat::Png, ColorType::L8, 4000, 3000);
        let png = estimate(&gray, OutputSpec::PNG) - fixed_bytes(4000);
        assert_eq!(png, 3 * px);
        let jpeg = OutputSpec {
            format: Format::Jpeg,
            depth: Depth::Same,
        };
        assert_eq!(estimate(&gray, jpeg) - fixed_bytes(4000), 5 * px + px / 2);
        // Alpha is dropped through a copy; under a profile, a second one.
        let mut rgba = header(ImageFormat::Png, ColorType::Rgba8, 4000, 3000);
        assert_eq!(estimate(&rgba, OutputSpec::PNG) - fixed_bytes(4000), 9 * px);
        rgba.icc = true;
        assert_eq!(
            estimate(&rgba, OutputSpec::PNG) - fixed_bytes(4000),
            12 * px
        );
    }

    #[test]
    fn progressive_jpegs_are_read_from_the_frame_header() {
        // SOI, an APP0 to skip, SOF2 for 3 components at 4:2:0, SOS.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        jpeg.extend_from_slice(&[0xFF, 0xC2, 0, 17, 8, 0, 16, 0, 16, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend_from_slice(&[0xFF, 0xDA]);
        let extra = jpeg_progressive_extra(&mut std::io::Cursor::new(&jpeg)).unwrap();
        // Y at full size, Cb and Cr at a quarter: 1.5 samples a pixel,
        // 2.25 bytes each.
        assert_eq!(extra, Some(54));
        // Fill bytes before a marker, an odd number of them.
        let mut filled = jpeg[..8].to_vec();
        filled.extend_from_slice(&[0xFF, 0xFF]);
        filled.extend_from_slice(&jpeg[8..]);
        assert_eq!(
            jpeg_progressive_extra(&mut std::io::Cursor::new(&filled)).unwrap(),
            Some(54)
        );
        jpeg[9] = 0xC0;
        assert_eq!(
            jpeg_progressive_extra(&mut std::io::Cursor::new(&jpeg)).unwrap(),
            None
        );
    }

    #[test]
    fn probe_reads_the_header_and_applies_the_bomb_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        image::GrayImage::new(300, 200).save(&path).unwrap();
        let h = probe(&path, &DecodeLimits::DEFAULT).unwrap();
        assert_eq!((h.width, h.height, h.color), (300, 200, ColorType::L8));
        assert_eq!(h.format, ImageFormat::Png);
        let small = DecodeLimits {
            max_pixels: 1000,
            ..DecodeLimits::DEFAULT
        };
        let e = format!("{:#}", probe(&path, &small).unwrap_err());
        assert!(
            e.starts_with("300x200 is over") && e.contains("--max-pixels"),
            "{e}"
        );
    }
}
