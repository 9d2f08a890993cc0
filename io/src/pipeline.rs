//! The one colourize path. `colorize files`, the scanner box (inbox files
//! and shutter frames), `colorize eval` and the trainer's `colorize` and
//! `eval` commands all go through [`Worker`], so a scan gives the same
//! output bytes whichever of them colourizes it:
//!
//! 1. a decoded image becomes a [`Frame`]: its ICC profile prepared
//!    ([`icc::prepare`]), its L* plane taken through it ([`icc::l_plane_in`]);
//!    a camera frame is an L* plane already;
//! 2. the model predicts a*b* at its own size ([`Colorize::predict`]);
//! 3. band by band, the prediction is upsampled and recombined with the
//!    full-resolution L* ([`recombine::rows`]), taken to 16 bits at the
//!    same L* if the output is 16-bit, and back into the input's colour
//!    space;
//! 4. the bands stream into the encoder's temp file ([`Worker::stage`]),
//!    or into memory ([`Worker::render`]; [`Worker::render_srgb`] for
//!    scoring and figures).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use colorize_shared::recombine::{self, AbPlanes};
use colorize_shared::{contract, lab, lab16};
use image::DynamicImage;

use crate::icc::{self, InputSpace};
use crate::images::Metadata;
use crate::lstar::is_16_bit;
use crate::output::{self, BandMut, Format, Staged};

/// Anything that predicts a*b* from an L* plane: the device's tract
/// session, the trainer's libtorch network, fakes in tests.
pub trait Colorize {
    /// Predicts a*b* for a full-resolution L* plane (`width * height`
    /// values, Q8.8, row-major) at the model's output size.
    fn predict(&mut self, l: &[u16], width: usize, height: usize) -> Result<AbPlanes<'_>>;
    /// The provenance note outputs made with it carry.
    fn provenance(&self) -> String;
    /// The vividness a distribution head decodes at (0: faithful, 1:
    /// vivid); `None` for models without that control.
    fn vividness(&self) -> Option<f32> {
        None
    }
    /// Decodes at `v` from the next prediction on; an error for models
    /// without a vividness control, or `v` outside 0..=1.
    fn set_vividness(&mut self, v: f32) -> Result<()> {
        anyhow::bail!("this model has no vividness control (asked for {v})")
    }
    /// Colour hints for the next predictions, on the model's grid; empty
    /// for none. An error for a model that takes no hints, given some.
    fn set_hints(&mut self, hints: &[colorize_shared::contract::GridHint]) -> Result<()> {
        anyhow::ensure!(hints.is_empty(), "this model takes no colour hints");
        Ok(())
    }
}

/// Output bits per sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Depth {
    #[cfg_attr(feature = "clap", value(name = "8"))]
    Eight,
    #[cfg_attr(feature = "clap", value(name = "16"))]
    Sixteen,
    /// As the input: 16-bit PNG and TIFF inputs give 16-bit PNG and TIFF.
    #[default]
    Same,
}

/// How an output is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    pub format: Format,
    pub depth: Depth,
}

impl OutputSpec {
    /// The box's outputs, and `colorize files`'s default.
    pub const PNG: OutputSpec = OutputSpec {
        format: Format::Png,
        depth: Depth::Same,
    };
}

/// One input as the model sees it: its size, colour space and the metadata
/// its output carries. Its L* plane is in the [`Worker`] that made it.
pub struct Frame {
    pub width: usize,
    pub height: usize,
    space: Option<InputSpace>,
    meta: Metadata,
    sixteen_bit: bool,
    /// Why the input's ICC profile was not used, if it was not (the
    /// output is then sRGB, as for an untagged input): for the caller to
    /// report.
    pub note: Option<String>,
}

impl Frame {
    /// The decoded image this frame was loaded from ([`Worker::load_ref`]),
    /// in sRGB8: the truth a colourization is scored against.
    pub fn srgb8(&self, img: &DynamicImage) -> Result<image::RgbImage> {
        Ok(match &self.space {
            Some(space) => space.to_srgb(img)?.to_rgb8(),
            None => img.to_rgb8(),
        })
    }
}

