//! The training loop: data split, schedule, steps, validation each epoch,
//! checkpoints and run files as it goes, resumable after any stop.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, TchError};

use crate::checkpoint::{
    self, init_matching, load_json, meta_path, read_metrics, save_json, write_metrics,
    CheckpointMeta, EpochRow,
};
use crate::data::{self, make_batch, Rng, Sample};
use crate::eval::{evaluate, to_tensors};
use crate::loss::{Loss, LossKind};
use crate::model::{Compute, Model, ModelConfig};
use crate::optim::{Optimizer, OptimizerKind};
use crate::report::{write_curves, write_samples};
use crate::resources::{cpu_batch_that_fits, is_oom, mem_available_bytes};
use colorize_shared::colour_bins::BinDecoding;

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
    /// The pretrained encoder's weights (`--arch lite`).
    #[serde(default)]
    pub encoder_weights: Option<PathBuf>,
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

/// Loads the training and validation sets of a config.
pub fn load_sets(
    cfg: &TrainConfig,
    progress: bool,
    cache: Option<&Path>,
) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let classes = cfg.classes.as_ref().map(|c| c.iter().cloned().collect());
    let opts = data::LoadOptions {
        size: cfg.model.sample_size(),
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
        "{} training, {} validation images at {}x{} (model input {}x{})",
        train_set.len(),
        val_set.len(),
        cfg.model.sample_size(),
        cfg.model.sample_size(),
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
    if model.config.arch == crate::model::Arch::Lite && start_meta.is_none() {
        let path = cfg
            .encoder_weights
            .clone()
            .or_else(crate::encoder::default_weights_path)
            .context("no pretrained encoder weights: pass --encoder-weights")?;
        let n = crate::encoder::load_pretrained(&model, &path)?;
        eprintln!("pretrained encoder: {n} tensors from {}", path.display());
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
    let bin_log_weights = loss.bin_log_weights().map(<[f32]>::to_vec);
    if let Some(w) = &bin_log_weights {
        // Validation scores the faithful end, where the rebalancing is taken
        // back out: the decode closest to what PSNR rewards.
        model.decoding = BinDecoding::rebalanced(w.clone());
        model.set_vividness(0.0);
        if start_meta.is_some() {
            checkpoint::add_bin_log_weights(out, "best", w)?;
        }
    }
    let fixed_samples: Vec<Sample> = val_set.iter().take(8).cloned().collect();
    let (size, input_size) = (cfg.model.sample_size(), cfg.model.size);
    // The frozen encoder runs once per training image, not once per step.
    let features = if model.has_frozen_layers() {
        Some(crate::encoder::FeatureCache::build(
            &model,
            &train_set,
            limits.data_cache.as_deref(),
            device,
            progress,
        )?)
    } else {
        None
    };
    if cfg.model.arch == crate::model::Arch::Lite && start_meta.is_none() && cfg.init_from.is_none()
    {
        let refs: Vec<&Sample> = train_set.iter().take(256).collect();
        let (x, _) = to_tensors(&make_batch(&refs, size, input_size, None), device);
        crate::encoder::normalise_readers(&model, &x)?;
    }
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
        bin_log_weights: bin_log_weights.clone(),
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
            // Cached features are of the unflipped centre crop: no augmentation.
            let batch = if features.is_some() {
                make_batch(&refs, size, input_size, None)
            } else {
                make_batch(&refs, size, input_size, Some(&mut rng))
            };
            let (x, y) = to_tensors(&batch, device);
            let cached = match &features {
                Some(f) => f.batch(&order[pos..end], device)?,
                None => Vec::new(),
            };
            let progress_frac =
                ((epoch - 1) as f64 + pos as f64 / order.len() as f64) / cfg.epochs as f64;
            lr_now = cfg.schedule.lr(cfg.lr, progress_frac, opt.steps());
            opt.set_lr(lr_now);
            tch::manual_seed(step_seed(cfg.seed, epoch, pos));
            let step = (|| -> Result<f64, TchError> {
                opt.zero_grad();
                let pred = model.forward_cached(&x, cached, true)?;
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
