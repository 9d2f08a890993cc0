//! `colorize info`: what model is in use, or what an output says about how
//! it was made.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use colorize_shared::contract::OutputKind;

use super::{thread_count, LimitArgs, ModelArg};
use crate::memory::{Budget, Source};
use colorize_io::memory;
use colorize_io::output::Format;
use colorize_io::pipeline::{Depth, OutputSpec};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  colorize info\n  colorize info --model models/colorize-default.onnx\n  \
    colorize info colorized/box1/0001.png   # its XMP: digital source type, tool and model, date\n  \
    colorize info --estimate masters/*.tif --threads 4   # which masters fit, and how many at once"
)]
pub struct Args {
    /// An image (PNG, JPEG, TIFF): print its XMP machine-colour declaration
    /// instead of the model's card; exits 1 if it has none.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Print the memory budget (as `colorize files` would have it) and
    /// each of these images' estimated need, read from its header, for
    /// an output in `--format`.
    #[arg(long, value_name = "IMAGE", num_args = 1..)]
    pub estimate: Vec<PathBuf>,
    /// The output format the estimates are for.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    /// Memory the program may use, in MiB, as `colorize files --memory`.
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u64>,
    /// Workers, as `colorize files --threads` (each has its share).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
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
    if model.takes_hints() {
        let (h, w) = g.ab_size();
        println!(
            "colour hints: yes, input `{}` [1, {}, {h}, {w}] (colorize files --hint, --hints, NAME.hints.json)",
            colorize_shared::contract::HINTS_NAME,
            colorize_shared::contract::HINT_CHANNELS
        );
    } else {
        println!("colour hints: no");
    }
    for (k, v) in model.metadata() {
        println!("{k}: {v}");
    }
    let threads = thread_count(args.threads);
    let budget = Budget::for_this_process(args.memory, Source::Flag, threads);
    println!("memory budget: {budget}, {threads} worker(s)");
    let spec = OutputSpec {
        format: args.format,
        depth: Depth::Same,
    };
    let mut failed = false;
    for path in &args.estimate {
        match memory::probe(path, &args.limits.limits()) {
            Ok(h) => {
                let need = memory::estimate(&h, spec);
                let verdict = if need > budget.images {
                    "does not fit: refused".to_string()
                } else {
                    let at_once = (budget.images / need.max(1)).min(threads as u64);
                    format!("fits, {at_once} at once")
                };
                println!(
                    "{}: {}, needs about {} MiB ({verdict})",
                    path.display(),
                    h.describe(),
                    need.div_ceil(1 << 20)
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {}: {e:#}", path.display());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
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