/// A small sRGB picture of one colourization: its gray input and its
/// colour output side by side at the same size (the box's web page shows
/// these). Made from the prediction the output was made with, so it costs
/// no second inference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    pub width: usize,
    pub height: usize,
    /// `3 * width * height` bytes, interleaved sRGB8, gray.
    pub gray: Vec<u8>,
    /// The same for the colourization.
    pub colour: Vec<u8>,
}

impl Preview {
    /// The preview's size for a `width x height` frame: at most `max_side`
    /// pixels along its longer side, never larger than the frame.
    pub fn size_for(width: usize, height: usize, max_side: usize) -> (usize, usize) {
        let long = width.max(height).max(1);
        if long <= max_side {
            return (width.max(1), height.max(1));
        }
        let scale = |v: usize| ((v * max_side + long / 2) / long).max(1);
        (scale(width), scale(height))
    }

    /// Gray and colour as one image, gray on the left.
    pub fn side_by_side(&self) -> image::RgbImage {
        let (w, h) = (self.width, self.height);
        let mut out = vec![0u8; 2 * 3 * w * h];
        for y in 0..h {
            let row = &mut out[2 * 3 * w * y..][..2 * 3 * w];
            row[..3 * w].copy_from_slice(&self.gray[3 * w * y..][..3 * w]);
            row[3 * w..].copy_from_slice(&self.colour[3 * w * y..][..3 * w]);
        }
        image::RgbImage::from_raw(2 * w as u32, h as u32, out).expect("sized above")
    }
}

/// One worker's buffers, reused from image to image: the L* plane, the
/// recombination scratch and an 8-bit band for 16-bit outputs.
#[derive(Default)]
pub struct Worker {
    l: Vec<u16>,
    scratch: Vec<i32>,
    band8: Vec<u8>,
}

