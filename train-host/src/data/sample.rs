//! One decoded image as Lab planes, and the decode that makes it.

use anyhow::{bail, Context, Result};
use colorize_shared::lab;
use image::imageops::FilterType;

/// One decoded image, stored as Lab in the fixed-point formats of
/// `colorize_shared::lab` (6 bytes a pixel instead of 12 for f32 a,b + 4 for L).
#[derive(Clone, Debug)]
pub struct Sample {
    pub width: usize,
    pub height: usize,
    pub l: Vec<u16>,
    pub a: Vec<i16>,
    pub b: Vec<i16>,
}

impl Sample {
    /// Builds the Lab planes of an interleaved sRGB8 image.
    pub fn from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Self {
        let n = width * height;
        let (mut l, mut a, mut b) = (vec![0u16; n], vec![0i16; n], vec![0i16; n]);
        lab::rgb8_to_lab_planes(rgb, &mut l, &mut a, &mut b);
        Sample {
            width,
            height,
            l,
            a,
            b,
        }
    }

    /// Mean a*b* chroma in Lab units: near zero for gray and near-monochrome
    /// images, whose colours carry nothing to learn.
    pub fn mean_chroma(&self) -> f32 {
        let sum: f64 = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(&a, &b)| {
                let (a, b) = (a as f64 / 256.0, b as f64 / 256.0);
                (a * a + b * b).sqrt()
            })
            .sum();
        (sum / self.a.len().max(1) as f64) as f32
    }

    /// Truth sRGB8 of a `size x size` crop at (x0, y0).
    pub fn crop_rgb8(&self, x0: usize, y0: usize, size: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; 3 * size * size];
        for y in 0..size {
            let row = (y0 + y) * self.width + x0;
            lab::lab_planes_to_rgb8(
                &self.l[row..row + size],
                &self.a[row..row + size],
                &self.b[row..row + size],
                &mut rgb[3 * y * size..3 * (y + 1) * size],
            );
        }
        rgb
    }

    /// Top-left corner of the centred `size x size` crop.
    pub fn centre(&self, size: usize) -> (usize, usize) {
        ((self.width - size) / 2, (self.height - size) / 2)
    }
}

/// Decodes and resizes one image so its shorter side is `size` (the longer
/// side keeps the aspect ratio, leaving room for random crops).
pub fn decode_resized(bytes: &[u8], size: usize) -> Result<Sample> {
    let img = image::load_from_memory(bytes).context("decoding image")?;
    let rgb = img.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        bail!("empty image");
    }
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as usize).max(size),
        ((h as f64 * scale).round() as usize).max(size),
    );
    let rgb = if (nw, nh) == (w, h) {
        rgb
    } else {
        image::imageops::resize(&rgb, nw as u32, nh as u32, FilterType::Triangle)
    };
    Ok(Sample::from_rgb8(nw, nh, rgb.as_raw()))
}
