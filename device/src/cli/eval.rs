//! `colorize eval`: colour photos -> gray -> colourize -> the shared metrics
//! ([`crate::score`]), printed as the same JSON `colorize-train eval`
//! prints; `--per-image` adds one JSON line per photo in a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{ensure, Context, Result};
use colorize_io::inputs::collect_inputs;
use serde::Serialize;

use super::{thread_count, Bar, LimitArgs, ModelArg};
use crate::score::{score, PerImage};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize eval --truth ../shared/data/sipi-color\n  \
    colorize eval --truth ../shared/data/sipi-color --model models/colorize-default.onnx\n  \
    colorize eval --truth ../shared/data/photo-val --per-image photo-val.jsonl")]
pub struct Args {
    /// Folder (searched recursively) or files of colour ground-truth images.
    #[arg(long, required = true, value_name = "DIR")]
    pub truth: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Images scored in parallel (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Also write one JSON line per input image to FILE, in input order: its
    /// base name ("file"), psnr, psnr_gray, psnr_gain, colourfulness_pred
    /// and _truth, green_truth_pct and green_pred_pct (pixels with a* < -5,
    /// in percent), mean_a_truth, mean_b_truth, mean_a_pred and mean_b_pred
    /// (Lab units). Gray truths get "skipped_gray": true, unreadable files
    /// "error".
    #[arg(long, value_name = "FILE")]
    pub per_image: Option<PathBuf>,
    /// `random:N`: give a model that takes colour hints N points per photo,
    /// drawn from its truth (each the mean colour of a small patch, the
    /// same points in every run), and report how many were followed
    /// (ΔE_ab <= 6 at the point, of those in sRGB's gamut there) and how far
    /// their colours spread over their regions.
    #[arg(long, value_name = "random:N", value_parser = parse_random_hints)]
    pub hints: Option<usize>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_random_hints(s: &str) -> Result<usize, String> {
    s.strip_prefix("random:")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=colorize_io::hints::MAX_HINTS).contains(n))
        .ok_or_else(|| {
            format!(
                "expected random:N with N in 1..={}, e.g. random:5",
                colorize_io::hints::MAX_HINTS
            )
        })
}

pub fn run(args: Args) -> Result<ExitCode> {
    let model = args.model.load()?;
    let files = collect_inputs(&args.truth)?;
    ensure!(!files.is_empty(), "no images found in {:?}", args.truth);
    // Opened first, so a path that can not be written fails before the work.
    let per_image_out = args
        .per_image
        .as_ref()
        .map(|p| File::create(p).with_context(|| format!("{}: can not create", p.display())))
        .transpose()?;
    let bar = Bar::new("{bar:40} {pos}/{len} images, {elapsed} (eta {eta})");
    let scored = score(
        &model,
        &files,
        &args.limits.limits(),
        thread_count(args.threads),
        per_image_out.is_some(),
        args.hints,
        &bar,
    )?;
    bar.finish();
    if let (Some(out), Some(path)) = (per_image_out, &args.per_image) {
        write_per_image(out, &files, &scored.per_image)
            .with_context(|| format!("{}: can not write", path.display()))?;
    }
    let mut json = scored.summary.to_json().trim_end_matches('}').to_string();
    if let Some(v) = model.vividness() {
        json += &format!(", \"vividness\": {v}");
    }
    if let (Some(n), Some(h)) = (args.hints, scored.hints) {
        json += &format!(
            ", \"hints_per_image\": {n}, \"hints\": {}, \"hints_in_gamut\": {}, \"hint_fidelity\": {:.4}, \"hint_spread\": {:.4}",
            h.given,
            h.in_gamut,
            h.fidelity(),
            h.spread()
        );
    }
    println!("{json}}}");
    Ok(if scored.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// One `--per-image` line; fields in this order, absent ones left out.
#[derive(Serialize)]
struct Line<'a> {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_gray: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(flatten)]
    scores: Option<Scores>,
}

#[derive(Serialize)]
struct Scores {
    psnr: f64,
    psnr_gray: f64,
    psnr_gain: f64,
    colourfulness_pred: f64,
    colourfulness_truth: f64,
    green_truth_pct: f64,
    green_pred_pct: f64,
    mean_a_truth: f64,
    mean_b_truth: f64,
    mean_a_pred: f64,
    mean_b_pred: f64,
}

/// Four decimals, as the summary prints.
fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

fn write_per_image(out: File, files: &[PathBuf], outcomes: &[PerImage]) -> Result<()> {
    let mut out = BufWriter::new(out);
    for (path, outcome) in files.iter().zip(outcomes) {
        let file = path
            .file_name()
            .unwrap_or_else(|| path.as_os_str())
            .to_string_lossy()
            .into_owned();
        let line = match outcome {
            PerImage::Scored(s) => Line {
                file,
                skipped_gray: Some(false),
                error: None,
                scores: Some(Scores {
                    psnr: r4(s.psnr),
                    psnr_gray: r4(s.psnr_gray),
                    psnr_gain: r4(s.psnr - s.psnr_gray),
                    colourfulness_pred: r4(s.colourfulness_pred),
                    colourfulness_truth: r4(s.colourfulness_truth),
                    green_truth_pct: r4(100.0 * s.green_truth),
                    green_pred_pct: r4(100.0 * s.green_pred),
                    mean_a_truth: r4(s.mean_a_truth),
                    mean_b_truth: r4(s.mean_b_truth),
                    mean_a_pred: r4(s.mean_a_pred),
                    mean_b_pred: r4(s.mean_b_pred),
                }),
            },
            PerImage::SkippedGray => Line {
                file,
                skipped_gray: Some(true),
                error: None,
                scores: None,
            },
            PerImage::Failed(e) => Line {
                file,
                skipped_gray: None,
                error: Some(e),
                scores: None,
            },
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