impl Worker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Frees each buffer kept for the next image (this one's and the
    /// thread's spare pixel buffer, [`crate::images::trim_spare`]) that
    /// holds more than `keep` bytes. What stays is at most a few times
    /// `keep`: memory a budget does not see.
    pub fn trim(&mut self, keep: usize) {
        if self.l.capacity() * 2 > keep {
            self.l = Vec::new();
        }
        if self.scratch.capacity() * 4 > keep {
            self.scratch = Vec::new();
        }
        if self.band8.capacity() > keep {
            self.band8 = Vec::new();
        }
        crate::images::trim_spare(keep);
    }

    /// Bytes of the buffers kept for the next image ([`Worker::trim`]).
    pub fn kept_bytes(&self) -> usize {
        self.l.capacity() * 2
            + self.scratch.capacity() * 4
            + self.band8.capacity()
            + crate::images::spare_bytes()
    }

    /// The L* plane of the last frame loaded.
    pub fn l_plane(&self) -> &[u16] {
        &self.l
    }

    /// A decoded image as a [`Frame`]: its profile prepared, its L* taken
    /// through it into this worker. The decoded pixels are given back for
    /// the next decode ([`crate::images::recycle`]).
    pub fn load(&mut self, img: DynamicImage, meta: Metadata) -> Result<Frame> {
        let frame = self.load_ref(&img, meta)?;
        crate::images::recycle(img);
        Ok(frame)
    }

    /// [`Worker::load`], leaving the pixels with the caller (who scores the
    /// prediction against them, say: [`Frame::srgb8`]).
    pub fn load_ref(&mut self, img: &DynamicImage, mut meta: Metadata) -> Result<Frame> {
        let (space, note) = icc::prepare(img, &mut meta);
        let (width, height) = icc::l_plane_in(img, space.as_ref(), &mut self.l)?;
        Ok(Frame {
            width,
            height,
            space,
            meta,
            sixteen_bit: is_16_bit(img),
            note,
        })
    }

    /// An L* plane with no file behind it (a camera frame): sRGB, no
    /// metadata, 8-bit.
    pub fn load_plane(&mut self, l: &[u16], width: usize, height: usize) -> Result<Frame> {
        ensure!(
            width > 0 && height > 0 && l.len() == width * height,
            "L plane has {} values for {width}x{height}",
            l.len()
        );
        self.l.clear();
        self.l.extend_from_slice(l);
        Ok(Frame {
            width,
            height,
            space: None,
            meta: Metadata::default(),
            sixteen_bit: false,
            note: None,
        })
    }

    /// Colourizes `frame` and encodes it under `output`'s temp name, for
    /// [`Staged::commit`] to put in place: PNG and TIFF stream band by
    /// band, so no full-size RGB buffer exists.
    pub fn stage(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        output: &Path,
        spec: OutputSpec,
    ) -> Result<Staged> {
        self.stage_inner(colorizer, frame, output, spec, None)
    }

    /// [`Worker::stage`], also filling `preview` (at most `max_side` pixels
    /// on its longer side) from the same prediction.
    pub fn stage_previewed(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        output: &Path,
        spec: OutputSpec,
        max_side: usize,
        preview: &mut Preview,
    ) -> Result<Staged> {
        self.stage_inner(colorizer, frame, output, spec, Some((max_side, preview)))
    }

    fn stage_inner(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        output: &Path,
        spec: OutputSpec,
        preview: Option<(usize, &mut Preview)>,
    ) -> Result<Staged> {
        let sixteen = match spec.depth {
            Depth::Eight => false,
            Depth::Sixteen => true,
            Depth::Same => frame.sixteen_bit && spec.format != Format::Jpeg,
        };
        let provenance = colorizer.provenance();
        let Worker { l, scratch, band8 } = self;
        let ab = predict(colorizer, l, frame)?;
        let mut fill = |y0: usize, band: BandMut<'_>| {
            fill_band(
                &ab,
                frame,
                frame.space.as_ref(),
                l,
                scratch,
                band8,
                y0,
                band,
            )
        };
        let staged = output::stage_image_bands(
            output,
            spec.format,
            (frame.width, frame.height, sixteen),
            &provenance,
            &frame.meta,
            &mut fill,
        )?;
        if let Some((max_side, preview)) = preview {
            fill_preview(&ab, frame, l, scratch, max_side, preview);
        }
        Ok(staged)
    }

    /// Colourizes `frame` into `rgb` (`3 * width * height` bytes,
    /// interleaved 8-bit, in the input's colour space): the bytes
    /// [`Worker::stage`] encodes for an 8-bit output.
    pub fn render(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        rgb: &mut [u8],
    ) -> Result<()> {
        self.render_in(colorizer, frame, rgb, frame.space.as_ref())
    }

    /// [`Worker::render`] left in sRGB, whatever the input's profile: for
    /// scoring against [`Frame::srgb8`] and for figures beside an sRGB
    /// gray panel.
    pub fn render_srgb(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        rgb: &mut [u8],
    ) -> Result<()> {
        self.render_in(colorizer, frame, rgb, None)
    }

    fn render_in(
        &mut self,
        colorizer: &mut dyn Colorize,
        frame: &Frame,
        rgb: &mut [u8],
        space: Option<&InputSpace>,
    ) -> Result<()> {
        ensure!(
            rgb.len() == 3 * frame.width * frame.height,
            "output buffer has {} bytes, a {}x{} RGB image needs {}",
            rgb.len(),
            frame.width,
            frame.height,
            3 * frame.width * frame.height
        );
        let Worker { l, scratch, band8 } = self;
        let ab = predict(colorizer, l, frame)?;
        for (i, band) in rgb
            .chunks_mut(3 * frame.width * recombine::BAND_ROWS)
            .enumerate()
        {
            let y0 = i * recombine::BAND_ROWS;
            fill_band(
                &ab,
                frame,
                space,
                l,
                scratch,
                band8,
                y0,
                BandMut::Rgb8(band),
            )?;
        }
        Ok(())
    }

    /// An L* plane straight to sRGB8 ([`Worker::load_plane`], then
    /// [`Worker::render`]): the model on a plane, for tests and benchmarks.
    pub fn colorize_plane(
        &mut self,
        colorizer: &mut dyn Colorize,
        l: &[u16],
        width: usize,
        height: usize,
        rgb: &mut [u8],
    ) -> Result<()> {
        let frame = self.load_plane(l, width, height)?;
        self.render(colorizer, &frame, rgb)
    }
}

fn predict<'c>(colorizer: &'c mut dyn Colorize, l: &[u16], frame: &Frame) -> Result<AbPlanes<'c>> {
    colorizer
        .predict(l, frame.width, frame.height)
        .context("colourization failed")
}

