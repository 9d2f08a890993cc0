//! `colorize-train status`: where a training run stands.

use std::path::PathBuf;

use anyhow::Result;

/// Where a training run stands: epoch, images seen, best val gain, speed, ETA.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train status ~/.cache/colorize/runs/default")]
pub struct Args {
    /// The run folder (--out of `train`).
    pub run: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let s = crate::status::read(&a.run)?;
    print!("{s}");
    Ok(())
}
