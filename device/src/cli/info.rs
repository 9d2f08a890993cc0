//! `colorize info`: what model is in use.

use std::process::ExitCode;

use anyhow::Result;

use colorize_shared::contract::OutputKind;

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
    match g.output {
        OutputKind::Ab => println!(
            "input: [1, 1, {}, {}] L*, output: [1, 2, {}, {}] a*b*",
            g.height, g.width, g.height, g.width
        ),
        OutputKind::Bins { height, width } => println!(
            "input: [1, 1, {}, {}] L*, output: [1, {}, {height}, {width}] a*b* bin logits, decoded at vividness {}",
            g.height,
            g.width,
            colorize_shared::contract::AB_BINS,
            model.vividness().unwrap_or(0.0)
        ),
    }
    for (k, v) in model.metadata() {
        println!("{k}: {v}");
    }
    Ok(ExitCode::SUCCESS)
}
