//! The faithful-vivid trade-off of distribution-head models: each model
//! scored at a sweep of vividness values, regression models as single
//! points, the default vividness picked from the sweep, and the two figures
//! of the model card (`tradeoff.png`, `vividness.png`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use colorize_shared::metrics::EvalSummary;
use tch::Device;

use crate::data::Sample;
use crate::model::{Head, TorchModel};
use crate::plot;
use crate::{checkpoint, data, eval, report};

/// A model's scores: one per vividness for a distribution head, one (at
/// vividness `None`) for a regression head.
pub struct Curve {
    pub name: String,
    pub points: Vec<(Option<f32>, EvalSummary)>,
}

/// `n` vividness values evenly spaced over 0..=1.
pub fn sweep_values(n: usize) -> Vec<f32> {
    let n = n.max(2);
    (0..n).map(|i| i as f32 / (n - 1) as f32).collect()
}

/// Scores `model` on `samples` at every value of `vividness` (once, at
/// `None`, for a regression model), decoded per its `decoding`. Leaves the
/// model's annealing as it found it.
pub fn score(
    name: &str,
    model: &mut TorchModel,
    samples: &[Sample],
    vividness: &[f32],
    batch_size: &mut usize,
    device: Device,
) -> Result<Curve> {
    let mut points = Vec::new();
    let values: Vec<Option<f32>> = match model.config.head {
        Head::Regression => vec![None],
        Head::Dist => vividness.iter().map(|&v| Some(v)).collect(),
    };
    let saved = model.annealing.clone();
    for v in values {
        if let Some(v) = v {
            model.set_vividness(v);
        }
        let scored = eval::evaluate(model, None, samples, batch_size, device);
        let summary = match scored {
            Ok((_, summary)) => summary,
            Err(e) => {
                model.annealing = saved;
                return Err(e);
            }
        };
        eprintln!(
            "{name}{}: gain {:+.3} dB, colourfulness ratio {:.3}, AuC {:.4}",
            v.map_or(String::new(), |v| format!(" at vividness {v:.2}")),
            summary.psnr_gain,
            summary.colourfulness_ratio,
            summary.auc
        );
        points.push((v, summary));
    }
    model.annealing = saved;
    Ok(Curve {
        name: name.to_string(),
        points,
    })
}

/// Gain within this many dB of a curve's best still counts as faithful.
pub const DEFAULT_GAIN_SLACK_DB: f64 = 0.25;

/// The default vividness of a distribution head, picked on val: the most
/// colourful point of the sweep whose PSNR gain is at least `min_gain`, by
/// default within [`DEFAULT_GAIN_SLACK_DB`] of the sweep's best gain. Vivid
/// colours are what the users asked for; the floor caps what they may cost
/// in fidelity (`--min-gain`: e.g. the shipped model's gain, so that a new
/// default is never less faithful than the one it replaces).
pub fn pick_default(curve: &Curve, min_gain: Option<f64>) -> Option<(f32, EvalSummary)> {
    let best = curve
        .points
        .iter()
        .map(|p| p.1.psnr_gain)
        .fold(f64::NEG_INFINITY, f64::max);
    let floor = min_gain.unwrap_or(best - DEFAULT_GAIN_SLACK_DB);
    curve
        .points
        .iter()
        .filter_map(|(v, s)| v.map(|v| (v, *s)))
        .filter(|(_, s)| s.psnr_gain >= floor)
        .max_by(|a, b| a.1.colourfulness_ratio.total_cmp(&b.1.colourfulness_ratio))
}

/// `tradeoff.csv`: one row per scored point.
pub fn write_csv(path: &Path, curves: &[Curve]) -> Result<()> {
    let mut s = String::from("model,vividness,psnr_gain,colourfulness_ratio,auc,images\n");
    for c in curves {
        for (v, p) in &c.points {
            let v = v.map_or(String::new(), |v| format!("{v:.3}"));
            let _ = writeln!(
                s,
                "{},{v},{:.4},{:.4},{:.4},{}",
                c.name, p.psnr_gain, p.colourfulness_ratio, p.auc, p.images
            );
        }
    }
    std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))
}

