//! The losses: regression (MSE or Huber, optionally class-rebalanced as in
//! the paper's ablation) and the distribution head's rebalanced
//! cross-entropy against soft targets over the a*b* bins.

use anyhow::Result;
use colorize_shared::colour_bins;
use colorize_shared::contract::AB_RANGE;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Reduction, TchError, Tensor};

use crate::data::Sample;
use crate::model::Head;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Mean squared error on a*b*, as in the paper.
    Mse,
    /// Huber (delta 0.05, about 6 a*b* units): quadratic for small errors,
    /// linear for large ones, so rare saturated colours are not averaged away.
    Huber,
    /// Mean absolute error: predicts the median, which is less gray than the mean.
    L1,
    /// MSE weighted per pixel by the inverse frequency of its true a*b* bin in
    /// the training set (mixed half-and-half with uniform), so common
    /// low-chroma colours stop dominating.
    Rebal,
}

/// Per-bin loss weights for [`LossKind::Rebal`]: `BINS x BINS` over a*, b*
/// in -128..128.
pub const BINS: usize = 16;

fn ab_bin(v: i16) -> usize {
    ((v as i32 + 32768) as usize * BINS / 65536).min(BINS - 1)
}

pub fn rebalance_weights(samples: &[Sample]) -> Vec<f32> {
    let mut hist = vec![0f64; BINS * BINS];
    for s in samples {
        for (&a, &b) in s.a.iter().zip(&s.b) {
            hist[ab_bin(a) * BINS + ab_bin(b)] += 1.0;
        }
    }
    let total: f64 = hist.iter().sum::<f64>().max(1.0);
    let occupied = hist.iter().filter(|&&h| h > 0.0).count().max(1) as f64;
    let p: Vec<f64> = hist.iter().map(|h| h / total).collect();
    let w: Vec<f64> = p.iter().map(|p| 1.0 / (0.5 * p + 0.5 / occupied)).collect();
    // Normalise so the expected weight under the data is 1: the loss keeps
    // the scale of plain MSE.
    let mean: f64 = p.iter().zip(&w).map(|(p, w)| p * w).sum();
    w.iter().map(|w| (w / mean) as f32).collect()
}

/// Smoothing of the bin prior and of the soft targets (Zhang et al.: a
/// Gaussian of 5 Lab units), and the prior's mix with uniform (lambda 0.5).
const DIST_SIGMA: f64 = 5.0;

const DIST_UNIFORM_MIX: f64 = 0.5;

/// Nearest bins that share a pixel's soft target.
const DIST_NEIGHBOURS: i64 = 5;

/// Per-bin prior of the training set's pixels over
/// `colour_bins::bins()` (every 4th pixel of every 4th row), smoothed by a
/// Gaussian of [`DIST_SIGMA`], and the class-rebalancing weight of each bin:
/// 1 / ((1 - lambda) p + lambda / Q), normalised so E_p[w] = 1.
pub fn bin_priors(samples: &[Sample]) -> (Vec<f64>, Vec<f64>) {
    let bins = colour_bins::bins();
    let q = bins.len();
    let mut hist = vec![0f64; q];
    for s in samples {
        for y in (0..s.height).step_by(4) {
            for x in (0..s.width).step_by(4) {
                let i = y * s.width + x;
                hist[colour_bins::bin_of(s.a[i], s.b[i])] += 1.0;
            }
        }
    }
    let total = hist.iter().sum::<f64>().max(1.0);
    let mut p = vec![0f64; q];
    for (r, h) in hist.iter().enumerate() {
        if *h == 0.0 {
            continue;
        }
        for (k, pk) in p.iter_mut().enumerate() {
            let d2 =
                (bins[k][0] - bins[r][0]).powi(2) as f64 + (bins[k][1] - bins[r][1]).powi(2) as f64;
            *pk += h / total * (-d2 / (2.0 * DIST_SIGMA * DIST_SIGMA)).exp();
        }
    }
    let sum: f64 = p.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    p.iter_mut().for_each(|v| *v /= sum);
    let w: Vec<f64> = p
        .iter()
        .map(|p| 1.0 / ((1.0 - DIST_UNIFORM_MIX) * p + DIST_UNIFORM_MIX / q as f64))
        .collect();
    let mean: f64 = p.iter().zip(&w).map(|(p, w)| p * w).sum();
    (p, w.iter().map(|w| w / mean).collect())
}

/// The distribution head's soft targets, looked up per whole Lab unit: for
/// each of the [`SOFT_GRID`]^2 (a*, b*) in -128..=128, its
/// [`DIST_NEIGHBOURS`] nearest bins and their Gaussian weights. A table
/// instead of distances to every bin per pixel: on a CPU those made the
/// loss cost several times the network's forward and backward pass.
struct DistTargets {
    /// `[SOFT_GRID^2, DIST_NEIGHBOURS]` bin indices, nearest first.
    idx: Tensor,
    /// `[SOFT_GRID^2, DIST_NEIGHBOURS]` weights, summing to 1 per row.
    w: Tensor,
    /// `[Q]` class-rebalancing weight of each bin.
    weights: Tensor,
    /// The same weights' logarithms, for the model card.
    log_weights: Vec<f32>,
}

