//! The files job (`colorize files`): every input becomes `<out>/<stem>.<ext>`,
//! or `<out>/<path under its folder argument>/<stem>.<ext>` for files found
//! in a folder, at the input's full size; one bad input costs one error,
//! not the batch. Batches past one machine: [`shard`] and [`manifest`].

pub mod manifest;
pub mod shard;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use colorize_io::images::{self, DecodeLimits};
use colorize_io::inputs::{collect_tree, orphan_sidecars, Input};
use colorize_io::memory;
use colorize_io::output::{self, Format};
use colorize_io::pipeline::{OutputSpec, Worker};

use crate::hinted::{self, Given, ImageHints};
use crate::memory::{Admission, Budget, Gate};
use crate::Model;
use manifest::{Manifest, Record, Status};
use shard::Shard;

/// What a batch is asked to do, besides its inputs.
#[derive(Clone, Debug)]
pub struct Batch {
    pub out: PathBuf,
    pub spec: OutputSpec,
    pub shard: Option<Shard>,
    pub manifest: Option<PathBuf>,
    /// Leave inputs whose output already exists alone.
    pub skip_existing: bool,
    pub threads: usize,
    pub limits: DecodeLimits,
    /// What the images may take at once: each is admitted when its
    /// estimated peak fits beside those running.
    pub budget: Budget,
    /// Colour hints for the batch's one input (`--hint`, `--hints`);
    /// without them each input's sidecar (`NAME.hints.json`) is read where
    /// there is one.
    pub hints: Option<Given>,
}

/// Buffers a worker keeps for its next image, each at most this large: a
/// photo's (a 2560x1600 L* plane is 8 MB, its RGB 12 MB), not a master's.
const KEEP_BYTES: usize = 16 << 20;

/// What the batch tells its caller as it goes (the command line prints it).
pub trait Progress: Sync {
    /// The number of images to colourize, once known.
    fn start(&self, images: usize);
    /// One image finished, well or not.
    fn advance(&self);
    /// An error line (one bad input, say).
    fn error(&self, message: &str);
    /// A note about one input that did not stop it.
    fn note(&self, message: &str);
}

/// What a batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Inputs no worker reached because a signal stopped the batch.
    pub not_started: usize,
    pub stopped: bool,
    /// The most images colourized at once (the memory budget and
    /// `threads` both cap it).
    pub most_at_once: usize,
}

