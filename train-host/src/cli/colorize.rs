//! `colorize-train colorize`: image files colourized with a checkpoint at
//! full resolution, through the device's colourize path
//! ([`colorize_io::pipeline::Worker`]): the same decoding limits, ICC, EXIF
//! and encoders as `colorize files`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_io::images::{self, DecodeLimits};
use colorize_io::output::{self, Format};
use colorize_io::pipeline::{Depth, OutputSpec, Worker};
use colorize_shared::lab;

use crate::colorizer::TorchColorizer;
use crate::{checkpoint, resources};

/// Colourize image files with a checkpoint at full resolution (a quick look).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train colorize --model /tmp/run/best.ot ../shared/data/sipi-color/*.png -o /tmp/colour
  colorize-train colorize --model /tmp/run/best.ot photo.jpg -o /tmp/fig --max-side 480 --with-gray --format jpg")]
pub struct Args {
    #[arg(long)]
    pub model: PathBuf,
    /// Input images.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder (files named after the inputs).
    #[arg(short, long)]
    pub out: PathBuf,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Figures: shrink the output (and the gray panel) to at most this on
    /// its longer side. The image is colourized at full size first, as
    /// `colorize files` would; the model always sees its input size.
    #[arg(long)]
    pub max_side: Option<u32>,
    /// Figures: the gray input and the colourized result side by side.
    #[arg(long)]
    pub with_gray: bool,
    /// Vividness 0..1 of a distribution-head model (see `eval --vividness`).
    #[arg(long, default_value_t = 0.0)]
    pub vividness: f32,
    /// Output format (JPEG at the device's quality).
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
}

pub fn run(a: Args) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let (_vs, mut model, _) = checkpoint::load_checkpoint(&a.model, device)?;
    model.set_vividness(a.vividness);
    let name = a.model.display().to_string();
    let mut colorizer = TorchColorizer::new(&model, device, &name);
    let mut worker = Worker::new();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    output::prepare_folder(&a.out)?;
    for path in &a.inputs {
        let out = colorize_one(&mut colorizer, &mut worker, path, &a)?;
        eprintln!("{} -> {}", path.display(), out.display());
    }
    Ok(())
}

/// One input: staged and committed as `colorize files` does, or, for a
/// figure, rendered whole, laid out and encoded.
fn colorize_one(
    colorizer: &mut TorchColorizer<'_>,
    worker: &mut Worker,
    path: &Path,
    a: &Args,
) -> Result<PathBuf> {
    let (img, meta) = images::open_with_metadata(path, &DecodeLimits::DEFAULT)?;
    let named = || path.display().to_string();
    let frame = worker.load(img, meta).with_context(named)?;
    if let Some(note) = &frame.note {
        eprintln!("note: {}: {note}", path.display());
    }
    let stem = path.file_stem().context("input has no file name")?;
    // Not `with_extension`: stems like "4.1.01" contain dots.
    let out = a.out.join(format!(
        "{}.{}",
        stem.to_string_lossy(),
        a.format.extension()
    ));
    if !a.with_gray && a.max_side.is_none() {
        let spec = OutputSpec {
            format: a.format,
            depth: Depth::Same,
        };
        return worker
            .stage(colorizer, &frame, &out, spec)
            .and_then(|staged| staged.commit())
            .with_context(named);
    }
    let (w, h) = (frame.width, frame.height);
    let mut rgb = vec![0u8; 3 * w * h];
    // sRGB, like the gray panel beside it (the figure carries no profile).
    worker
        .render_srgb(colorizer, &frame, &mut rgb)
        .with_context(named)?;
    let colour = image::RgbImage::from_raw(w as u32, h as u32, rgb).context("image buffer size")?;
    let mut figure = if a.with_gray {
        let l = worker.l_plane();
        let mut both = image::RgbImage::new(2 * w as u32, h as u32);
        for (x, y, p) in colour.enumerate_pixels() {
            let g = lab::lab_to_rgb8(l[y as usize * w + x as usize], 0, 0);
            both.put_pixel(x, y, image::Rgb(g));
            both.put_pixel(x + w as u32, y, *p);
        }
        both
    } else {
        colour
    };
    if let Some(max) = a.max_side {
        let (fw, fh) = figure.dimensions();
        let side = if a.with_gray { fw / 2 } else { fw }.max(fh);
        if side > max {
            let (nw, nh) = (
                (fw as u64 * max as u64 / side as u64).max(1) as u32,
                (fh as u64 * max as u64 / side as u64).max(1) as u32,
            );
            figure =
                image::imageops::resize(&figure, nw, nh, image::imageops::FilterType::Triangle);
        }
    }
    let (fw, fh) = (figure.width() as usize, figure.height() as usize);
    let mut bytes = Vec::new();
    output::encode(
        &mut bytes,
        a.format,
        fw,
        fh,
        figure.as_raw(),
        &colorize_io::pipeline::Colorize::provenance(colorizer),
        &Default::default(),
    )?;
    let dir = out.parent().unwrap_or(Path::new("."));
    let name = out.file_name().context("output has no file name")?;
    output::write_atomic(dir, &name.to_string_lossy(), &bytes)
}