/// Whole Lab units from -128 to 128.
const SOFT_GRID: i64 = 257;

impl DistTargets {
    fn new(train: &[Sample], device: Device) -> Self {
        let bins = colour_bins::bins();
        let k = DIST_NEIGHBOURS as usize;
        let cells = (SOFT_GRID * SOFT_GRID) as usize;
        let (mut idx, mut w) = (Vec::with_capacity(cells * k), Vec::with_capacity(cells * k));
        let mut d: Vec<(f32, usize)> = Vec::with_capacity(bins.len());
        for bi in 0..SOFT_GRID {
            for ai in 0..SOFT_GRID {
                let (a, b) = ((ai - 128) as f32, (bi - 128) as f32);
                d.clear();
                d.extend(
                    bins.iter()
                        .enumerate()
                        .map(|(q, c)| ((c[0] - a).powi(2) + (c[1] - b).powi(2), q)),
                );
                d.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0));
                d[..k].sort_by(|x, y| x.0.total_cmp(&y.0));
                let g: Vec<f64> = d[..k]
                    .iter()
                    .map(|&(d2, _)| (-(d2 as f64) / (2.0 * DIST_SIGMA * DIST_SIGMA)).exp())
                    .collect();
                let sum: f64 = g.iter().sum();
                for (j, &(_, q)) in d[..k].iter().enumerate() {
                    idx.push(q as i64);
                    w.push((g[j] / sum) as f32);
                }
            }
        }
        let (_, rebal) = bin_priors(train);
        let log_weights = rebal.iter().map(|&v| v.ln() as f32).collect();
        let rebal: Vec<f32> = rebal.iter().map(|&v| v as f32).collect();
        let shape = [cells as i64, DIST_NEIGHBOURS];
        DistTargets {
            idx: Tensor::from_slice(&idx).view(shape).to_device(device),
            w: Tensor::from_slice(&w).view(shape).to_device(device),
            weights: Tensor::from_slice(&rebal).to_device(device),
            log_weights,
        }
    }
}

/// The configured loss between prediction and target `[n, 2, h, w]`.
pub struct Loss {
    kind: LossKind,
    weights: Option<Tensor>,
    dist: Option<DistTargets>,
}

impl Loss {
    pub fn new(kind: LossKind, head: Head, train: &[Sample], device: Device) -> Self {
        let weights = (kind == LossKind::Rebal && head == Head::Regression)
            .then(|| Tensor::from_slice(&rebalance_weights(train)).to_device(device));
        let dist = (head == Head::Dist).then(|| DistTargets::new(train, device));
        Loss {
            kind,
            weights,
            dist,
        }
    }

    /// Rebalanced cross-entropy of bin logits `[n, Q, h, w]` against soft
    /// targets: each true a*b* (averaged down to the logits' resolution)
    /// spread over its nearest bins with a Gaussian of [`DIST_SIGMA`].
    fn dist_loss(d: &DistTargets, logits: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
        let h = logits.size()[2];
        let target = pooled_to(target, h)?;
        let q = logits.size()[1];
        // Whole Lab units, offset to 0..=256: the soft-target table's cell.
        let units = target
            .f_mul_scalar(AB_RANGE as f64)?
            .f_round()?
            .f_clamp(-128, 128)?
            .f_add_scalar(128)?
            .f_to_kind(Kind::Int64)?;
        let cell = units
            .f_select(1, 1)?
            .f_mul_scalar(SOFT_GRID)?
            .f_add(&units.f_select(1, 0)?)?
            .f_reshape([-1])?;
        // [n * h * w, k] -> [n, k, h, w], to gather along the logits' own
        // channel axis (no transposed copy of the Q-channel tensor).
        let (n, w_) = (logits.size()[0], logits.size()[3]);
        let nchw = |t: Tensor| -> Result<Tensor, TchError> {
            t.f_view([n, h, w_, DIST_NEIGHBOURS])?
                .f_permute([0, 3, 1, 2])
        };
        let idx = nchw(d.idx.f_index_select(0, &cell)?)?;
        let w = nchw(d.w.f_index_select(0, &cell)?)?;
        let logp = logits.f_log_softmax(1, Kind::Float)?;
        let ce = logp
            .f_gather(1, &idx.f_contiguous()?, false)?
            .f_mul(&w)?
            .f_sum_dim_intlist(1, false, Kind::Float)?
            .f_neg()?;
        let pixel_w = d
            .weights
            .f_index_select(0, &idx.f_select(1, 0)?.f_reshape([-1])?)?
            .f_view([n, h, w_])?;
        assert_eq!(
            q,
            d.weights.size()[0],
            "logit channels must be the colour bins"
        );
        ce.f_mul(&pixel_w)?.f_mean(Kind::Float)
    }

