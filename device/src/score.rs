//! `colorize eval`'s job: colour photos -> gray -> colourized through the
//! one path ([`Worker::render_srgb`]) -> the shared metrics, in sRGB
//! ([`colorize_shared::metrics`]), the same JSON `colorize-train eval`
//! prints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use colorize_io::images::{self, DecodeLimits};
use colorize_io::pipeline::Worker;
use colorize_shared::metrics::{EvalAccumulator, EvalSummary};

use crate::files::Progress;
use crate::Model;

/// What scoring a set of photos gave.
pub struct Scored {
    pub summary: EvalSummary,
    /// Photos that could not be read or colourized (reported through the
    /// progress).
    pub failed: usize,
}

/// Scores `model` on `files` (colour ground truths) with `threads` workers.
pub fn score(
    model: &Model,
    files: &[PathBuf],
    limits: &DecodeLimits,
    threads: usize,
    progress: &dyn Progress,
) -> Result<Scored> {
    progress.start(files.len());
    let acc = Mutex::new(EvalAccumulator::new());
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..threads.clamp(1, files.len().max(1)))
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    let mut session = model.session()?;
                    let mut worker = Worker::new();
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let result = (|| -> Result<()> {
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
                            acc.lock().unwrap().add(truth.as_raw(), &pred);
                            Ok(())
                        })();
                        if let Err(e) = result {
                            failed.fetch_add(1, Ordering::Relaxed);
                            progress.error(&format!("{e:#}"));
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
    })
}
