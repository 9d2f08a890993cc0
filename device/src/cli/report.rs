//! `colorize report`: what the manifests of a batch say.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use crate::files::manifest::{Status, Totals};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize report manifests/*.jsonl\n  \
    cat manifests/*.jsonl > all.jsonl && colorize report all.jsonl")]
pub struct Args {
    /// Manifests written by `colorize files --manifest` (one per shard, or
    /// concatenated); later lines of an input supersede earlier ones.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// Prints counts, failures and throughput; exits 1 if an input's latest
/// record is a failure.
pub fn run(args: Args) -> Result<ExitCode> {
    let s = Totals::read(&args.manifests)?;
    print!("{}", s.render());
    Ok(if s.count(Status::Failed) > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