/// Colourizes `inputs` (files and folders) as `batch` says. Errors that end
/// the batch before any work (clashing outputs, an unwritable folder) are
/// returned; errors of one input are counted and reported through
/// `progress`. Once the workers start, SIGTERM (Slurm's scancel,
/// Kubernetes, systemd) or Ctrl-C finishes the images in flight, records
/// them and starts no more; a second signal ends the process at once (its
/// image stays a temp file, swept by the next run). Before that (finding
/// and planning the inputs), a signal ends it as usual.
pub fn run(
    model: &Model,
    inputs: &[PathBuf],
    batch: &Batch,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let manifest = batch.manifest.as_deref().map(Manifest::open).transpose()?;
    let shard_text = batch.shard.map(|s| format!("{}/{}", s.index, s.count));
    let record = |input: &Path, output: &Path, status, error: Option<String>, ms| {
        let Some(m) = &manifest else { return };
        let r = Record {
            input: input.display().to_string(),
            output: output.display().to_string(),
            status,
            error,
            ms,
            model: model.id().to_string(),
            shard: shard_text.clone(),
        };
        if let Err(e) = m.append(&r) {
            progress.error(&format!("{e:#}"));
        }
    };

    let mut failed = 0usize;
    let mut found = Vec::new();
    for input in inputs {
        match collect_tree(std::slice::from_ref(input)) {
            Ok(files) => found.extend(files),
            Err(e) => {
                progress.error(&format!("{e:#}"));
                let why = Some(format!("{e:#}"));
                record(input, Path::new(""), Status::Failed, why, 0.0);
                failed += 1;
            }
        }
    }
    // A sidecar without its image would silently apply to nothing (said
    // by one shard, not by all of them).
    let first_shard = batch.shard.is_none_or(|s| s.index == 0);
    let orphans = orphan_sidecars(inputs, &found);
    for orphan in orphans.into_iter().filter(|_| first_shard) {
        let why = format!(
            "{}: hints for an image that is not there (expected {} beside it)",
            orphan.display(),
            orphan
                .file_name()
                .map(|n| n.to_string_lossy().replace(".hints.json", ".<png|jpg|tif>"))
                .unwrap_or_default()
        );
        progress.error(&why);
        record(&orphan, Path::new(""), Status::Failed, Some(why), 0.0);
        failed += 1;
    }
    // Clashes are checked over the whole batch, so every shard agrees.
    let mut planned = plan_outputs(&found, &batch.out, batch.spec.format)?;
    // `--out` onto the inputs' own folder in their own format would replace
    // the masters.
    let own = planned
        .iter()
        .filter(|j| same_file(&j.input, &j.output))
        .inspect(|j| {
            progress.error(&format!(
                "{}: its output would replace it",
                j.input.display()
            ))
        })
        .count();
    if own > 0 {
        bail!("{own} input(s) would be overwritten by their own output; nothing was written (choose another --out or --format)");
    }
    if let Some(shard) = batch.shard {
        planned.retain(|j| shard.owns(&j.relative));
    }

    let folders: BTreeSet<&Path> = std::iter::once(batch.out.as_path())
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
        if batch.skip_existing && job.output.is_file() {
            record(&job.relative, &job.output, Status::Skipped, None, 0.0);
            skipped += 1;
            continue;
        }
        jobs.push(job);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, stop.clone())
            .and_then(|_| signal_hook::flag::register(sig, stop.clone()))
            .context("cannot install signal handlers")?;
    }
    progress.start(jobs.len());

    let next = AtomicUsize::new(0);
    let ok = AtomicUsize::new(0);
    let abandoned = AtomicUsize::new(0);
    let gate = Gate::new(batch.budget.images);
    let threads = batch.threads.clamp(1, jobs.len().max(1));
    // Workers encode into temp files; one committer makes each durable and
    // renames it (fsync waits on the disk, not the CPU), so a worker is on
    // the next image meanwhile. Bounded: at most one image a worker waits.
    let (commit, committed) = std::sync::mpsc::sync_channel::<(&Job, Staged, Instant)>(threads);
    let finish = |job: &Job, result: Result<()>, t: Instant| {
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
                record(&job.relative, &job.output, Status::Ok, None, ms);
            }
            Err(e) => {
                progress.error(&format!("{e:#}"));
                let why = Some(format!("{e:#}"));
                record(&job.relative, &job.output, Status::Failed, why, ms);
            }
        }
        progress.advance();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            for (job, staged, t) in committed {
                let done = staged.commit();
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
                        progress.error(&format!("{e:#}"));
                        return;
                    }
                };
                let mut worker = Worker::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else {
                        break;
                    };
                    let t = Instant::now();
                    // The header first: its estimate decides when the job
                    // may start. A header that can not be read costs
                    // nothing: decoding then fails on it too, and says why
                    // in its own words.
                    let need = memory::probe(&job.input, &batch.limits)
                        .map_or(0, |h| memory::estimate(&h, batch.spec));
                    // Kept buffers are reused within the need; more than it
                    // would be memory the budget does not see.
                    if worker.kept_bytes() as u64 > need {
                        worker.trim(0);
                    }
                    let permit = match gate.admit(i, need, &stop, &mut || worker.trim(0)) {
                        Admission::Go(permit) => permit,
                        Admission::Stopped => {
                            abandoned.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Admission::TooBig => {
                            let what = job.input.display().to_string();
                            let refusal = batch.budget.refusal(need, &what);
                            finish(job, Err(anyhow::anyhow!(refusal)), t);
                            continue;
                        }
                    };
                    let staged = stage_file(&mut worker, &mut session, job, batch, progress);
                    worker.trim(KEEP_BYTES);
                    drop(permit);
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
    let ok = ok.into_inner();
    let stopped = stop.load(Ordering::Relaxed);
    let started = next.into_inner().min(jobs.len()) - abandoned.into_inner();
    // Jobs no worker reached count as failed, unless a signal stopped the
    // batch (only if every session failed, otherwise).
    let not_started = if stopped { jobs.len() - started } else { 0 };
    Ok(Outcome {
        ok,
        failed: failed + jobs.len() - not_started - ok,
        skipped,
        not_started,
        stopped,
        most_at_once: gate.most_running(),
    })
}

/// An output staged by a worker, and the hints file to keep beside it once
/// it is committed.
struct Staged {
    image: output::Staged,
    hints: hinted::Record,
}

impl Staged {
    fn commit(self) -> Result<()> {
        self.hints.write()?;
        self.image.commit()?;
        self.hints.remove_stale()
    }
}

/// Reads one input and stages its output ([`Worker::stage`]), with its
/// colour hints (given, or its sidecar's) when it has any.
fn stage_file(
    worker: &mut Worker,
    session: &mut crate::Session<'_>,
    job: &Job,
    batch: &Batch,
    progress: &dyn Progress,
) -> Result<Staged> {
    let input = &job.input;
    let named = || input.display().to_string();
    let (img, meta) = images::open_with_metadata(input, &batch.limits)?;
    let frame = worker.load(img, meta).with_context(named)?;
    if let Some(note) = &frame.note {
        progress.note(&format!("{}: {note}", input.display()));
    }
    let hints = ImageHints::of(
        input,
        batch.hints.as_ref(),
        worker.l_plane(),
        frame.width,
        frame.height,
    )
    .with_context(named)?;
    if let Some(note) = hints.note() {
        progress.note(&format!("{}: {note}", input.display()));
    }
    session.set_hints(&hints.grid).with_context(named)?;
    let image = worker
        .stage(session, &frame, &job.output, batch.spec)
        .with_context(named);
    session.set_hints(&[])?;
    Ok(Staged {
        image: image?,
        hints: hints.record(input, &job.output),
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
pub fn plan_outputs(inputs: &[Input], out: &Path, format: Format) -> Result<Vec<Job>> {
    let mut claimed: HashMap<PathBuf, &Path> = HashMap::new();
    let mut clashes = Vec::new();
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
            clashes.push(format!(
                "{} and {} would both be written to {}",
                first.display(),
                input.path.display(),
                output.display()
            ));
            continue;
        }
        claimed.insert(output.clone(), &input.path);
        planned.push(Job {
            input: input.path.clone(),
            relative: input.relative.clone(),
            output,
        });
    }
    if !clashes.is_empty() {
        bail!(
            "{} input(s) would overwrite another input's output; nothing was written (rename them, or colourize them into separate --out folders):\n  {}",
            clashes.len(),
            clashes.join("\n  ")
        );
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

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
