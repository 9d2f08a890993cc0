//! The images a run writes beside its checkpoints: `samples.png` (gray |
//! prediction | truth for fixed validation images) and `curves.png` (loss
//! and PSNR per epoch).

use std::path::Path;

use anyhow::{Context, Result};
use colorize_shared::colour_bins::Annealing;
use colorize_shared::lab;
use tch::Device;

use crate::checkpoint::EpochRow;
use crate::data::Sample;
use crate::eval::{predict, prediction_rgb8};
use crate::model::TorchModel;
use crate::plot;

/// `samples.png`: one row per image, gray | predicted | truth, 2x enlarged.
pub fn write_samples(
    path: &Path,
    model: &TorchModel,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    write_samples_at(
        path,
        model,
        samples,
        std::slice::from_ref(&model.annealing),
        batch_size,
        device,
    )
}

/// One row per image: gray | the prediction at each of `annealings` |
/// truth, 2x enlarged.
pub fn write_samples_at(
    path: &Path,
    model: &TorchModel,
    samples: &[Sample],
    annealings: &[Annealing],
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    let size = model.config.sample_size();
    let scale = 2;
    let cell = size * scale;
    let gap = 4;
    let (rows, cols) = (samples.len(), annealings.len() + 2);
    let (w, h) = (cols * cell + (cols + 1) * gap, rows * (cell + gap) + gap);
    let mut img = image::RgbImage::from_pixel(w as u32, h as u32, plot::WHITE);
    let blit = |img: &mut image::RgbImage, rgb: &[u8], col: usize, row: usize| {
        let (ox, oy) = (gap + col * (cell + gap), gap + row * (cell + gap));
        for y in 0..cell {
            for x in 0..cell {
                let i = 3 * ((y / scale) * size + x / scale);
                img.put_pixel(
                    (ox + x) as u32,
                    (oy + y) as u32,
                    image::Rgb([rgb[i], rgb[i + 1], rgb[i + 2]]),
                );
            }
        }
    };
    for (i, s) in samples.iter().enumerate() {
        let (x0, y0) = s.centre(size);
        let truth = s.crop_rgb8(x0, y0, size);
        let gray: Vec<u8> = truth
            .chunks_exact(3)
            .flat_map(|p| {
                let (l, _, _) = lab::rgb8_to_lab(p[0], p[1], p[2]);
                lab::lab_to_rgb8(l, 0, 0)
            })
            .collect();
        blit(&mut img, &gray, 0, i);
        blit(&mut img, &truth, cols - 1, i);
    }
    for (c, ann) in annealings.iter().enumerate() {
        predict(model, None, samples, batch_size, device, ann, |i, out| {
            blit(&mut img, &prediction_rgb8(&samples[i], out, size), c + 1, i);
        })?;
    }
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// `curves.png`: losses on top, PSNR below, against the epoch.
pub fn write_curves(path: &Path, rows: &[EpochRow]) -> Result<()> {
    let mut img = image::RgbImage::from_pixel(900, 700, plot::WHITE);
    let pts = |f: fn(&EpochRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.epoch as f64, f(r))).collect()
    };
    // Long runs on small validation sets (the paper's subsets: 45 images)
    // give noisy per-epoch validation numbers: add a moving mean over about
    // a fiftieth of the run, drawn on top.
    let window = rows.len() / 50;
    let mut loss = vec![
        ("TRAIN", plot::BLUE, pts(|r| r.train_loss)),
        ("VAL", plot::ORANGE, pts(|r| r.val_loss)),
    ];
    let mut psnr = vec![
        ("PREDICTED", plot::GREEN, pts(|r| r.val_psnr)),
        ("GRAY", plot::GRAY, pts(|r| r.val_psnr_gray)),
    ];
    if window >= 3 {
        loss.push((
            "VAL MEAN",
            plot::RED,
            moving_mean(&pts(|r| r.val_loss), window),
        ));
        psnr.push((
            "MEAN",
            plot::BLACK,
            moving_mean(&pts(|r| r.val_psnr), window),
        ));
    }
    plot::chart(&mut img, (0, 0, 900, 350), "LOSS", "EPOCH", &loss);
    plot::chart(&mut img, (0, 350, 900, 350), "VAL PSNR", "EPOCH", &psnr);
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Centred moving mean of `points` over `window` of them (shorter at the ends).
fn moving_mean(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let half = window / 2;
    (0..points.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(points.len()));
            let m = points[lo..hi].iter().map(|p| p.1).sum::<f64>() / (hi - lo) as f64;
            (points[i].0, m)
        })
        .collect()
}

/// `colorize-train curves`: redraws `out` (a run's curves.png) from the
/// run's `metrics` (metrics.csv) with the current drawing code.
pub fn redraw_curves(metrics: &Path, out: &Path) -> Result<()> {
    let rows = crate::checkpoint::read_metrics(metrics)?;
    if rows.is_empty() {
        anyhow::bail!("{}: no epoch rows", metrics.display());
    }
    write_curves(out, &rows)
}
