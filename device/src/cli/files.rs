//! `colorize files`: the main job. Every input becomes `<out>/<stem>.<ext>`
//! at the input's full size; one bad input costs one error line, not the
//! batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::{thread_count, LimitArgs, ModelArg};
use crate::images::{self, DecodeLimits};
use crate::output::{self, Format};
use crate::Session;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize files photo.jpg --out colorized/\n  \
    colorize files scans/ more/old.tiff --out colorized/ --format jpeg --threads 4\n  \
    colorize files scans/ --out colorized/ --skip-existing   # resume a batch\n  \
    colorize files scans/ --out colorized/ --model models/colorize-default.onnx")]
pub struct Args {
    /// Image files (PNG, JPEG, TIFF; 8 or 16 bit, gray or colour) and folders
    /// (searched recursively for .png, .jpg, .jpeg, .tif, .tiff).
    #[arg(required = true, value_name = "INPUTS")]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing); outputs are `<OUT>/<stem>.<ext>`.
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
    /// Leave inputs whose output already exists alone (resumes a batch).
    #[arg(long)]
    pub skip_existing: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let start = Instant::now();
    let model = args.model.load()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: can not create the output folder", args.out.display()))?;
    output::prepare_folder(&args.out)?;

    let mut failed = 0usize;
    let mut skipped = 0usize;
    let mut jobs: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    for input in &args.inputs {
        let found = match images::collect_inputs(std::slice::from_ref(input)) {
            Ok(found) => found,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
                continue;
            }
        };
        for file in found {
            let stem = file
                .file_stem()
                .unwrap_or(file.as_os_str())
                .to_string_lossy();
            let output = args.out.join(format!("{stem}.{}", args.format.extension()));
            if let Some(first) = claimed.get(&output) {
                eprintln!(
                    "error: {}: its output {} would overwrite the output of {}",
                    file.display(),
                    output.display(),
                    first.display()
                );
                failed += 1;
                continue;
            }
            claimed.insert(output.clone(), file.clone());
            // Outputs appear only by rename, so one that exists is complete
            // (a temp file has another name and never counts).
            if args.skip_existing && output.is_file() {
                skipped += 1;
                continue;
            }
            jobs.push((file, output));
        }
    }

    let bar = ProgressBar::new(jobs.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {elapsed} (eta {eta}) {msg}")
            .expect("valid template"),
    );
    let provenance = model.provenance();
    let limits = args.limits.limits();
    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    let threads = thread_count(args.threads).min(jobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut session = match model.session() {
                    Ok(session) => session,
                    Err(e) => {
                        bar.suspend(|| eprintln!("error: {e:#}"));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((input, output)) = jobs.get(i) else {
                        break;
                    };
                    match colorize_file(
                        &mut session,
                        input,
                        output,
                        args.format,
                        &provenance,
                        &limits,
                    ) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            bar.suspend(|| eprintln!("error: {e:#}"));
                        }
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let ok = ok.into_inner();
    // Jobs no worker reached (only if every session failed) count as failed.
    let failed = failed + jobs.len() - ok;
    let mut summary = format!("{ok} ok, {failed} failed");
    if skipped > 0 {
        summary += &format!(", {skipped} skipped");
    }
    println!("{summary}, {:.2} s", start.elapsed().as_secs_f64());
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads `input`, colourizes it at full size and writes `output` atomically.
pub fn colorize_file(
    session: &mut Session<'_>,
    input: &Path,
    output: &Path,
    format: Format,
    provenance: &str,
    limits: &DecodeLimits,
) -> Result<()> {
    let plane = images::load_l(input, limits)?;
    let mut rgb = vec![0u8; 3 * plane.l.len()];
    session
        .colorize_l(&plane.l, plane.width, plane.height, &mut rgb)
        .with_context(|| format!("{}: colourization failed", input.display()))?;
    output::write_image(output, format, plane.width, plane.height, &rgb, provenance)
        .with_context(|| input.display().to_string())
}
