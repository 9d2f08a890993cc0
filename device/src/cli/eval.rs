//! `colorize eval`: colour photos -> gray -> colourize -> the shared metrics
//! ([`crate::score`]), printed as the same JSON `colorize-train eval`
//! prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{ensure, Result};
use colorize_io::inputs::collect_inputs;

use super::{thread_count, Bar, LimitArgs, ModelArg};
use crate::score::score;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize eval --truth ../shared/data/sipi-color\n  \
    colorize eval --truth ../shared/data/sipi-color --model models/colorize-default.onnx")]
pub struct Args {
    /// Folder (searched recursively) or files of colour ground-truth images.
    #[arg(long, required = true, value_name = "DIR")]
    pub truth: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Images scored in parallel (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = args.model.load()?;
    let files = collect_inputs(&args.truth)?;
    ensure!(!files.is_empty(), "no images found in {:?}", args.truth);
    let bar = Bar::new("{bar:40} {pos}/{len} images, {elapsed} (eta {eta})");
    let scored = score(
        &model,
        &files,
        &args.limits.limits(),
        thread_count(args.threads),
        &bar,
    )?;
    bar.finish();
    let json = scored.summary.to_json();
    match model.vividness() {
        Some(v) => println!("{}, \"vividness\": {v}}}", json.trim_end_matches('}')),
        None => println!("{json}"),
    }
    Ok(if scored.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