/// `tradeoff.png`: PSNR gain over predict-gray (x) against colourfulness
/// ratio (y), a line per distribution head (vividness 0 at the
/// high-gain end), a point per regression model, and the default marked.
pub fn write_plot(
    path: &Path,
    curves: &[Curve],
    default: Option<(&str, f32, EvalSummary)>,
) -> Result<()> {
    let colours = [
        plot::BLUE,
        plot::ORANGE,
        plot::GREEN,
        plot::GRAY,
        plot::BLACK,
    ];
    let mut series: Vec<plot::Series<'_>> = curves
        .iter()
        .zip(colours.iter().cycle())
        .map(|(c, &colour)| {
            let pts = c
                .points
                .iter()
                .map(|(_, s)| (s.psnr_gain, s.colourfulness_ratio))
                .collect();
            (c.name.as_str(), colour, pts)
        })
        .collect();
    if let Some((_, _, s)) = default {
        series.push((
            "DEFAULT",
            plot::BLACK,
            vec![(s.psnr_gain, s.colourfulness_ratio)],
        ));
    }
    let mut img = image::RgbImage::from_pixel(900, 520, plot::WHITE);
    plot::chart(
        &mut img,
        (0, 0, 900, 520),
        "COLOURFULNESS RATIO",
        "PSNR GAIN DB",
        &series,
    );
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// `vividness.png`: `samples` as gray | vividness 0 | `default` | 1 | truth.
pub fn write_grid(
    path: &Path,
    model: &TorchModel,
    samples: &[Sample],
    default: f32,
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    let anns: Vec<_> = [0.0, default, 1.0]
        .iter()
        .map(|&v| model.decoding.annealing(v))
        .collect();
    report::write_samples_at(path, model, samples, &anns, batch_size, device)
}

/// What `colorize-train tradeoff` is asked to compare.
pub struct TradeoffOptions {
    /// Checkpoints (.ot with .json beside).
    pub models: Vec<PathBuf>,
    /// Plot names, in `models` order (default: the run folder's name).
    pub names: Vec<String>,
    /// Validation images: folders or shards.
    pub data: Vec<PathBuf>,
    pub max_images: Option<usize>,
    /// Vividness values of the sweep.
    pub points: usize,
    /// Rows of vividness.png.
    pub grid_images: usize,
    /// See [`pick_default`].
    pub min_gain: Option<f64>,
    /// The annealing temperature at vividness 1 (`None`: the model's).
    pub vivid_temperature: Option<f32>,
    /// Output folder.
    pub out: PathBuf,
    pub batch_size: usize,
}

/// What [`compare`] found.
pub struct TradeoffOutcome {
    /// The first distribution-head model's name, its default vividness and
    /// the scores there, when one was picked.
    pub default: Option<(String, f32, EvalSummary)>,
    /// Whether any model has a distribution head.
    pub has_dist: bool,
}

/// Scores every model of `opts` on the same images (distribution heads over
/// the vividness sweep), writes tradeoff.csv and tradeoff.png, and for the
/// first distribution-head model picks the default vividness
/// ([`pick_default`]) and writes vividness.png.
pub fn compare(opts: &TradeoffOptions, device: Device) -> Result<TradeoffOutcome> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut models = Vec::new();
    for (i, path) in opts.models.iter().enumerate() {
        let (vs, mut model, _) = checkpoint::load_checkpoint(path, device)?;
        model.set_vivid_temperature(opts.vivid_temperature)?;
        let name = opts.names.get(i).cloned().unwrap_or_else(|| {
            path.parent()
                .and_then(|p| p.file_name())
                .map_or_else(|| format!("model{i}"), |n| n.to_string_lossy().to_string())
        });
        models.push((vs, model, name.to_uppercase()));
    }
    // Scored on images of one size: lite (input 128) and ctx (64) both see
    // Tiny ImageNet at 64.
    let size = models[0].1.config.sample_size();
    if let Some((_, m, name)) = models
        .iter()
        .find(|(_, m, _)| m.config.sample_size() != size)
    {
        bail!(
            "{name}: image size {} differs from the first model's {size}",
            m.config.sample_size()
        );
    }
    let load = data::LoadOptions {
        size,
        classes: None,
        gray_threshold: 0.0,
        max_images: opts.max_images,
        squash_crops: None,
        progress: true,
    };
    let (samples, _) = data::load(&opts.data, &load)?;
    if samples.is_empty() {
        bail!("no images in --data");
    }
    let values = sweep_values(opts.points);
    let mut bs = opts.batch_size.max(1);
    let mut curves = Vec::new();
    for (_, model, name) in &mut models {
        curves.push(score(name, model, &samples, &values, &mut bs, device)?);
    }
    write_csv(&opts.out.join("tradeoff.csv"), &curves)?;
    let dist = models
        .iter()
        .zip(&curves)
        .find(|((_, m, _), _)| m.config.head == Head::Dist);
    let default = dist.and_then(|((_, m, name), c)| {
        pick_default(c, opts.min_gain).map(|(v, s)| (m, name.as_str(), v, s))
    });
    write_plot(
        &opts.out.join("tradeoff.png"),
        &curves,
        default.map(|(_, name, v, s)| (name, v, s)),
    )?;
    if let Some((model, _, v, _)) = default {
        let n = opts.grid_images.min(samples.len());
        write_grid(
            &opts.out.join("vividness.png"),
            model,
            &samples[..n],
            v,
            &mut bs,
            device,
        )?;
    }
    Ok(TradeoffOutcome {
        default: default.map(|(_, name, v, s)| (name.to_string(), v, s)),
        has_dist: dist.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(gain: f64, ratio: f64) -> EvalSummary {
        EvalSummary {
            images: 1,
            skipped_gray: 0,
            psnr: 20.0 + gain,
            psnr_gray: 20.0,
            psnr_gain: gain,
            colourfulness_pred: ratio,
            colourfulness_truth: 1.0,
            colourfulness_ratio: ratio,
            auc: 0.9,
        }
    }

    #[test]
    fn default_is_the_most_colourful_point_that_keeps_the_gain() {
        let curve = Curve {
            name: "m".into(),
            points: vec![
                (Some(0.0), summary(1.50, 0.40)),
                (Some(0.5), summary(1.40, 0.60)),
                (Some(0.75), summary(1.26, 0.75)),
                (Some(1.0), summary(0.90, 0.95)),
            ],
        };
        let (v, s) = pick_default(&curve, None).unwrap();
        assert_eq!(v, 0.75);
        assert_eq!(s.colourfulness_ratio, 0.75);
        assert_eq!(pick_default(&curve, Some(1.35)).unwrap().0, 0.5);
        assert!(
            pick_default(&curve, Some(2.0)).is_none(),
            "no point is that faithful"
        );
        let regression = Curve {
            name: "r".into(),
            points: vec![(None, summary(1.0, 0.4))],
        };
        assert!(pick_default(&regression, None).is_none());
        assert_eq!(sweep_values(6), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    }
}