    /// A distribution head's rebalancing weights as ln w per bin (what its
    /// decode takes back out: `colour_bins::BinDecoding`).
    pub fn bin_log_weights(&self) -> Option<&[f32]> {
        self.dist.as_ref().map(|d| d.log_weights.as_slice())
    }

    pub fn compute(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
        if let Some(d) = &self.dist {
            return Self::dist_loss(d, pred, target);
        }
        // A head that predicts at a fraction of the target's size (lite) is
        // scored against the target's cell means, as the distribution head.
        let pooled = pooled_to(target, pred.size()[2])?;
        let target = &pooled;
        match self.kind {
            LossKind::Mse => pred.f_mse_loss(target, Reduction::Mean),
            LossKind::Huber => pred.f_huber_loss(target, Reduction::Mean, 0.05),
            LossKind::L1 => pred.f_l1_loss(target, Reduction::Mean),
            LossKind::Rebal => {
                let w = self.weights.as_ref().expect("weights built for rebal");
                // Same binning as `ab_bin`, on targets in -1..1.
                let bins = target
                    .f_add_scalar(1.0)?
                    .f_mul_scalar(BINS as f64 / 2.0)?
                    .f_floor()?
                    .f_clamp(0, BINS as i64 - 1)?
                    .f_to_kind(Kind::Int64)?;
                let idx = bins
                    .f_select(1, 0)?
                    .f_mul_scalar(BINS as i64)?
                    .f_add(&bins.f_select(1, 1)?)?;
                let shape = idx.size();
                let pw = w
                    .f_index_select(0, &idx.f_flatten(0, -1)?)?
                    .f_view([shape[0], 1, shape[1], shape[2]].as_slice())?;
                pred.f_sub(target)?
                    .f_square()?
                    .f_mul(&pw)?
                    .f_mean(Kind::Float)
            }
        }
    }
}

/// `target` `[n, c, s, s]` averaged over cells down to `[n, c, h, h]`
/// (itself when `h == s`).
fn pooled_to(target: &Tensor, h: i64) -> Result<Tensor, TchError> {
    let s = target.size()[2];
    if h == s {
        return Ok(target.shallow_clone());
    }
    let k = s / h;
    target.f_avg_pool2d([k, k], [k, k], [0, 0], false, true, None::<i64>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::make_batch;
    use crate::eval::to_tensors;
    use colorize_shared::lab;

    #[test]
    fn bin_priors_favour_rare_colours_and_keep_the_loss_scale() {
        let red: Vec<u8> = [200u8, 30, 30].repeat(64);
        let samples = vec![Sample::from_rgb8(8, 8, &red)];
        let (p, w) = bin_priors(&samples);
        let (_, a, b) = lab::rgb8_to_lab(200, 30, 30);
        let red_bin = colour_bins::bin_of(a, b);
        let far = colour_bins::nearest_bin(-60.0, -40.0);
        assert!(p[red_bin] > 0.3, "prior {}", p[red_bin]);
        assert!(w[red_bin] < w[far], "rare colours weigh more");
        let expected: f64 = p.iter().zip(&w).map(|(p, w)| p * w).sum();
        assert!((expected - 1.0).abs() < 1e-9);
    }

    #[test]
    fn dist_loss_is_lower_for_logits_on_the_true_colour() {
        // Top half red, bottom half green (the prior samples every 4th row).
        let rgb: Vec<u8> = [[200u8, 30, 30].repeat(32), [40u8, 160, 60].repeat(32)].concat();
        let samples = vec![Sample::from_rgb8(8, 8, &rgb)];
        let loss = Loss::new(LossKind::Mse, Head::Dist, &samples, Device::Cpu);
        let batch = make_batch(&[&samples[0]], 8, 8, None);
        let (_, y) = to_tensors(&batch, Device::Cpu);
        let q = colour_bins::bins().len() as i64;
        // Logits that put most mass on each pixel's own bin, or on blue.
        let blue = colour_bins::nearest_bin(20.0, -90.0);
        let logits = |own: bool| {
            let mut z = vec![0f32; (q * 64) as usize];
            for i in 0..64 {
                let (a, b) = (samples[0].a[i], samples[0].b[i]);
                let bin = if own { colour_bins::bin_of(a, b) } else { blue };
                z[bin * 64 + i] = 8.0;
            }
            Tensor::from_slice(&z).view([1, q, 8, 8])
        };
        let right = loss.compute(&logits(true), &y).unwrap().double_value(&[]);
        let wrong = loss.compute(&logits(false), &y).unwrap().double_value(&[]);
        assert!(right.is_finite() && wrong.is_finite());
        // Not far lower: the soft target also wants the 4 nearest bins.
        assert!(right < 0.7 * wrong, "own bins {right} vs blue {wrong}");
        // Half-resolution logits are scored against averaged targets.
        let half = Tensor::zeros([1, q, 4, 4], (Kind::Float, Device::Cpu));
        assert!(loss
            .compute(&half, &y)
            .unwrap()
            .double_value(&[])
            .is_finite());
    }
}
