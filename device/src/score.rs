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
use colorize_shared::lab::{rgb8_to_lab_planes, LAB_ONE};
use colorize_shared::metrics::{EvalAccumulator, EvalSummary, ImageScores, HUE_SIDE_THRESHOLD};

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
    /// Scored: the metrics' own numbers and the Lab statistics of the
    /// truth and of the prediction.
    Scored {
        scores: ImageScores,
        truth: LabStats,
        pred: LabStats,
    },
    /// A gray truth, counted and left out of the averages.
    SkippedGray,
    /// Could not be read or colourized.
    Failed(String),
}

/// Lab statistics of one sRGB8 image, from the project's fixed-point
/// sRGB -> Lab ([`rgb8_to_lab_planes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LabStats {
    /// Share of pixels with a* < -5 ([`HUE_SIDE_THRESHOLD`]), in percent.
    pub green_pct: f64,
    /// Mean a* and b*, in Lab units.
    pub mean_a: f64,
    pub mean_b: f64,
}

impl LabStats {
    /// Of an interleaved sRGB8 image (all zero when it has no pixels).
    pub fn of(rgb: &[u8]) -> Self {
        // In slices, so a 4-Mpixel photo needs no full-size Lab planes.
        const CHUNK: usize = 4096;
        let neg = -(HUE_SIDE_THRESHOLD * LAB_ONE as f64) as i16;
        let (mut l, mut a, mut b) = ([0u16; CHUNK], [0i16; CHUNK], [0i16; CHUNK]);
        let (mut green, mut sum_a, mut sum_b) = (0usize, 0i64, 0i64);
        for px in rgb.chunks(3 * CHUNK) {
            let n = px.len() / 3;
            rgb8_to_lab_planes(&px[..3 * n], &mut l[..n], &mut a[..n], &mut b[..n]);
            green += a[..n].iter().filter(|&&v| v < neg).count();
            sum_a += a[..n].iter().map(|&v| v as i64).sum::<i64>();
            sum_b += b[..n].iter().map(|&v| v as i64).sum::<i64>();
        }
        let n = rgb.len() / 3;
        if n == 0 {
            return Self::default();
        }
        let per_pixel = |s: i64| s as f64 / n as f64 / LAB_ONE as f64;
        Self {
            green_pct: 100.0 * green as f64 / n as f64,
            mean_a: per_pixel(sum_a),
            mean_b: per_pixel(sum_b),
        }
    }
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
                                Some(scores) if per_image => PerImage::Scored {
                                    scores,
                                    truth: LabStats::of(truth.as_raw()),
                                    pred: LabStats::of(&pred),
                                },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_stats_of_green_gray_and_empty() {
        // Pure green: a* about -86, b* about +83; every pixel green.
        let green: Vec<u8> = [0u8, 255, 0].repeat(5000);
        let s = LabStats::of(&green);
        assert_eq!(s.green_pct, 100.0);
        assert!((s.mean_a + 86.2).abs() < 0.5, "{s:?}");
        assert!((s.mean_b - 83.2).abs() < 0.5, "{s:?}");
        // Gray: a* = b* = 0 exactly.
        let s = LabStats::of(&[128u8; 3 * 4100]);
        assert_eq!(s, LabStats::default());
        assert_eq!(LabStats::of(&[]), LabStats::default());
        // Half green, half red, across a slice boundary.
        let mut mixed = [0u8, 255, 0].repeat(4097);
        mixed.extend([255u8, 0, 0].repeat(4097));
        assert_eq!(LabStats::of(&mixed).green_pct, 50.0);
    }

    #[test]
    fn lab_stats_green_share_is_the_metrics_own() {
        let rgb: Vec<u8> = (0..3 * 9000u32).map(|i| (i * 37 % 251) as u8).collect();
        let s = EvalAccumulator::new().add_scored(&rgb, &rgb).unwrap();
        assert!((LabStats::of(&rgb).green_pct - 100.0 * s.green_truth).abs() < 1e-9);
    }
}
