//! The training loop and everything a run writes into its folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use colorize_shared::colour_bins;
use colorize_shared::contract::{self, AB_RANGE};
use colorize_shared::lab;
use colorize_shared::metrics::{EvalAccumulator, EvalSummary, ImageScores};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, TchError, Tensor};

use crate::checkpoint::{self, save_json};
pub use crate::checkpoint::{load_checkpoint, load_json, meta_path, CheckpointMeta, EpochRow};
use crate::data::{self, make_batch, Rng, Sample};
use crate::model::{Compute, Head, Model, ModelConfig};
use crate::optim::{Optimizer, OptimizerKind};
use crate::plot;

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

/// Everything `train` was asked to do; written to `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub data: Vec<PathBuf>,
    pub val: Vec<PathBuf>,
    pub val_split: f64,
    pub classes: Option<Vec<String>>,
    pub gray_threshold: f32,
    pub max_images: Option<usize>,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub loss: LossKind,
    /// The command line that started the run.
    pub command: String,
    /// Learning-rate schedule over `epochs`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Mixed precision (bf16 activations, f32 weights) and channels-last.
    #[serde(default)]
    pub bf16: bool,
    #[serde(default)]
    pub channels_last: bool,
    /// Weights the run started from (`--init-from`), where names and
    /// shapes matched.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
}

/// How the learning rate moves over the planned epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// `--lr` throughout, as in the paper.
    #[default]
    Constant,
    /// A linear warm-up over the first steps, then a cosine from `--lr`
    /// down to 1/100 of it at the end of the last epoch. The position comes
    /// from the run's progress, so a resumed run continues the same curve.
    Cosine,
}

/// Optimizer steps of the cosine schedule's linear warm-up.
pub const WARMUP_STEPS: i64 = 300;

impl Schedule {
    /// The learning rate at `progress` (0..1 of all planned epochs) after
    /// `step` optimizer updates.
    pub fn lr(self, base: f64, progress: f64, step: i64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Cosine => {
                let p = progress.clamp(0.0, 1.0);
                let floor = base / 100.0;
                let cos = floor + (base - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                cos * ((step + 1) as f64 / WARMUP_STEPS as f64).min(1.0)
            }
        }
    }
}

/// When a run stops on its own before its last epoch, and how often it
/// saves where it stands.
#[derive(Clone, Debug)]
pub struct RunLimits {
    /// Stop cleanly (with a checkpoint) after this many minutes of training.
    pub max_minutes: Option<f64>,
    /// Seconds between mid-epoch checkpoints.
    pub checkpoint_seconds: f64,
    /// Decoded-data cache folder (`None`: decode every time).
    pub data_cache: Option<PathBuf>,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_minutes: None,
            checkpoint_seconds: 300.0,
            data_cache: None,
        }
    }
}

pub const CSV_HEADER: &str =
    "epoch,train_loss,val_loss,val_psnr,val_psnr_gray,val_colourfulness_ratio,val_auc,seconds";

impl EpochRow {
    fn to_csv(&self) -> String {
        format!(
            "{},{:.6},{:.6},{:.4},{:.4},{:.4},{:.4},{:.1}",
            self.epoch,
            self.train_loss,
            self.val_loss,
            self.val_psnr,
            self.val_psnr_gray,
            self.val_colourfulness_ratio,
            self.val_auc,
            self.seconds
        )
    }

    fn from_csv(line: &str) -> Option<Self> {
        let v: Vec<f64> = line
            .split(',')
            .map(|s| s.trim().parse().ok())
            .collect::<Option<_>>()?;
        if v.len() != 8 {
            return None;
        }
        Some(EpochRow {
            epoch: v[0] as usize,
            train_loss: v[1],
            val_loss: v[2],
            val_psnr: v[3],
            val_psnr_gray: v[4],
            val_colourfulness_ratio: v[5],
            val_auc: v[6],
            seconds: v[7],
        })
    }
}

/// Reads `metrics.csv` rows (header skipped).
pub fn read_metrics(path: &Path) -> Result<Vec<EpochRow>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(EpochRow::from_csv)
        .collect())
}

