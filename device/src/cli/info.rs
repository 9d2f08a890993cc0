//! `colorize info`: what model is in use, or what an output says about how
//! it was made.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use colorize_shared::contract::OutputKind;

use super::ModelArg;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  colorize info\n  colorize info --model models/colorize-default.onnx\n  \
    colorize info colorized/box1/0001.png   # its XMP: digital source type, tool and model, date"
)]
pub struct Args {
    /// An image (PNG, JPEG, TIFF): print its XMP machine-colour declaration
    /// instead of the model's card; exits 1 if it has none.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(args: Args) -> Result<ExitCode> {
    if let Some(file) = &args.file {
        return file_info(file);
    }
    let model = args.model.load()?;
    let g = model.geometry();
    println!("model: {}", model.source());
    match g.output {
        OutputKind::Ab { height, width } => println!(
            "input: [1, 1, {}, {}] L*, output: [1, 2, {height}, {width}] a*b*",
            g.height, g.width
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

fn file_info(path: &Path) -> Result<ExitCode> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: can not read", path.display()))?;
    println!("file: {}", path.display());
    let Some(d) = colorize_io::xmp::read(&bytes) else {
        println!("no XMP metadata: not declared as colourized by a machine");
        return Ok(ExitCode::FAILURE);
    };
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
    println!("DigitalSourceType: {}", show(&d.digital_source_type));
    println!("CreatorTool: {}", show(&d.creator_tool));
    println!("ModifyDate: {}", show(&d.modify_date));
    let machine = d.digital_source_type.as_deref() == Some(colorize_io::xmp::DIGITAL_SOURCE_TYPE);
    println!(
        "{}",
        if machine {
            "colour made by a trained model, lightness from the original capture"
        } else {
            "not declared as colourized by a machine"
        }
    );
    Ok(if machine {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
