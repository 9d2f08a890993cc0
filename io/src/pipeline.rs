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
use colorize_shared::lab16;
use colorize_shared::recombine::{self, AbPlanes};
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
        output::stage_image_bands(
            output,
            spec.format,
            (frame.width, frame.height, sixteen),
            &provenance,
            &frame.meta,
            &mut fill,
        )
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
