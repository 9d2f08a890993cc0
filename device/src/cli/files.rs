//! `colorize files`: the main job. Every input becomes `<out>/<stem>.<ext>`,
//! or `<out>/<path under its folder argument>/<stem>.<ext>` for files found
//! in a folder, at the input's full size; one bad input costs one error
//! line, not the batch.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::{thread_count, LimitArgs, ModelArg};
use crate::batch;
use crate::images::{self, DecodeLimits};
use crate::output::{self, BandMut, Format};
use crate::Session;
use colorize_shared::lab16;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    colorize files photo.jpg --out colorized/\n  \
    colorize files scans/ more/old.tiff --out colorized/ --format jpeg --threads 4\n  \
    colorize files scans/ --out colorized/ --skip-existing   # resume a batch\n  \
    colorize files scans/ --out colorized/ --model models/colorize-default.onnx\n  \
    colorize files scans/ --out colorized/ --shard auto/16 --skip-existing --manifest m/$SLURM_ARRAY_TASK_ID.jsonl")]
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
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Output bits per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Depth {
    #[value(name = "8")]
    Eight,
    #[value(name = "16")]
    Sixteen,
    Same,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let start = Instant::now();
    if args.depth == Depth::Sixteen && args.format == Format::Jpeg {
        bail!("--depth 16: JPEG holds 8-bit samples only; use --format png or --format tiff");
    }
    let shard = args
        .shard
        .as_deref()
        .map(|s| batch::Shard::parse(s, |k| std::env::var(k).ok()))
        .transpose()?;
    let model = args.model.load()?;
    let manifest = args
        .manifest
        .as_deref()
        .map(batch::Manifest::open)
        .transpose()?;
    let shard_text = shard.map(|s| format!("{}/{}", s.index, s.count));
    let record = |input: &Path, output: &Path, status, error: Option<String>, ms| {
        let Some(m) = &manifest else { return };
        let r = batch::Record {
            input: input.display().to_string(),
            output: output.display().to_string(),
            status,
            error,
            ms,
            model: model.id().to_string(),
            shard: shard_text.clone(),
        };
        if let Err(e) = m.append(&r) {
            eprintln!("error: {e:#}");
        }
    };

    let mut failed = 0usize;
    let mut found = Vec::new();
    for input in &args.inputs {
        match images::collect_tree(std::slice::from_ref(input)) {
            Ok(files) => found.extend(files),
            Err(e) => {
                eprintln!("error: {e:#}");
                record(
                    input,
                    Path::new(""),
                    batch::Status::Failed,
                    Some(format!("{e:#}")),
                    0.0,
                );
                failed += 1;
            }
        }
    }
    // Clashes are checked over the whole batch, so every shard agrees.
    let mut planned = plan_outputs(&found, &args.out, args.format)?;
    // `--out` onto the inputs' own folder in their own format would replace
    // the masters.
    let own = planned
        .iter()
        .filter(|j| same_file(&j.input, &j.output))
        .inspect(|j| eprintln!("error: {}: its output would replace it", j.input.display()))
        .count();
    if own > 0 {
        bail!("{own} input(s) would be overwritten by their own output; nothing was written (choose another --out or --format)");
    }
    if let Some(shard) = shard {
        planned.retain(|j| shard.owns(&j.relative));
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: can not create the output folder", args.out.display()))?;
    let folders: BTreeSet<&Path> = std::iter::once(args.out.as_path())
        .chain(planned.iter().filter_map(|j| j.output.parent()))
        .collect();
    for folder in folders {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("{}: can not create the output folder", folder.display()))?;
        output::prepare_folder(folder)?;
    }
    let mut skipped = 0usize;
    let mut jobs: Vec<Job> = Vec::new();
    for job in planned {
        // Outputs appear only by rename, so one that exists is complete
        // (a temp file has another name and never counts).
        if args.skip_existing && job.output.is_file() {
            record(
                &job.relative,
                &job.output,
                batch::Status::Skipped,
                None,
                0.0,
            );
            skipped += 1;
            continue;
        }
        jobs.push(job);
    }

    let bar = ProgressBar::new(jobs.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} images, {elapsed} (eta {eta}) {msg}")
            .expect("valid template"),
    );
    let provenance = model.provenance();
    let limits = args.limits.limits();
    // SIGTERM (Slurm's scancel, Kubernetes, systemd) or Ctrl-C: finish the
    // images in flight, record them, start no more; a second signal ends at
    // once (its image stays a temp file, swept by the next run).
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .context("cannot install signal handlers")?;
    }
    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    let threads = thread_count(args.threads).min(jobs.len().max(1));
    // Workers encode into temp files; one committer makes each durable and
    // renames it (fsync waits on the disk, not the CPU), so a worker is on
    // the next image meanwhile. Bounded: at most one image a worker waits.
    let (commit, committed) =
        std::sync::mpsc::sync_channel::<(&Job, output::Staged, Instant)>(threads);
    let finish = |job: &Job, result: Result<()>, t: Instant| {
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
                record(&job.relative, &job.output, batch::Status::Ok, None, ms);
            }
            Err(e) => {
                bar.suspend(|| eprintln!("error: {e:#}"));
                let why = Some(format!("{e:#}"));
                record(&job.relative, &job.output, batch::Status::Failed, why, ms);
            }
        }
        bar.inc(1);
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            for (job, staged, t) in committed {
                let done = staged.commit().map(drop);
                finish(
                    job,
                    done.with_context(|| job.input.display().to_string()),
                    t,
                );
            }
        });
        for _ in 0..threads {
            let commit = commit.clone();
            s.spawn(|| {
                let commit = commit;
                let mut session = match model.session() {
                    Ok(session) => session,
                    Err(e) => {
                        bar.suspend(|| eprintln!("error: {e:#}"));
                        return;
                    }
                };
                // This worker's L* plane, reused from image to image.
                let mut l = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        break;
                    };
                    let t = Instant::now();
                    let staged = stage_file(
                        &mut session,
                        &mut l,
                        &job.input,
                        &job.output,
                        (args.format, args.depth),
                        &provenance,
                        &limits,
                    );
                    match staged {
                        // The committer outlives the workers: it is there.
                        Ok(staged) => drop(commit.send((job, staged, t))),
                        Err(e) => finish(job, Err(e), t),
                    }
                }
            });
        }
        drop(commit);
    });
    bar.finish_and_clear();
    let ok = ok.into_inner();
    let stopped = stop.load(Ordering::Relaxed);
    let started = next.into_inner().min(jobs.len());
    // Jobs no worker reached count as failed, unless a signal stopped the
    // batch (only if every session failed, otherwise).
    let not_started = if stopped { jobs.len() - started } else { 0 };
    let failed = failed + jobs.len() - not_started - ok;
    let mut summary = format!("{ok} ok, {failed} failed");
    if skipped > 0 {
        summary += &format!(", {skipped} skipped");
    }
    if stopped {
        summary = format!(
            "stopped by a signal: {summary}, {not_started} not started (rerun with --skip-existing to finish)"
        );
    }
    println!("{summary}, {:.2} s", start.elapsed().as_secs_f64());
    Ok(if failed > 0 || stopped {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether `a` and `b` are one existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// One input of a batch and its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub input: PathBuf,
    /// Its path under its folder argument (or its file name): what shards
    /// and manifests name it by.
    pub relative: PathBuf,
    pub output: PathBuf,
}

/// Each input's output: `out/<relative folder>/<stem>.<ext>`. Two inputs
/// with one output (`a.png` and `a.jpg`, or two folder arguments holding
/// the same relative path) are an error before anything is written, naming
/// every such pair.
pub fn plan_outputs(inputs: &[images::Input], out: &Path, format: Format) -> Result<Vec<Job>> {
    let mut claimed: HashMap<PathBuf, &Path> = HashMap::new();
    let mut clashes = 0usize;
    let mut planned = Vec::with_capacity(inputs.len());
    for input in inputs {
        let stem = input
            .relative
            .file_stem()
            .unwrap_or(input.relative.as_os_str())
            .to_string_lossy();
        let folder = input.relative.parent().unwrap_or(Path::new(""));
        let output = out
            .join(folder)
            .join(format!("{stem}.{}", format.extension()));
        if let Some(first) = claimed.get(&output) {
            eprintln!(
                "error: {} and {} would both be written to {}",
                first.display(),
                input.path.display(),
                output.display()
            );
            clashes += 1;
            continue;
        }
        claimed.insert(output.clone(), &input.path);
        planned.push(Job {
            input: input.path.clone(),
            relative: input.relative.clone(),
            output,
        });
    }
    if clashes > 0 {
        bail!(
            "{clashes} input(s) would overwrite another input's output; nothing was written (rename them, or colourize them into separate --out folders)"
        );
    }
    Ok(planned)
}

/// Reads `input`, colourizes it at full size and encodes `output` under its
/// temp name, in `format` at the bit depth `depth` asks for, for
/// [`output::Staged::commit`] to put in place; `l` is the worker's L*
/// plane, reused.
pub fn stage_file(
    session: &mut Session<'_>,
    l: &mut Vec<u16>,
    input: &Path,
    output: &Path,
    (format, depth): (Format, Depth),
    provenance: &str,
    limits: &DecodeLimits,
) -> Result<output::Staged> {
    let (img, mut meta) = images::open_with_metadata(input, limits)?;
    let sixteen = match depth {
        Depth::Eight => false,
        Depth::Sixteen => true,
        Depth::Same => images::is_16_bit(&img) && format != Format::Jpeg,
    };
    let (space, note) = crate::icc::prepare(&img, &mut meta);
    if let Some(note) = note {
        eprintln!("note: {}: {note}", input.display());
    }
    let (w, h) =
        images::l_plane_in(&img, space.as_ref(), l).with_context(|| input.display().to_string())?;
    images::recycle(img);
    let l = &l[..];
    session
        .predict(l, w, h)
        .with_context(|| format!("{}: colourization failed", input.display()))?;
    // From here the frame streams: each band of rows is recombined, taken
    // to 16 bits and back to the input's space if asked, and encoded, so no
    // full-size RGB buffer exists (JPEG outputs aside: their encoder wants
    // the whole frame).
    let mut band8 = Vec::new();
    let mut fill = |y0: usize, band: BandMut<'_>| -> Result<()> {
        match band {
            BandMut::Rgb8(rgb) => {
                let l_rows = &l[w * y0..][..rgb.len() / 3];
                session.colorize_rows(w, h, y0, l_rows, rgb);
                if let Some(space) = &space {
                    space.srgb8_to_input_space(rgb)?;
                }
            }
            BandMut::Rgb16(rgb) => {
                let l_rows = &l[w * y0..][..rgb.len() / 3];
                band8.resize(rgb.len(), 0);
                session.colorize_rows(w, h, y0, l_rows, &mut band8);
                lab16::rgb8_to_rgb16_at_l(&band8, l_rows, rgb);
                if let Some(space) = &space {
                    space.srgb16_to_input_space(rgb)?;
                }
            }
        }
        Ok(())
    };
    output::stage_image_bands(
        output,
        format,
        (w, h, sixteen),
        provenance,
        &meta,
        &mut fill,
    )
    .with_context(|| input.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use images::Input;

    fn input(path: &str, relative: &str) -> Input {
        Input {
            path: PathBuf::from(path),
            relative: PathBuf::from(relative),
        }
    }

    #[test]
    fn trees_are_mirrored_and_repeated_names_do_not_clash() {
        let inputs = [
            input("scans/box1/0001.tif", "box1/0001.tif"),
            input("scans/box2/0001.tif", "box2/0001.tif"),
            input("scans/box2/a/b/0001.jpg", "box2/a/b/0001.jpg"),
            input("loose/0001.png", "0001.png"),
        ];
        let planned = plan_outputs(&inputs, Path::new("out"), Format::Png).unwrap();
        let outputs: Vec<&Path> = planned.iter().map(|j| j.output.as_path()).collect();
        assert_eq!(
            outputs,
            [
                Path::new("out/box1/0001.png"),
                Path::new("out/box2/0001.png"),
                Path::new("out/box2/a/b/0001.png"),
                Path::new("out/0001.png"),
            ]
        );
        assert_eq!(planned[2].input, Path::new("scans/box2/a/b/0001.jpg"));
        assert_eq!(planned[2].relative, Path::new("box2/a/b/0001.jpg"));
    }

    #[test]
    fn two_inputs_with_one_output_are_an_error_before_any_work() {
        let inputs = [
            input("scans/box1/0001.tif", "box1/0001.tif"),
            input("scans/box1/0001.jpg", "box1/0001.jpg"),
            input("other/box1/0001.png", "box1/0001.png"),
        ];
        let e = plan_outputs(&inputs, Path::new("out"), Format::Png).unwrap_err();
        let e = format!("{e:#}");
        assert!(
            e.starts_with("2 input(s)") && e.contains("nothing was written"),
            "{e}"
        );
        // Different formats of the output keep them apart only if the
        // outputs differ: they never do, the extension is the output's.
        assert!(plan_outputs(&inputs[..1], Path::new("out"), Format::Jpeg).is_ok());
    }
}