/// The frame's L* box-filtered down to the preview's size (the model's own
/// resize), recombined there with the same a*b*; both halves sRGB.
fn fill_preview(
    ab: &AbPlanes<'_>,
    frame: &Frame,
    l: &[u16],
    scratch: &mut Vec<i32>,
    max_side: usize,
    preview: &mut Preview,
) {
    let (w, h) = Preview::size_for(frame.width, frame.height, max_side);
    let mut small = vec![0u16; w * h];
    contract::resize_l_plane(l, frame.width, frame.height, &mut small, w, h);
    preview.width = w;
    preview.height = h;
    preview.gray.clear();
    preview.gray.extend(small.iter().flat_map(|&v| {
        let g = lab::l_to_gray8(v);
        [g, g, g]
    }));
    preview.colour.resize(3 * w * h, 0);
    let need = recombine::scratch_len(ab.width, w);
    if scratch.len() < need {
        scratch.resize(need, 0);
    }
    recombine::frame(ab, &small, w, h, &mut preview.colour, scratch);
}

/// Rows `y0 ..` of the output: recombined at full resolution, taken to 16
/// bits at the same L* if asked, then into `space` (the input's, or none:
/// sRGB).
#[allow(clippy::too_many_arguments)]
fn fill_band(
    ab: &AbPlanes<'_>,
    frame: &Frame,
    space: Option<&InputSpace>,
    l: &[u16],
    scratch: &mut Vec<i32>,
    band8: &mut Vec<u8>,
    y0: usize,
    band: BandMut<'_>,
) -> Result<()> {
    let (w, h) = (frame.width, frame.height);
    let need = recombine::scratch_len(ab.width, w);
    if scratch.len() < need {
        scratch.resize(need, 0);
    }
    match band {
        BandMut::Rgb8(rgb) => {
            let l_rows = &l[w * y0..][..rgb.len() / 3];
            recombine::rows(ab, w, h, y0, l_rows, rgb, scratch);
            if let Some(space) = space {
                space.srgb8_to_input_space(rgb)?;
            }
        }
        BandMut::Rgb16(rgb) => {
            let l_rows = &l[w * y0..][..rgb.len() / 3];
            band8.resize(rgb.len(), 0);
            recombine::rows(ab, w, h, y0, l_rows, band8, scratch);
            lab16::rgb8_to_rgb16_at_l(band8, l_rows, rgb);
            if let Some(space) = space {
                space.srgb16_to_input_space(rgb)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paints one a*b* everywhere.
    struct Tint;

    impl Colorize for Tint {
        fn predict(&mut self, _: &[u16], _: usize, _: usize) -> Result<AbPlanes<'_>> {
            Ok(AbPlanes {
                width: 1,
                height: 1,
                a: &[20 * 256],
                b: &[30 * 256],
            })
        }
        fn provenance(&self) -> String {
            "test".into()
        }
    }

    #[test]
    fn preview_sizes_keep_the_aspect_and_never_upscale() {
        assert_eq!(Preview::size_for(2560, 1600, 240), (240, 150));
        assert_eq!(Preview::size_for(1600, 2560, 240), (150, 240));
        assert_eq!(Preview::size_for(100, 50, 240), (100, 50));
        assert_eq!(Preview::size_for(5000, 1, 240), (240, 1));
    }

    #[test]
    fn the_preview_is_the_output_at_thumbnail_size() {
        let (w, h) = (96, 64);
        let l: Vec<u16> = (0..w * h)
            .map(|i| ((i % w) * 100 * 256 / w) as u16)
            .collect();
        let mut worker = Worker::new();
        let frame = worker.load_plane(&l, w, h).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut preview = Preview::default();
        let staged = worker
            .stage_previewed(
                &mut Tint,
                &frame,
                &dir.path().join("o.png"),
                OutputSpec::PNG,
                48,
                &mut preview,
            )
            .unwrap();
        let out = image::open(staged.commit().unwrap()).unwrap().to_rgb8();
        assert_eq!((preview.width, preview.height), (48, 32));
        // Gray: neutral. Colour: the output box-filtered down, within rounding.
        assert!(preview.gray.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
        let small = image::imageops::resize(&out, 48, 32, image::imageops::FilterType::Triangle);
        let worst = small
            .as_raw()
            .iter()
            .zip(&preview.colour)
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .max()
            .unwrap();
        assert!(worst <= 12, "preview and output differ by {worst}");
        assert_eq!(preview.side_by_side().dimensions(), (96, 32));
    }
}
