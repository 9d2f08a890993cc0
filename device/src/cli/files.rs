//! `colorize files`: the main job ([`crate::files`]), its arguments, its
//! progress bar and its summary line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use colorize_io::output::Format;
use colorize_io::pipeline::{Depth, OutputSpec};

use super::{thread_count, Bar, LimitArgs, ModelArg};
use crate::files::{self, shard::Shard, Batch};
use crate::memory::{Budget, Source};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize files photo.jpg --out colorized/\n  \
    colorize files scans/ more/old.tiff --out colorized/ --format jpeg --threads 4\n  \
    colorize files scans/ --out colorized/ --skip-existing   # resume a batch\n  \
    colorize files scans/ --out colorized/ --model models/colorize-default.onnx\n  \
    colorize files scans/ --out colorized/ --shard auto/16 --skip-existing --manifest m/$SLURM_ARRAY_TASK_ID.jsonl\n  \
    colorize files masters/ --out colorized/ --memory 1500   # big masters in 1.5 GiB\n  \
    colorize files meadow.jpg --out colorized/ --hint 800,900=#3a7d2c   # this point is green\n  \
    colorize files door.tif --out colorized/ --hints door.json")]
pub struct Args {
    /// Image files (PNG, JPEG, TIFF; 8 or 16 bit, gray or colour) and folders
    /// (searched recursively for .png, .jpg, .jpeg, .tif, .tiff).
    #[arg(required = true, value_name = "INPUTS")]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing): a file given directly becomes
    /// `<OUT>/<stem>.<ext>`, a file found in a folder argument
    /// `<OUT>/<its path under that folder>/<stem>.<ext>` (the tree mirrored).
    #[arg(long, short, value_name = "DIR")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
    #[command(flatten)]
    pub model: ModelArg,
    /// Images colourized in parallel (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Output bits per sample: `same` as the input (16-bit PNG and TIFF
    /// inputs give 16-bit PNG and TIFF outputs, lightness at full
    /// precision), `8`, or `16` (PNG and TIFF; JPEG is 8-bit only).
    #[arg(long, value_enum, default_value_t = Depth::Same)]
    pub depth: Depth,
    /// Colourize only shard K of N (0-based): inputs are split by a stable
    /// hash of their relative path, so N processes with K = 0..N-1 share a
    /// batch without overlap. `auto/N` takes K from SLURM_ARRAY_TASK_ID
    /// (Slurm job arrays) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Append one JSON line per input (input, output, status: ok, failed
    /// with the error, or skipped; ms, model, shard) to FILE; `colorize
    /// report` sums manifests up.
    #[arg(long, value_name = "FILE.jsonl")]
    pub manifest: Option<PathBuf>,
    /// Leave inputs whose output already exists alone (resumes a batch).
    #[arg(long)]
    pub skip_existing: bool,
    /// Memory the whole program may use, in MiB: images are colourized
    /// at once only as far as their estimated peaks fit in it, and one
    /// that cannot fit alone is refused. Default: the cgroup's memory
    /// limit if there is one, else the memory available now (`colorize
    /// info --estimate FILE...` shows the budget and each file's need).
    #[arg(
        long,
        value_name = "MIB",
        help_heading = "Input limits (checked against each file's header before decoding)"
    )]
    pub memory: Option<u64>,
    /// A colour the image has at a point, for a model that takes hints
    /// (repeatable; one input image only): `X,Y=#RRGGBB` (sRGB) or
    /// `X,Y=L,a,b` (CIE Lab), X and Y in pixels of the input or, both with
    /// `%`, as shares of its width and height; `/R` after the colour gives
    /// a radius (pixels, or `%` of the width). The model spreads the colour
    /// over the object around the point.
    #[arg(long, value_name = "X,Y=COLOUR", help_heading = "Colour hints")]
    pub hint: Vec<String>,
    /// Colour hints for the one input image, as a JSON file (README,
    /// "Colour hints"). Without --hint or --hints, an input's sidecar
    /// `NAME.hints.json` beside it is used where there is one.
    #[arg(long, value_name = "FILE.json", help_heading = "Colour hints")]
    pub hints: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The hints of `--hint` and `--hints`, checked before any work: they are
/// for one input image, and the model must take them.
fn given_hints(args: &Args, model: &crate::Model) -> Result<Option<crate::hinted::Given>> {
    if args.hint.is_empty() && args.hints.is_none() {
        return Ok(None);
    }
    if args.inputs.len() != 1 || args.inputs[0].is_dir() {
        bail!("--hint and --hints are for one input image; for a batch, put each image's hints beside it as NAME.hints.json");
    }
    let mut hints = Vec::new();
    let mut origin = Vec::new();
    if let Some(file) = &args.hints {
        hints.extend(colorize_io::hints::read_file(file)?);
        origin.push(file.display().to_string());
    }
    for h in &args.hint {
        hints.push(colorize_io::hints::parse_arg(h)?);
    }
    if !args.hint.is_empty() {
        origin.push("--hint".to_string());
    }
    if !model.takes_hints() {
        bail!(
            "{} takes no colour hints (it has no `hints` input); use a model trained with them (colorize-train train --hints)",
            model.source()
        );
    }
    Ok(Some(crate::hinted::Given {
        hints,
        origin: origin.join(" and "),
    }))
}

pub fn run(args: Args) -> Result<ExitCode> {
    let start = Instant::now();
    if args.depth == Depth::Sixteen && args.format == Format::Jpeg {
        bail!("--depth 16: JPEG holds 8-bit samples only; use --format png or --format tiff");
    }
    let shard = args
        .shard
        .as_deref()
        .map(|s| Shard::parse(s, |k| std::env::var(k).ok()))
        .transpose()?;
    let model = args.model.load()?;
    let hints = given_hints(&args, &model)?;
    let threads = thread_count(args.threads);
    let batch = Batch {
        out: args.out.clone(),
        spec: OutputSpec {
            format: args.format,
            depth: args.depth,
        },
        shard,
        manifest: args.manifest.clone(),
        skip_existing: args.skip_existing,
        threads,
        limits: args.limits.limits(),
        budget: Budget::for_this_process(args.memory, Source::Flag, threads),
        hints,
    };
    let bar = Bar::new("{bar:40} {pos}/{len} images, {elapsed} (eta {eta}) {msg}");
    let done = files::run(&model, &args.inputs, &batch, &bar)?;
    bar.finish();
    let mut summary = format!("{} ok, {} failed", done.ok, done.failed);
    if done.skipped > 0 {
        summary += &format!(", {} skipped", done.skipped);
    }
    if done.stopped {
        summary = format!(
            "stopped by a signal: {summary}, {} not started (rerun with --skip-existing to finish)",
            done.not_started
        );
    }
    let mut summary = format!("{summary}, {:.2} s", start.elapsed().as_secs_f64());
    // Say so when memory, not --threads, set the pace.
    if done.most_at_once > 0 && done.most_at_once < threads.min(done.ok + done.failed) {
        summary += &format!(
            "; at most {} at once (memory budget {} MiB)",
            done.most_at_once,
            batch.budget.images >> 20
        );
    }
    println!("{summary}");
    Ok(if done.failed > 0 || done.stopped {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
