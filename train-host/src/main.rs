//! `colorize-train`: trains the colourization models with libtorch, scores
//! checkpoints, colourizes with them and exports them to ONNX. The command
//! line is the library's `cli` module.

use anyhow::Result;
use clap::Parser;
use colorize_train::cli::{self, Cli};

fn main() -> Result<()> {
    cli::run(Cli::parse())
}
