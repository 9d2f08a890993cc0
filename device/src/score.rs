//! `colorize eval`'s job: colour photos -> gray -> colourized through the
//! one path ([`Worker::render_srgb`]) -> the shared metrics, in sRGB
//! ([`colorize_shared::metrics`]), the same JSON `colorize-train eval`
//! prints; on request also each photo's own scores ([`PerImage`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use colorize_io::images::{self, DecodeLimits};
use colorize_io::pipeline::Worker;
use colorize_shared::metrics::{EvalAccumulator, EvalSummary, ImageScores};

use crate::files::Progress;
use crate::Model;

/// What scoring a set of photos gave.
pub struct Scored {
    pub summary: EvalSummary,
    /// Photos that could not be read or colourized (reported through the
    /// progress).
    pub failed: usize,
    /// One entry per input, in input order, when asked for (empty
    /// otherwise).
    pub per_image: Vec<PerImage>,
}

/// One input's outcome (`colorize eval --per-image`).
#[derive(Clone, Debug, PartialEq)]
pub enum PerImage {
    /// Scored: the metrics' own numbers.
    Scored(ImageScores),
    /// A gray truth, counted and left out of the averages.
    SkippedGray,
    /// Could not be read or colourized.
    Failed(String),
}

/// Scores `model` on `files` (colour ground truths) with `threads` workers;
/// with `per_image`, also keeps each file's own outcome.
pub fn score(
    model: &Model,
    files: &[PathBuf],
    limits: &DecodeLimits,
    threads: usize,
    per_image: bool,
    progress: &dyn Progress,
) -> Result<Scored> {
    progress.start(files.len());
    let acc = Mutex::new(EvalAccumulator::new());
    let outcomes: Mutex<Vec<Option<PerImage>>> =
        Mutex::new(vec![None; if per_image { files.len() } else { 0 }]);
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads.clamp(1, files.len().max(1)))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut session = model.session()?;
                    let mut worker = Worker::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        let result = (|| -> Result<PerImage> {
                            let (img, meta) = images::open_with_metadata(path, limits)?;
                            let named = || path.display().to_string();
                            let frame = worker.load_ref(&img, meta).with_context(named)?;
                            // Scored in sRGB, as the trainer scores: the
                            // metrics' colour shares assume it.
                            let truth = frame.srgb8(&img).with_context(named)?;
                            images::recycle(img);
                            let mut pred = vec![0u8; 3 * frame.width * frame.height];
                            worker
                                .render_srgb(&mut session, &frame, &mut pred)
                                .with_context(named)?;
                            let scores = acc.lock().unwrap().add_scored(truth.as_raw(), &pred);
                            // (What is returned is only kept with `per_image`.)
                            Ok(match scores {
                                Some(scores) if per_image => PerImage::Scored(scores),
                                _ => PerImage::SkippedGray,
                            })
                        })();
                        let outcome = result.unwrap_or_else(|e| {
                            failed.fetch_add(1, Ordering::Relaxed);
                            let e = format!("{e:#}");
                            progress.error(&e);
                            PerImage::Failed(e)
                        });
                        if per_image {
                            outcomes.lock().unwrap()[i] = Some(outcome);
                        }
                        progress.advance();
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("eval worker panicked")?;
        }
        Ok(())
    })?;
    Ok(Scored {
        summary: acc.into_inner().unwrap().summary(),
        failed: failed.into_inner(),
        per_image: outcomes
            .into_inner()
            .unwrap()
            .into_iter()
            .map(|o| o.expect("every input has an outcome"))
            .collect(),
    })
}