/// Bytes a CPU training step holds per image and per value of its layer
/// outputs ([`Model::activation_elems`]). Measured peak RSS slopes on the
/// paper CNN (batch 200 -> 600): 2.0 B with bf16 and channels-last, 4.4 B in
/// f32; these add about 20 % of margin.
const CPU_STEP_BYTES_PER_ELEM_BF16: f64 = 2.5;
const CPU_STEP_BYTES_PER_ELEM_F32: f64 = 5.0;
/// Share of the available memory a batch may plan to use.
const CPU_MEMORY_SHARE: f64 = 0.85;

/// `MemAvailable` of /proc/meminfo, in bytes.
pub fn mem_available_bytes() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The CPU counterpart of halving on a CUDA out-of-memory error. On Linux a
/// CPU allocation too large for memory does not fail: the kernel's OOM
/// killer ends the process later, with nothing to catch. So the batch is
/// planned up front: halved while its estimated step memory exceeds
/// [`CPU_MEMORY_SHARE`] of `available`. Returns the batch size and, when it
/// changed, the message to print.
pub fn cpu_batch_that_fits(
    model: &Model,
    batch: usize,
    available: Option<u64>,
) -> (usize, Option<String>) {
    let Some(available) = available else {
        return (batch, None);
    };
    let per_elem = if model.compute.bf16 {
        CPU_STEP_BYTES_PER_ELEM_BF16
    } else {
        CPU_STEP_BYTES_PER_ELEM_F32
    };
    let per_image = model.activation_elems() as f64 * per_elem;
    let budget = available as f64 * CPU_MEMORY_SHARE;
    let mut fits = batch.max(1);
    while fits > 1 && fits as f64 * per_image > budget {
        fits /= 2;
    }
    if fits == batch {
        return (batch, None);
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    let note = format!(
        "batch size {batch} needs an estimated {:.1} GiB for a training step on the CPU, {:.1} GiB available: halved to {fits} ({:.1} GiB)",
        gib(batch as f64 * per_image),
        gib(available as f64),
        gib(fits as f64 * per_image),
    );
    (fits, Some(note))
}

pub fn is_oom(e: &TchError) -> bool {
    let msg = e.to_string().to_ascii_lowercase();
    msg.contains("out of memory")
}

/// `--device auto|cpu|cuda`.
pub fn pick_device(name: &str) -> Result<Device> {
    Ok(match name {
        "cpu" => Device::Cpu,
        "auto" => {
            let backend = crate::cuda::load();
            eprintln!("{backend}");
            Device::cuda_if_available()
        }
        "cuda" => {
            let backend = crate::cuda::load();
            if !tch::Cuda::is_available() {
                bail!("--device cuda: libtorch sees no CUDA device. {backend}");
            }
            eprintln!("{backend}");
            Device::Cuda(0)
        }
        other => bail!("--device {other}: expected auto, cpu or cuda"),
    })
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

/// Copies the tensors of checkpoint `path` into the variables of `vs` with
/// the same name and shape. Returns the names taken and the names left
/// fresh.
pub fn init_matching(vs: &mut nn::VarStore, path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let saved: std::collections::HashMap<String, Tensor> = Tensor::load_multi(path)
        .with_context(|| format!("reading --init-from {}", path.display()))?
        .into_iter()
        .collect();
    let (mut taken, mut fresh) = (Vec::new(), Vec::new());
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| -> Result<()> {
        for (name, mut var) in vars {
            match saved.get(&name) {
                Some(t) if t.size() == var.size() => {
                    var.f_copy_(&t.to_device(var.device()).to_kind(var.kind()))?;
                    taken.push(name);
                }
                _ => fresh.push(name),
            }
        }
        Ok(())
    })?;
    anyhow::ensure!(
        !taken.is_empty(),
        "--init-from {}: no tensor matches this model by name and shape",
        path.display()
    );
    Ok((taken, fresh))
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
        let rebal: Vec<f32> = rebal.iter().map(|&v| v as f32).collect();
        let shape = [cells as i64, DIST_NEIGHBOURS];
        DistTargets {
            idx: Tensor::from_slice(&idx).view(shape).to_device(device),
            w: Tensor::from_slice(&w).view(shape).to_device(device),
            weights: Tensor::from_slice(&rebal).to_device(device),
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
        let (h, s) = (logits.size()[2], target.size()[2]);
        let target = if h == s {
            target.shallow_clone()
        } else {
            target.f_avg_pool2d(
                [s / h, s / h],
                [s / h, s / h],
                [0, 0],
                false,
                true,
                None::<i64>,
            )?
        };
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

    pub fn compute(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
        if let Some(d) = &self.dist {
            return Self::dist_loss(d, pred, target);
        }
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

fn to_tensors(batch: &data::Batch, size: usize, device: Device) -> (Tensor, Tensor) {
    let s = size as i64;
    let n = batch.n as i64;
    let x = Tensor::from_slice(&batch.input)
        .view([n, 1, s, s])
        .to_device(device);
    let y = Tensor::from_slice(&batch.target)
        .view([n, 2, s, s])
        .to_device(device);
    (x, y)
}

/// Predicted sRGB8 for the centre crop of a sample, given the model's output
/// `[2, size, size]`: the sample's own L with the predicted a*b*.
pub fn prediction_rgb8(s: &Sample, output: &[f32], size: usize) -> Vec<u8> {
    let px = size * size;
    let (mut a, mut b) = (vec![0i16; px], vec![0i16; px]);
    contract::output_to_ab_planes(output, &mut a, &mut b);
    let (x0, y0) = s.centre(size);
    let mut l = vec![0u16; px];
    for y in 0..size {
        let row = (y0 + y) * s.width + x0;
        l[y * size..(y + 1) * size].copy_from_slice(&s.l[row..row + size]);
    }
    let mut rgb = vec![0u8; 3 * px];
    lab::lab_planes_to_rgb8(&l, &a, &b, &mut rgb);
    rgb
}

/// Runs the model over `samples` (centre crops) in batches of `batch_size`,
/// calling `each(sample_index, output)` with every image's `[2, size, size]`
/// output, and returns the mean loss.
pub fn predict(
    model: &Model,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
    temperature: f64,
    mut each: impl FnMut(usize, &[f32]),
) -> Result<f64> {
    let size = model.config.size;
    let px = 2 * size * size;
    let mut pos = 0;
    let mut loss_sum = 0.0;
    while pos < samples.len() {
        let end = (pos + *batch_size).min(samples.len());
        let refs: Vec<&Sample> = samples[pos..end].iter().collect();
        let batch = make_batch(&refs, size, None);
        let (x, y) = to_tensors(&batch, size, device);
        let out = tch::no_grad(|| -> Result<(Tensor, f64), TchError> {
            let out = model.forward(&x, false)?;
            let l = match loss {
                Some(loss) => loss.compute(&out, &y)?.f_double_value(&[])?,
                None => 0.0,
            };
            Ok((out, l))
        });
        match out.and_then(|(out, l)| Ok((model.decode(&out, temperature)?, l))) {
            Ok((out, l)) => {
                let out = Vec::<f32>::try_from(&out.to_device(Device::Cpu).reshape(-1))?;
                for (i, o) in out.chunks_exact(px).enumerate() {
                    each(pos + i, o);
                }
                loss_sum += l * batch.n as f64;
                pos = end;
            }
            Err(e) if is_oom(&e) && *batch_size > 1 => {
                *batch_size /= 2;
                eprintln!("CUDA out of memory in evaluation: batch size halved to {batch_size}");
            }
            Err(e) => return Err(e).context("forward pass"),
        }
    }
    Ok(loss_sum / samples.len().max(1) as f64)
}

/// Scores a model on samples with the shared metrics.
pub fn evaluate(
    model: &Model,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<(f64, EvalSummary)> {
    let (loss, summary, _) = evaluate_per_image(model, loss, samples, batch_size, device)?;
    Ok((loss, summary))
}

/// [`evaluate`], also returning every sample's own scores (`None`: gray
/// truth, not scored).
pub fn evaluate_per_image(
    model: &Model,
    loss: Option<&Loss>,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<(f64, EvalSummary, Vec<Option<ImageScores>>)> {
    let size = model.config.size;
    let mut acc = EvalAccumulator::new();
    let mut scores = vec![None; samples.len()];
    let t = model.temperature;
    let loss = predict(model, loss, samples, batch_size, device, t, |i, out| {
        let s = &samples[i];
        let (x0, y0) = s.centre(size);
        scores[i] = acc.add_scored(&s.crop_rgb8(x0, y0, size), &prediction_rgb8(s, out, size));
    })?;
    Ok((loss, acc.summary(), scores))
}

/// `samples.png`: one row per image, gray | predicted | truth, 2x enlarged.
pub fn write_samples(
    path: &Path,
    model: &Model,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    write_samples_at(
        path,
        model,
        samples,
        &[model.temperature],
        batch_size,
        device,
    )
}

/// One row per image: gray | the prediction at each of `temperatures` |
/// truth, 2x enlarged.
pub fn write_samples_at(
    path: &Path,
    model: &Model,
    samples: &[Sample],
    temperatures: &[f64],
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    let size = model.config.size;
    let scale = 2;
    let cell = size * scale;
    let gap = 4;
    let (rows, cols) = (samples.len(), temperatures.len() + 2);
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
    for (c, &t) in temperatures.iter().enumerate() {
        predict(model, None, samples, batch_size, device, t, |i, out| {
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

/// Loads the training and validation sets of a config.
pub fn load_sets(
    cfg: &TrainConfig,
    progress: bool,
    cache: Option<&Path>,
) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let classes = cfg.classes.as_ref().map(|c| c.iter().cloned().collect());
    let opts = data::LoadOptions {
        size: cfg.model.size,
        classes,
        gray_threshold: cfg.gray_threshold,
        max_images: cfg.max_images,
        progress,
    };
    let (samples, report) = data::load_cached(&cfg.data, &opts, cache)?;
    eprintln!(
        "training data: {} images kept, {} skipped as grayscale, {} outside --classes, {} unreadable",
        report.kept, report.skipped_gray, report.skipped_class, report.failed
    );
    let (train, val) = if cfg.val.is_empty() {
        data::split(samples, cfg.val_split, cfg.seed)
    } else {
        let opts = data::LoadOptions {
            max_images: None,
            ..opts
        };
        let (val, report) = data::load_cached(&cfg.val, &opts, cache)?;
        eprintln!(
            "validation data: {} images kept, {} skipped as grayscale, {} outside --classes, {} unreadable",
            report.kept, report.skipped_gray, report.skipped_class, report.failed
        );
        (samples, val)
    };
    if train.is_empty() || val.is_empty() {
        bail!(
            "need training and validation images, got {} and {} (check --data, --classes, --val-split)",
            train.len(),
            val.len()
        );
    }
    Ok((train, val))
}

/// Set by SIGINT / SIGTERM: the loop checkpoints and returns at the next step.
fn stop_requested() -> &'static std::sync::Arc<std::sync::atomic::AtomicBool> {
    static FLAG: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A second signal while stopping kills at once, as users expect.
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 1, flag.clone());
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        flag
    })
}

/// The seed of libtorch's generator (dropout) for the batch at `position`
/// of `epoch`: a resumed run, even from mid-epoch, draws the same masks.
fn step_seed(seed: u64, epoch: usize, position: usize) -> i64 {
    let mut r = Rng::new(seed ^ ((epoch as u64) << 40) ^ position as u64);
    (r.next_u64() >> 1) as i64
}

fn write_metrics(path: &Path, rows: &[EpochRow]) -> Result<()> {
    let mut text = format!("{CSV_HEADER}\n");
    for r in rows {
        text.push_str(&r.to_csv());
        text.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Trains per `cfg` into `out`. With `resume`, continues from `out/last.ot`
/// (the settings then come from `out/config.json`, except `epochs`).
pub fn train(
    cfg: TrainConfig,
    out: &Path,
    resume: bool,
    device: Device,
    progress: bool,
) -> Result<Vec<EpochRow>> {
    train_with_limits(cfg, out, resume, device, progress, &RunLimits::default())
}

/// [`train`] with a time budget, a checkpoint interval and a data cache.
/// Returns the metrics rows of the epochs finished so far.
pub fn train_with_limits(
    mut cfg: TrainConfig,
    out: &Path,
    resume: bool,
    device: Device,
    progress: bool,
    limits: &RunLimits,
) -> Result<Vec<EpochRow>> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config_path = out.join("config.json");
    let last = out.join("last.ot");
    let metrics_path = out.join("metrics.csv");
    let mut start_meta: Option<CheckpointMeta> = None;
    if resume {
        let saved: TrainConfig = load_json(&config_path)?;
        let epochs = cfg.epochs;
        cfg = saved;
        cfg.epochs = epochs;
        if checkpoint::recover(out, "last")? {
            eprintln!(
                "completed an interrupted checkpoint write in {}",
                out.display()
            );
        }
        checkpoint::recover(out, "best")?;
        start_meta = Some(load_json(&meta_path(&last)).with_context(|| {
            format!(
                "--resume: {} has no checkpoint yet (start it without --resume)",
                out.display()
            )
        })?);
    }
    save_json(&config_path, &cfg)?;
    let stop = stop_requested();

    tch::manual_seed(cfg.seed as i64);
    let (train_set, val_set) = load_sets(&cfg, progress, limits.data_cache.as_deref())?;
    eprintln!(
        "{} training, {} validation images at {}x{}",
        train_set.len(),
        val_set.len(),
        cfg.model.size,
        cfg.model.size
    );

    let mut vs = nn::VarStore::new(device);
    let mut model = Model::new(&vs.root(), cfg.model.clone())?;
    model.compute = Compute {
        bf16: cfg.bf16,
        channels_last: cfg.channels_last,
    };
    if let (Some(init), None) = (&cfg.init_from, &start_meta) {
        let (taken, fresh) = init_matching(&mut vs, init)?;
        eprintln!(
            "initialised {} of {} tensors from {} (fresh: {})",
            taken.len(),
            taken.len() + fresh.len(),
            init.display(),
            if fresh.is_empty() {
                "none".to_string()
            } else {
                fresh.join(", ")
            }
        );
    }
    let mut opt = Optimizer::new(&vs, cfg.optimizer, cfg.lr);
    let mut batch_size = cfg.batch_size;
    let mut rows: Vec<EpochRow> = Vec::new();
    let (mut start_epoch, mut best_psnr, mut best_epoch) = (0, f64::NEG_INFINITY, 0);
    let (mut images_seen, mut train_seconds_before) = (0u64, 0.0);
    if let Some(meta) = &start_meta {
        if meta.model != cfg.model {
            bail!(
                "{}: checkpoint model does not match config.json",
                last.display()
            );
        }
        vs.load(&last)
            .with_context(|| format!("loading {}", last.display()))?;
        checkpoint::load_optimizer(out, "last", &mut opt)?;
        start_epoch = meta.epoch;
        best_psnr = meta.best_val_psnr;
        best_epoch = meta.best_epoch;
        batch_size = meta.batch_size;
        images_seen = meta.images_seen;
        train_seconds_before = meta.train_seconds;
        rows = read_metrics(&metrics_path)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.epoch <= start_epoch)
            .collect();
        eprintln!(
            "resuming in epoch {} at image {} of {} from {}",
            start_epoch + 1,
            meta.position,
            train_set.len(),
            last.display()
        );
    }
    if device == Device::Cpu {
        let (fits, note) = cpu_batch_that_fits(&model, batch_size, mem_available_bytes());
        if let Some(note) = note {
            eprintln!("{note}");
        }
        batch_size = fits;
    }
    let loss = Loss::new(cfg.loss, cfg.model.head, &train_set, device);
    let fixed_samples: Vec<Sample> = val_set.iter().take(8).cloned().collect();
    let size = cfg.model.size;
    eprintln!(
        "{} on {:?} ({}): {:.3} GFLOP per frame, {} parameters",
        cfg.model.arch.name(),
        device,
        model.compute,
        2.0 * model.macs() as f64 / 1e9,
        vs.variables().values().map(|t| t.numel()).sum::<usize>()
    );

    let started = Instant::now();
    let budget = limits.max_minutes.map(|m| m * 60.0);
    let mut last_save = Instant::now();
    // The state a checkpoint records, shared by the mid-epoch and the
    // end-of-epoch saves.
    struct Progress {
        epoch_done: usize,
        position: usize,
        loss_sum: f64,
        seen: usize,
        rng_state: u64,
        lr_now: f64,
    }
    let meta_of = |p: &Progress,
                   best_psnr: f64,
                   best_epoch: usize,
                   batch_size: usize,
                   images_seen: u64,
                   val: Option<EpochRow>| CheckpointMeta {
        model: cfg.model.clone(),
        epoch: p.epoch_done,
        optimizer: cfg.optimizer,
        lr: cfg.lr,
        batch_size,
        best_val_psnr: best_psnr,
        best_epoch,
        val,
        position: p.position,
        epoch_loss_sum: p.loss_sum,
        epoch_seen: p.seen,
        rng_state: p.rng_state,
        images_seen,
        train_seconds: train_seconds_before + started.elapsed().as_secs_f64(),
        train_images: train_set.len(),
        total_epochs: cfg.epochs,
        lr_now: p.lr_now,
    };

    for epoch in start_epoch + 1..=cfg.epochs {
        let t0 = Instant::now();
        // Everything random in an epoch derives from (seed, epoch, position),
        // so a resumed run replays the batches an uninterrupted run would.
        let mut rng = Rng::new(cfg.seed.wrapping_mul(0x1_0000).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        rng.shuffle(&mut order);
        let (mut loss_sum, mut seen, mut pos) = (0.0, 0usize, 0usize);
        if let Some(meta) = start_meta.take() {
            if meta.position > 0 && meta.epoch + 1 == epoch {
                pos = meta.position.min(order.len());
                loss_sum = meta.epoch_loss_sum;
                seen = meta.epoch_seen;
                rng = Rng::from_state(meta.rng_state);
            }
        }
        let bar = if progress {
            let bar = indicatif::ProgressBar::new(order.len() as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{epoch}/{}", cfg.epochs));
            bar.set_position(pos as u64);
            bar.reset_eta();
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut lr_now = cfg.lr;
        while pos < order.len() {
            let over_budget = budget.is_some_and(|b| started.elapsed().as_secs_f64() >= b);
            let interrupted = stop.load(std::sync::atomic::Ordering::Relaxed);
            if over_budget
                || interrupted
                || last_save.elapsed().as_secs_f64() >= limits.checkpoint_seconds
            {
                let p = Progress {
                    epoch_done: epoch - 1,
                    position: pos,
                    loss_sum,
                    seen,
                    rng_state: rng.state(),
                    lr_now,
                };
                let meta = meta_of(
                    &p,
                    best_psnr,
                    best_epoch,
                    batch_size,
                    images_seen,
                    rows.last().cloned(),
                );
                checkpoint::commit(out, "last", &vs, Some(&opt), &meta)?;
                last_save = Instant::now();
                if over_budget || interrupted {
                    bar.finish_and_clear();
                    eprintln!(
                        "{} after {:.1} min: checkpoint at epoch {epoch}, image {pos} of {}; continue with --resume",
                        if interrupted { "stopped on a signal" } else { "time budget reached" },
                        started.elapsed().as_secs_f64() / 60.0,
                        order.len()
                    );
                    return Ok(rows);
                }
            }
            let end = (pos + batch_size).min(order.len());
            let refs: Vec<&Sample> = order[pos..end].iter().map(|&i| &train_set[i]).collect();
            let rng_before = rng.state();
            let batch = make_batch(&refs, size, Some(&mut rng));
            let (x, y) = to_tensors(&batch, size, device);
            let progress_frac =
                ((epoch - 1) as f64 + pos as f64 / order.len() as f64) / cfg.epochs as f64;
            lr_now = cfg.schedule.lr(cfg.lr, progress_frac, opt.steps());
            opt.set_lr(lr_now);
            tch::manual_seed(step_seed(cfg.seed, epoch, pos));
            let step = (|| -> Result<f64, TchError> {
                opt.zero_grad();
                let pred = model.forward(&x, true)?;
                let l = loss.compute(&pred, &y)?;
                l.f_backward()?;
                opt.step()?;
                l.f_double_value(&[])
            })();
            match step {
                Ok(l) => {
                    if !l.is_finite() {
                        bail!("training diverged at epoch {epoch}, image {pos}: loss is {l} (lower --lr)");
                    }
                    loss_sum += l * batch.n as f64;
                    seen += batch.n;
                    images_seen += batch.n as u64;
                    pos = end;
                    bar.set_position(pos as u64);
                    bar.set_message(format!(
                        "loss {:.5} lr {lr_now:.2e}",
                        loss_sum / seen as f64
                    ));
                }
                Err(e) if is_oom(&e) && batch_size > 1 => {
                    rng = Rng::from_state(rng_before);
                    batch_size /= 2;
                    bar.println(format!(
                        "CUDA out of memory at batch size {}: halved to {batch_size}, continuing",
                        batch_size * 2
                    ));
                }
                Err(e) => return Err(e).context("training step"),
            }
        }
        bar.finish_and_clear();
        let (val_loss, summary) = evaluate(&model, Some(&loss), &val_set, &mut batch_size, device)?;
        let row = EpochRow {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            val_psnr: summary.psnr,
            val_psnr_gray: summary.psnr_gray,
            val_colourfulness_ratio: summary.colourfulness_ratio,
            val_auc: summary.auc,
            seconds: t0.elapsed().as_secs_f64(),
        };
        eprintln!(
            "epoch {epoch}: train loss {:.5}, val loss {:.5}, val PSNR {:.3} dB (gray {:.3}, gain {:+.3}), colourfulness ratio {:.3}, {:.0} images/s",
            row.train_loss,
            row.val_loss,
            row.val_psnr,
            row.val_psnr_gray,
            summary.psnr_gain,
            row.val_colourfulness_ratio,
            seen as f64 / row.seconds
        );
        rows.push(row.clone());

        let is_best = row.val_psnr > best_psnr;
        if is_best {
            best_psnr = row.val_psnr;
            best_epoch = epoch;
        }
        let p = Progress {
            epoch_done: epoch,
            position: 0,
            loss_sum: 0.0,
            seen: 0,
            rng_state: 0,
            lr_now,
        };
        let meta = meta_of(
            &p,
            best_psnr,
            best_epoch,
            batch_size,
            images_seen,
            Some(row.clone()),
        );
        // metrics.csv first: a run killed between the two resumes from the
        // previous checkpoint and drops the extra row (filter on resume).
        write_metrics(&metrics_path, &rows)?;
        if is_best {
            checkpoint::commit(out, "best", &vs, None, &meta)?;
        }
        checkpoint::commit(out, "last", &vs, Some(&opt), &meta)?;
        last_save = Instant::now();
        write_curves(&out.join("curves.png"), &rows)?;
        write_samples(
            &out.join("samples.png"),
            &model,
            &fixed_samples,
            &mut batch_size,
            device,
        )?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, OutputActivation};

    fn paper(bf16: bool) -> Model {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ModelConfig {
            arch: Arch::Paper,
            size: 64,
            width: 32,
            depth: 6,
            dropout: 0.0,
            output: OutputActivation::Tanh,
            head: Default::default(),
        };
        let mut m = Model::new(&vs.root(), cfg).unwrap();
        m.compute.bf16 = bf16;
        m
    }

    #[test]
    fn paper_activations_are_counted_per_layer() {
        // 6 x (conv + relu) of 32 x 64 x 64, then conv_out and tanh of 2 x 64 x 64.
        let px = 64 * 64;
        assert_eq!(paper(false).activation_elems(), 12 * 32 * px + 2 * 2 * px);
    }

    #[test]
    fn cpu_batch_is_halved_until_it_fits() {
        let m = paper(false);
        let per_image = m.activation_elems() as f64 * CPU_STEP_BYTES_PER_ELEM_F32;
        // Room for 1,300 images: 5,000 -> 2,500 -> 1,250.
        let available = (1300.0 * per_image / CPU_MEMORY_SHARE) as u64;
        let (fits, note) = cpu_batch_that_fits(&m, 5000, Some(available));
        assert_eq!(fits, 1250);
        assert!(note.unwrap().contains("halved to 1250"));
        assert_eq!(cpu_batch_that_fits(&m, 1000, Some(available)), (1000, None));
        // bf16 halves the estimate: 2,500 fits in the same memory.
        assert_eq!(
            cpu_batch_that_fits(&paper(true), 2500, Some(available)).0,
            2500
        );
        assert_eq!(cpu_batch_that_fits(&m, 5000, None), (5000, None));
    }

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
        let batch = make_batch(&[&samples[0]], 8, None);
        let (_, y) = to_tensors(&batch, 8, Device::Cpu);
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

    #[test]
    fn init_from_takes_matching_tensors_only() {
        let cfg = |head| ModelConfig {
            arch: Arch::Ctx,
            size: 16,
            width: 8,
            depth: 2,
            dropout: 0.0,
            output: OutputActivation::Tanh,
            head,
        };
        let src = nn::VarStore::new(Device::Cpu);
        Model::new(&src.root(), cfg(Head::Regression)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.ot");
        src.save(&path).unwrap();
        let mut dst = nn::VarStore::new(Device::Cpu);
        Model::new(&dst.root(), cfg(Head::Dist)).unwrap();
        let (taken, fresh) = init_matching(&mut dst, &path).unwrap();
        assert_eq!(
            fresh,
            vec!["conv_out.bias".to_string(), "conv_out.weight".to_string()]
        );
        assert!(taken.contains(&"stem1.weight".to_string()));
        let (a, b) = (
            &src.variables()["stem1.weight"],
            &dst.variables()["stem1.weight"],
        );
        assert!(a.equal(b), "taken tensors are copied");
    }
}
