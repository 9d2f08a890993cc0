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
use crate::hint_scores::{self, HintStats};
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
    /// With hints drawn from the truths: what the model made of them.
    pub hints: Option<HintStats>,
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
/// with `per_image`, also keeps each file's own outcome; with `hints`,
/// gives the model that many points drawn from each truth
/// ([`crate::hint_scores`]).
pub fn score(
    model: &Model,
    files: &[PathBuf],
    limits: &DecodeLimits,
    threads: usize,
    per_image: bool,
    hints: Option<usize>,
    progress: &dyn Progress,
) -> Result<Scored> {
    anyhow::ensure!(
        hints.is_none() || model.takes_hints(),
        "--hints: {} takes no colour hints (it has no `hints` input)",
        model.source()
    );
    progress.start(files.len());
    let acc = Mutex::new(EvalAccumulator::new());
    let hint_stats = Mutex::new(HintStats::default());
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
                            let (w, h) = (frame.width, frame.height);
                            let name = path.file_name().unwrap_or_default().to_string_lossy();
                            let drawn = hints
                                .map(|n| hint_scores::sample(truth.as_raw(), w, h, n, &name))
                                .unwrap_or_default();
                            let grid: Vec<_> = drawn.iter().map(|p| p.to_grid(w, h)).collect();
                            session.set_hints(&grid)?;
                            let mut pred = vec![0u8; 3 * w * h];
                            worker
                                .render_srgb(&mut session, &frame, &mut pred)
                                .with_context(named)?;
                            let scores = acc.lock().unwrap().add_scored(truth.as_raw(), &pred);
                            // Gray truths are out of the scores, and of the
                            // hints' too.
                            if scores.is_some() && !drawn.is_empty() {
                                let l = worker.l_plane();
                                let m =
                                    hint_scores::measure(truth.as_raw(), &pred, l, w, h, &drawn);
                                hint_stats.lock().unwrap().add(&m);
                            }
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
        hints: hints.map(|_| hint_stats.into_inner().unwrap()),
    })
}
