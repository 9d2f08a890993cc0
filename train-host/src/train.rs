//! The training loop and everything a run writes into its folder.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use colorize_shared::contract;
use colorize_shared::lab;
use colorize_shared::metrics::{EvalAccumulator, EvalSummary};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Reduction, TchError, Tensor};

use crate::data::{self, make_batch, Rng, Sample};
use crate::model::{Model, ModelConfig};
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
}

/// Saved beside each `<name>.ot` as `<name>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub model: ModelConfig,
    /// Epochs completed.
    pub epoch: usize,
    pub optimizer: OptimizerKind,
    pub lr: f64,
    /// Batch size in use (smaller than asked after a CUDA out-of-memory).
    pub batch_size: usize,
    pub best_val_psnr: f64,
    pub best_epoch: usize,
    pub val: Option<EpochRow>,
}

/// One row of `metrics.csv`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_psnr: f64,
    pub val_psnr_gray: f64,
    pub val_colourfulness_ratio: f64,
    pub val_auc: f64,
    pub seconds: f64,
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

pub fn is_oom(e: &TchError) -> bool {
    let msg = e.to_string().to_ascii_lowercase();
    msg.contains("out of memory")
}

/// `--device auto|cpu|cuda`.
pub fn pick_device(name: &str) -> Result<Device> {
    Ok(match name {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => {
            if !tch::Cuda::is_available() {
                bail!("--device cuda: libtorch sees no CUDA device (is the `cuda` feature on?)");
            }
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

/// The configured loss between prediction and target `[n, 2, h, w]`.
pub struct Loss {
    kind: LossKind,
    weights: Option<Tensor>,
}

impl Loss {
    pub fn new(kind: LossKind, train: &[Sample], device: Device) -> Self {
        let weights = (kind == LossKind::Rebal)
            .then(|| Tensor::from_slice(&rebalance_weights(train)).to_device(device));
        Loss { kind, weights }
    }

    pub fn compute(&self, pred: &Tensor, target: &Tensor) -> Result<Tensor, TchError> {
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
        match out {
            Ok((out, l)) => {
                let out = Vec::<f32>::try_from(&out.to_device(Device::Cpu).view(-1))?;
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
    let size = model.config.size;
    let mut acc = EvalAccumulator::new();
    let loss = predict(model, loss, samples, batch_size, device, |i, out| {
        let s = &samples[i];
        let (x0, y0) = s.centre(size);
        acc.add(&s.crop_rgb8(x0, y0, size), &prediction_rgb8(s, out, size));
    })?;
    Ok((loss, acc.summary()))
}

/// `samples.png`: one row per image, gray | predicted | truth, 2x enlarged.
pub fn write_samples(
    path: &Path,
    model: &Model,
    samples: &[Sample],
    batch_size: &mut usize,
    device: Device,
) -> Result<()> {
    let size = model.config.size;
    let scale = 2;
    let cell = size * scale;
    let gap = 4;
    let rows = samples.len();
    let (w, h) = (3 * cell + 4 * gap, rows * (cell + gap) + gap);
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
    predict(model, None, samples, batch_size, device, |i, out| {
        let s = &samples[i];
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
        blit(&mut img, &prediction_rgb8(s, out, size), 1, i);
        blit(&mut img, &truth, 2, i);
    })?;
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// `curves.png`: losses on top, PSNR below, against the epoch.
pub fn write_curves(path: &Path, rows: &[EpochRow]) -> Result<()> {
    let mut img = image::RgbImage::from_pixel(900, 700, plot::WHITE);
    let pts = |f: fn(&EpochRow) -> f64| rows.iter().map(|r| (r.epoch as f64, f(r))).collect();
    plot::chart(
        &mut img,
        (0, 0, 900, 350),
        "LOSS",
        &[
            ("TRAIN", plot::BLUE, pts(|r| r.train_loss)),
            ("VAL", plot::ORANGE, pts(|r| r.val_loss)),
        ],
    );
    plot::chart(
        &mut img,
        (0, 350, 900, 350),
        "VAL PSNR",
        &[
            ("PREDICTED", plot::GREEN, pts(|r| r.val_psnr)),
            ("GRAY", plot::GRAY, pts(|r| r.val_psnr_gray)),
        ],
    );
    img.save(path)
        .with_context(|| format!("writing {}", path.display()))
}

fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

pub fn load_json<T: for<'a> Deserialize<'a>>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `best.ot` -> `best.json`.
pub fn meta_path(ckpt: &Path) -> PathBuf {
    ckpt.with_extension("json")
}

/// Loads a checkpoint (`<name>.ot` with its `<name>.json`) onto `device`.
pub fn load_checkpoint(
    ckpt: &Path,
    device: Device,
) -> Result<(nn::VarStore, Model, CheckpointMeta)> {
    let meta: CheckpointMeta = load_json(&meta_path(ckpt))
        .with_context(|| format!("{} needs its metadata file beside it", ckpt.display()))?;
    let mut vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), meta.model.clone())?;
    vs.load(ckpt)
        .with_context(|| format!("loading weights {}", ckpt.display()))?;
    Ok((vs, model, meta))
}

/// Loads the training and validation sets of a config.
pub fn load_sets(cfg: &TrainConfig, progress: bool) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let classes = cfg.classes.as_ref().map(|c| c.iter().cloned().collect());
    let opts = data::LoadOptions {
        size: cfg.model.size,
        classes,
        gray_threshold: cfg.gray_threshold,
        max_images: cfg.max_images,
        progress,
    };
    let (samples, report) = data::load(&cfg.data, &opts)?;
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
        let (val, report) = data::load(&cfg.val, &opts)?;
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

/// Trains per `cfg` into `out`. With `resume`, continues from `out/last.ot`
/// (the settings then come from `out/config.json`, except `epochs`).
pub fn train(
    mut cfg: TrainConfig,
    out: &Path,
    resume: bool,
    device: Device,
    progress: bool,
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
        start_meta = Some(load_json(&meta_path(&last))?);
    }
    save_json(&config_path, &cfg)?;

    tch::manual_seed(cfg.seed as i64);
    let (train_set, val_set) = load_sets(&cfg, progress)?;
    eprintln!(
        "{} training, {} validation images at {}x{}",
        train_set.len(),
        val_set.len(),
        cfg.model.size,
        cfg.model.size
    );

    let mut vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), cfg.model.clone())?;
    let mut opt = Optimizer::new(&vs, cfg.optimizer, cfg.lr);
    let mut batch_size = cfg.batch_size;
    let mut rows: Vec<EpochRow> = Vec::new();
    let (mut start_epoch, mut best_psnr, mut best_epoch) = (0, f64::NEG_INFINITY, 0);
    if let Some(meta) = &start_meta {
        if meta.model != cfg.model {
            bail!(
                "{}: checkpoint model does not match config.json",
                last.display()
            );
        }
        vs.load(&last)
            .with_context(|| format!("loading {}", last.display()))?;
        opt.load(&out.join("last.opt.ot"))?;
        start_epoch = meta.epoch;
        best_psnr = meta.best_val_psnr;
        best_epoch = meta.best_epoch;
        batch_size = meta.batch_size;
        rows = read_metrics(&metrics_path)?
            .into_iter()
            .filter(|r| r.epoch <= start_epoch)
            .collect();
        eprintln!("resuming after epoch {start_epoch} from {}", last.display());
    }
    let loss = Loss::new(cfg.loss, &train_set, device);
    let fixed_samples: Vec<Sample> = val_set.iter().take(8).cloned().collect();
    let size = cfg.model.size;
    eprintln!(
        "{} on {:?}: {:.3} GFLOP per frame, {} parameters",
        cfg.model.arch.name(),
        device,
        2.0 * model.macs() as f64 / 1e9,
        vs.variables().values().map(|t| t.numel()).sum::<usize>()
    );

    for epoch in start_epoch + 1..=cfg.epochs {
        let t0 = Instant::now();
        // Everything random in an epoch derives from (seed, epoch), so a
        // resumed run replays the epochs an uninterrupted run would.
        tch::manual_seed(cfg.seed.wrapping_mul(1000).wrapping_add(epoch as u64) as i64);
        let mut rng = Rng::new(cfg.seed.wrapping_mul(0x1_0000).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        rng.shuffle(&mut order);
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
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let (mut loss_sum, mut seen, mut pos) = (0.0, 0usize, 0usize);
        while pos < order.len() {
            let end = (pos + batch_size).min(order.len());
            let refs: Vec<&Sample> = order[pos..end].iter().map(|&i| &train_set[i]).collect();
            let batch = make_batch(&refs, size, Some(&mut rng));
            let (x, y) = to_tensors(&batch, size, device);
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
                    loss_sum += l * batch.n as f64;
                    seen += batch.n;
                    pos = end;
                    bar.set_position(pos as u64);
                    bar.set_message(format!("loss {:.5}", loss_sum / seen as f64));
                }
                Err(e) if is_oom(&e) && batch_size > 1 => {
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
        let meta = CheckpointMeta {
            model: cfg.model.clone(),
            epoch,
            optimizer: cfg.optimizer,
            lr: cfg.lr,
            batch_size,
            best_val_psnr: best_psnr,
            best_epoch,
            val: Some(row.clone()),
        };
        vs.save(&last)
            .with_context(|| format!("saving {}", last.display()))?;
        opt.save(&out.join("last.opt.ot"))?;
        save_json(&meta_path(&last), &meta)?;
        if is_best {
            let best = out.join("best.ot");
            vs.save(&best)
                .with_context(|| format!("saving {}", best.display()))?;
            save_json(&meta_path(&best), &meta)?;
        }
        let mut csv = fs::File::create(&metrics_path)
            .with_context(|| format!("writing {}", metrics_path.display()))?;
        writeln!(csv, "{CSV_HEADER}")?;
        for r in &rows {
            writeln!(csv, "{}", r.to_csv())?;
        }
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
