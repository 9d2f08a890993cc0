//! Training samples: one decoded image as Lab planes, and the model input
//! of a crop of it. Here, not in the trainer, so that the trainer's input
//! is derived by the device's own code (decoding, L* plane, resize) and a
//! test can hold the two equal on every target (device/tests/
//! train_serve_parity.rs); the trainer, which links libtorch, runs on x86_64
//! only.

use anyhow::{bail, Result};
use colorize_shared::{contract, lab};
use image::imageops::FilterType;

use crate::icc;
use crate::images::{decode_bytes_with_metadata, DecodeLimits};

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

/// Decodes one image (within the default decode limits) and resizes it so
/// its shorter side is `size` (the longer side keeps the aspect ratio,
/// leaving room for random crops). L* is the device's: the full-resolution
/// L* plane through the image's ICC profile ([`icc::l_plane_in`]: gray,
/// colour, 8 or 16 bit) box-filtered by [`contract::resize_l_plane`]. a*,
/// b* are the training targets, from the sRGB image resized with a
/// triangle filter.
pub fn decode_resized(bytes: &[u8], size: usize) -> Result<Sample> {
    let (img, mut meta) = decode_bytes_with_metadata(bytes, &DecodeLimits::DEFAULT)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w == 0 || h == 0 {
        bail!("empty image");
    }
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as usize).max(size),
        ((h as f64 * scale).round() as usize).max(size),
    );
    // As the device takes it: through the image's ICC profile, if usable.
    let (space, _note) = icc::prepare(&img, &mut meta);
    let mut full = Vec::new();
    icc::l_plane_in(&img, space.as_ref(), &mut full)?;
    let rgb = match &space {
        Some(space) => space.to_srgb(&img)?.to_rgb8(),
        None => img.to_rgb8(),
    };
    let rgb = if (nw, nh) == (w, h) {
        rgb
    } else {
        image::imageops::resize(&rgb, nw as u32, nh as u32, FilterType::Triangle)
    };
    let mut sample = Sample::from_rgb8(nw, nh, rgb.as_raw());
    contract::resize_l_plane(&full, w, h, &mut sample.l, nw, nh);
    Ok(sample)
}

impl Sample {
    /// The model's input for the `size x size` crop at `(x0, y0)`, mirrored
    /// if `flip`: its L* resized to `input_size` by the device's resize
    /// ([`contract::resize_l_plane`]) and put in the contract's units, into
    /// `out` (`input_size^2` values). `l` and `resized` are scratch.
    #[allow(clippy::too_many_arguments)]
    pub fn crop_input(
        &self,
        (x0, y0): (usize, usize),
        size: usize,
        flip: bool,
        input_size: usize,
        l: &mut Vec<u16>,
        resized: &mut Vec<u16>,
        out: &mut [f32],
    ) {
        l.resize(size * size, 0);
        for y in 0..size {
            let row = &self.l[(y0 + y) * self.width + x0..][..size];
            let dst = &mut l[y * size..(y + 1) * size];
            dst.copy_from_slice(row);
            if flip {
                dst.reverse();
            }
        }
        let l_in = if input_size == size {
            &l[..]
        } else {
            resized.resize(input_size * input_size, 0);
            contract::resize_l_plane(l, size, size, resized, input_size, input_size);
            &resized[..]
        };
        contract::l_plane_to_input(l_in, out);
    }
}
