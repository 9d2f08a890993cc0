//! `colorize-train eval`: scores a checkpoint with the shared metrics.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::model::Head;
use crate::{checkpoint, data, eval, report, resources};

/// Score a checkpoint with the shared metrics; prints one JSON object.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train eval --model /tmp/run/best.ot --data ../shared/data/tiny-imagenet/val.tar.gz
  colorize-train eval --model runs/fish/best.ot --data ../shared/data/sipi-color --max-images 100
  colorize-train eval --model runs/fish/last.ot --data fish/test --grid fish-test.png --grid-images 12")]
pub struct Args {
    /// Checkpoint (.ot with its .json beside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Truth images: folders or shards (repeatable).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    /// Score at most this many images (the first ones in file order).
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Also skip images whose mean a*b* chroma is below this at load. Truths
    /// under colorize_shared::metrics::GRAY_CHROMA_THRESHOLD are always
    /// skipped and counted in `skipped_gray`, as `colorize eval` does.
    #[arg(long, default_value_t = 0.0)]
    pub gray_threshold: f32,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Also write a PNG grid of the first --grid-images images (gray truths
    /// included), one row each: gray input | prediction | truth (2x enlarged).
    #[arg(long)]
    pub grid: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    pub grid_images: usize,
    /// Vividness 0..1 of a distribution-head model's decode (0: faithful,
    /// the mean of the data's own colour distribution; 1: vivid, the
    /// rebalanced distribution sharpened); see colour_bins::BinDecoding.
    /// Regression models have no such setting and ignore it.
    #[arg(long, default_value_t = 0.0)]
    pub vividness: f32,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    pub vivid_temperature: Option<f32>,
    /// Also write one CSV row per image (in load order): PSNR, PSNR of
    /// predicting gray, colourfulness of prediction and truth, and the shares
    /// of green (a* < -5) and blue (b* < -5) pixels in truth and prediction.
    #[arg(long)]
    pub per_image: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let (_vs, mut model, _) = checkpoint::load_checkpoint(&a.model, device)?;
    if !(0.0..=1.0).contains(&a.vividness) {
        bail!("--vividness must be in 0..1, got {}", a.vividness);
    }
    model.set_vivid_temperature(a.vivid_temperature)?;
    model.set_vividness(a.vividness);
    if model.config.head == Head::Regression && a.vividness != 0.0 {
        eprintln!(
            "note: {} is a regression model: --vividness does not apply",
            a.model.display()
        );
    }
    let opts = data::LoadOptions {
        size: model.config.sample_size(),
        classes: None,
        gray_threshold: a.gray_threshold,
        max_images: a.max_images,
        squash_crops: None,
        progress: true,
    };
    let (samples, report) = data::load(&a.data, &opts)?;
    if samples.is_empty() {
        bail!("no images to evaluate in --data");
    }
    let mut bs = a.batch_size.max(1);
    let (_, mut summary, scores) =
        eval::evaluate_per_image(&model, None, &samples, &mut bs, device)?;
    if let Some(path) = &a.per_image {
        let csv = eval::per_image_csv(&scores);
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    // Gray truths dropped at load (--gray-threshold) and by the shared metrics
    // are one count, as `colorize eval` reports it.
    summary.skipped_gray += report.skipped_gray;
    if let Some(path) = &a.grid {
        let n = a.grid_images.min(samples.len());
        report::write_samples(path, &model, &samples[..n], &mut bs, device)?;
        eprintln!(
            "wrote {} ({n} rows: gray | prediction | truth)",
            path.display()
        );
    }
    // The shared summary's fields first, as `colorize eval` prints them, then
    // what only the trainer knows.
    let json = summary.to_json();
    let json = json.trim_end().trim_end_matches('}');
    println!(
        "{json}, \"model\": {}, \"arch\": \"{}\", \"head\": \"{}\", \"vividness\": {}, \"temperature\": {:.4}, \"input_size\": {}, \"unreadable\": {}}}",
        serde_json::to_string(&a.model.display().to_string())?,
        model.config.arch.name(),
        format!("{:?}", model.config.head).to_lowercase(),
        a.vividness,
        model.annealing.temperature,
        model.config.size,
        report.failed
    );
    Ok(())
}
