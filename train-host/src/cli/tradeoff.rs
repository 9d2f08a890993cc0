//! `colorize-train tradeoff`: the faithful-vivid trade-off of models
//! ([`tradeoff::compare`]) and the default vividness it picks.

use std::path::PathBuf;

use anyhow::Result;

use crate::{resources, tradeoff};

/// Score distribution-head models over a sweep of vividness values, and
/// regression models as single points, on validation images; writes
/// tradeoff.csv, tradeoff.png and (for the first distribution-head model)
/// vividness.png, and prints the default vividness picked on these images.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train tradeoff --model runs/dist/best.ot --model runs/paper/best.ot --model runs/mlp/best.ot \\
      --data ~/.cache/colorize/val1000 --out models/
  colorize-train export runs/dist/best.ot --out model.onnx --vividness 0.6   # the printed default")]
pub struct Args {
    /// Checkpoints (.ot with .json beside); repeatable. The first
    /// distribution-head model gets the default and the grid.
    #[arg(long = "model", required = true)]
    pub models: Vec<PathBuf>,
    /// Names for the models in the plot, in --model order (default: the
    /// run folder's name).
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Validation images: folders or shards (repeatable).
    #[arg(long, required = true)]
    pub data: Vec<PathBuf>,
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Vividness values of the sweep, evenly spaced over 0..1.
    #[arg(long, default_value_t = 6)]
    pub points: usize,
    /// Rows of vividness.png.
    #[arg(long, default_value_t = 8)]
    pub grid_images: usize,
    /// The default vividness is the most colourful point whose gain is at
    /// least this many dB (default: within 0.25 dB of the curve's best),
    /// e.g. the shipped model's gain on the same images.
    #[arg(long, value_name = "DB")]
    pub min_gain: Option<f64>,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    pub vivid_temperature: Option<f32>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value = "auto")]
    pub device: String,
}

pub fn run(a: Args) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let opts = tradeoff::TradeoffOptions {
        models: a.models,
        names: a.names,
        data: a.data,
        max_images: a.max_images,
        points: a.points,
        grid_images: a.grid_images,
        min_gain: a.min_gain,
        vivid_temperature: a.vivid_temperature,
        out: a.out,
        batch_size: a.batch_size,
    };
    let outcome = tradeoff::compare(&opts, device)?;
    if let Some((name, v, s)) = &outcome.default {
        let rule = match opts.min_gain {
            Some(g) => format!("most colourful with a gain of at least {g:+.3} dB"),
            None => format!(
                "most colourful within {} dB of the best gain",
                tradeoff::DEFAULT_GAIN_SLACK_DB
            ),
        };
        println!(
            "default vividness of {name}: {v:.2} (gain {:+.3} dB, colourfulness ratio {:.3} on {} images; {rule})",
            s.psnr_gain, s.colourfulness_ratio, s.images,
        );
    } else if let (Some(g), true) = (opts.min_gain, outcome.has_dist) {
        eprintln!(
            "no vividness of the distribution head reaches a gain of {g:+.3} dB: no default picked"
        );
    }
    eprintln!(
        "wrote tradeoff.csv, tradeoff.png{} in {}",
        if outcome.default.is_some() {
            ", vividness.png"
        } else {
            ""
        },
        opts.out.display()
    );
    Ok(())
}
