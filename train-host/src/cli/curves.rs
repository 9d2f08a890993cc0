//! `colorize-train curves`: redraws a run's curves.png.

use std::path::PathBuf;

use anyhow::Result;

use crate::report;

/// Redraw a run's curves.png from its metrics.csv (the figure a run writes
/// after every epoch, with the current drawing code).
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train curves ~/.cache/colorize/runs/default/metrics.csv --out /tmp/curves.png")]
pub struct Args {
    /// A run's metrics.csv.
    pub metrics: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    report::redraw_curves(&a.metrics, &a.out)
}
