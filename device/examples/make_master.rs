//! Writes a large synthetic master for memory measurements: a photo tiled
//! (mirrored, so there are no seams for a compressor to notice) up to the
//! requested size, in one of the layouts archives hold.
//!
//! usage: make_master PHOTO KIND WIDTHxHEIGHT OUT [ICC]
//! KIND:  gray16-tiff, rgb16-tiff, gray16-png, rgb16-png, rgb8-png, rgb8-jpeg, rgb8-png-icc
//!        (rgb8-png-icc embeds the profile ICC: an input in another colour space)
//!
//! scripts/memory-bench.sh makes its inputs with it; the box's memory test
//! on the emulated board, too.

use std::fs::File;
use std::io::BufWriter;

use anyhow::{bail, Context, Result};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::tiff::TiffEncoder;
use image::{ExtendedColorType, ImageEncoder};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [photo, kind, size, out, rest @ ..] = args.as_slice() else {
        bail!("usage: make_master PHOTO KIND WIDTHxHEIGHT OUT [ICC] (see the source's header)");
    };
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<usize>().ok()?, h.parse::<usize>().ok()?)))
        .with_context(|| format!("{size}: not WIDTHxHEIGHT"))?;
    let src = image::open(photo)
        .with_context(|| format!("{photo}: can not read"))?
        .to_rgb8();
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    // Mirrored tiling: x runs 0..sw-1, then back down, and so on.
    let fold = |v: usize, n: usize| {
        let p = v % (2 * n);
        if p < n {
            p
        } else {
            2 * n - 1 - p
        }
    };
    let rgb_at = |x: usize, y: usize| {
        let p = src.get_pixel(fold(x, sw) as u32, fold(y, sh) as u32).0;
        [p[0], p[1], p[2]]
    };
    // 16-bit samples: the 8-bit value widened, with the low byte from a
    // cheap hash, as a scanner's extra bits would be (not all zero).
    let wide = |v: u8, x: usize, y: usize| {
        let noise = ((x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 7) as u16 & 0xff;
        (v as u16) << 8 | noise
    };
    let file = BufWriter::new(File::create(out).with_context(|| format!("{out}: can not create"))?);
    let (w32, h32) = (w as u32, h as u32);
    match kind.as_str() {
        "gray16-tiff" | "gray16-png" => {
            let mut px = Vec::with_capacity(2 * w * h);
            for y in 0..h {
                for x in 0..w {
                    let [r, g, b] = rgb_at(x, y);
                    let luma = ((r as u32 * 77 + g as u32 * 150 + b as u32 * 29) >> 8) as u8;
                    px.extend_from_slice(&wide(luma, x, y).to_ne_bytes());
                }
            }
            if kind == "gray16-tiff" {
                TiffEncoder::new(file).write_image(&px, w32, h32, ExtendedColorType::L16)?;
            } else {
                PngEncoder::new(file).write_image(&px, w32, h32, ExtendedColorType::L16)?;
            }
        }
        "rgb16-tiff" | "rgb16-png" => {
            let mut px = Vec::with_capacity(6 * w * h);
            for y in 0..h {
                for x in 0..w {
                    for v in rgb_at(x, y) {
                        px.extend_from_slice(&wide(v, x, y).to_ne_bytes());
                    }
                }
            }
            if kind == "rgb16-tiff" {
                TiffEncoder::new(file).write_image(&px, w32, h32, ExtendedColorType::Rgb16)?;
            } else {
                PngEncoder::new(file).write_image(&px, w32, h32, ExtendedColorType::Rgb16)?;
            }
        }
        "rgb8-png" | "rgb8-jpeg" | "rgb8-png-icc" => {
            let mut px = Vec::with_capacity(3 * w * h);
            for y in 0..h {
                for x in 0..w {
                    px.extend_from_slice(&rgb_at(x, y));
                }
            }
            match kind.as_str() {
                "rgb8-jpeg" => JpegEncoder::new_with_quality(file, 90).write_image(
                    &px,
                    w32,
                    h32,
                    ExtendedColorType::Rgb8,
                )?,
                "rgb8-png" => {
                    PngEncoder::new(file).write_image(&px, w32, h32, ExtendedColorType::Rgb8)?
                }
                _ => {
                    let [icc] = rest else {
                        bail!("rgb8-png-icc needs the profile to embed (5th argument)");
                    };
                    let profile =
                        std::fs::read(icc).with_context(|| format!("{icc}: can not read"))?;
                    let mut enc = PngEncoder::new(file);
                    enc.set_icc_profile(profile)
                        .map_err(|e| anyhow::anyhow!("{icc}: {e}"))?;
                    enc.write_image(&px, w32, h32, ExtendedColorType::Rgb8)?
                }
            }
        }
        _ => bail!("{kind}: not a kind this writes (see the source's header)"),
    }
    Ok(())
}
