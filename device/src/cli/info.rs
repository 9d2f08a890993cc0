//! `colorize info`: what model is in use.

use std::process::ExitCode;

use anyhow::Result;

use super::ModelArg;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  colorize info\n  colorize info --model models/colorize-default.onnx"
)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = args.model.load()?;
    let g = model.geometry();
    println!("model: {}", model.source());
    println!(
        "input: [1, 1, {}, {}] L*, output: [1, 2, {}, {}] a*b*",
        g.height, g.width, g.height, g.width
    );
    for (k, v) in model.metadata() {
        println!("{k}: {v}");
    }
    Ok(ExitCode::SUCCESS)
}
