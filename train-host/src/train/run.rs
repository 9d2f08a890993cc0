//! A training run's state, and the steps that set it up before the first
//! step: the run folder, the data, the model and its starting weights, a
//! resumed checkpoint, the loss and the frozen encoder's feature cache.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use tch::{nn, Device};

use super::{load_sets, RunLimits, TrainConfig};
use crate::checkpoint::{
    self, init_matching, load_json, meta_path, read_metrics, save_json, CheckpointMeta, EpochRow,
};
use crate::data::{make_batch, Sample};
use crate::eval::to_tensors;
use crate::loss::Loss;
use crate::model::encoder::{self, FeatureCache};
use crate::model::{Arch, Compute, TorchModel};
use crate::optim::Optimizer;
use crate::resources::{cpu_batch_that_fits, mem_available_bytes};
use colorize_shared::colour_bins::BinDecoding;

/// Where a run stands across epochs: what a checkpoint records and a
/// resumed run restores, and what each epoch updates.
pub(super) struct Standing {
    /// Epochs completed before this process started.
    pub(super) start_epoch: usize,
    /// Lowered on a CUDA out-of-memory error (and to what fits a CPU's
    /// memory); kept in checkpoints so a resumed run does not retry it.
    pub(super) batch_size: usize,
    /// metrics.csv: one row per finished epoch.
    pub(super) rows: Vec<EpochRow>,
    pub(super) best_psnr: f64,
    pub(super) best_epoch: usize,
    pub(super) images_seen: u64,
    /// Training time of the earlier processes of this run.
    pub(super) train_seconds_before: f64,
    /// CPU time of the earlier processes of this run.
    pub(super) cpu_seconds_before: f64,
}

/// Everything one training process holds: set up by [`Run::start`], then
/// trained by `Run::train_epochs` (the `epoch` module).
pub(super) struct Run<'a> {
    pub(super) cfg: TrainConfig,
    pub(super) out: &'a Path,
    pub(super) device: Device,
    pub(super) progress: bool,
    pub(super) limits: &'a RunLimits,
    /// Set by SIGINT / SIGTERM.
    pub(super) stop: &'static Arc<AtomicBool>,
    pub(super) train_set: Vec<Sample>,
    pub(super) val_set: Vec<Sample>,
    pub(super) vs: nn::VarStore,
    pub(super) model: TorchModel,
    pub(super) opt: Optimizer,
    pub(super) loss: Loss,
    /// A rebalanced distribution head's bin weights, for the model card.
    pub(super) bin_log_weights: Option<Vec<f32>>,
    /// The frozen encoder's outputs per training image, when it has one.
    pub(super) features: Option<FeatureCache>,
    /// The validation images of samples.png, the same every epoch.
    pub(super) fixed_samples: Vec<Sample>,
    pub(super) standing: Standing,
    /// The checkpoint this run resumes from, until its epoch takes its
    /// mid-epoch position.
    pub(super) resume_from: Option<CheckpointMeta>,
    /// Training started (for the time budget and `train_seconds`).
    pub(super) started: Instant,
    pub(super) last_save: Instant,
}

/// Creates the run folder and, with `resume`, takes the settings and the
/// checkpoint to continue from out of it: a resumed run must rebuild the
/// model it saved, so of `cfg` only `epochs` applies. Completes a
/// checkpoint write that a kill interrupted before anything reads it, and
/// writes config.json (a resumed run's with the new epoch count).
pub(super) fn prepare_folder(
    mut cfg: TrainConfig,
    out: &Path,
    resume: bool,
) -> Result<(TrainConfig, Option<CheckpointMeta>)> {
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let config_path = out.join("config.json");
    let last = out.join("last.ot");
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
    Ok((cfg, start_meta))
}

/// Hint points per image when a hinted model is validated.
pub const VAL_HINTS: usize = 5;

impl<'a> Run<'a> {
    /// Sets a run up, in the order its randomness depends on: the seed,
    /// the data, the model's fresh weights, then what a checkpoint (when
    /// `start_meta` is one) replaces.
    pub(super) fn start(
        cfg: TrainConfig,
        out: &'a Path,
        device: Device,
        progress: bool,
        limits: &'a RunLimits,
        start_meta: Option<CheckpointMeta>,
        stop: &'static Arc<AtomicBool>,
    ) -> Result<Self> {
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
        let resuming = start_meta.is_some();
        let (mut vs, mut model) = build_model(&cfg, device, resuming)?;
        if cfg.model.hints {
            // Validation scores what the branch learns: colours with hints
            // (the automatic ones are the base model's by construction).
            model.eval_hints = VAL_HINTS;
        }
        let mut opt = Optimizer::new(&vs, cfg.optimizer, cfg.lr);
        if cfg.encoder_lr_scale != 1.0 {
            opt.scale_lr("enc_", cfg.encoder_lr_scale);
        }
        let mut standing = match &start_meta {
            Some(meta) => restore(out, &cfg, meta, &mut vs, &mut opt, train_set.len())?,
            None => Standing {
                start_epoch: 0,
                batch_size: cfg.batch_size,
                rows: Vec::new(),
                best_psnr: f64::NEG_INFINITY,
                best_epoch: 0,
                images_seen: 0,
                train_seconds_before: 0.0,
                cpu_seconds_before: 0.0,
            },
        };
        if device == Device::Cpu {
            standing.batch_size = cpu_batch(&model, standing.batch_size);
        }
        let (loss, bin_log_weights) =
            setup_loss(&cfg, &train_set, device, &mut model, out, resuming)?;
        let fixed_samples: Vec<Sample> = val_set.iter().take(8).cloned().collect();
        let features = feature_cache(&model, &train_set, limits, device, progress, stop)?;
        if cfg.model.arch == Arch::Lite && !resuming && cfg.init_from.is_none() {
            normalise_lite_readers(&cfg, &model, &train_set, device)?;
        }
        eprintln!(
            "{} on {:?} ({}): {:.3} GFLOP per frame, {} parameters",
            cfg.model.arch.name(),
            device,
            model.compute,
            2.0 * model.macs() as f64 / 1e9,
            vs.variables().values().map(|t| t.numel()).sum::<usize>()
        );
        Ok(Run {
            cfg,
            out,
            device,
            progress,
            limits,
            stop,
            train_set,
            val_set,
            vs,
            model,
            opt,
            loss,
            bin_log_weights,
            features,
            fixed_samples,
            standing,
            resume_from: start_meta,
            started: Instant::now(),
            last_save: Instant::now(),
        })
    }
}

/// The model of `cfg` with its starting weights: PyTorch's initialisation,
/// then, for a new run only, the pretrained encoder of `lite` and over it
/// `--init-from`'s weights where names and shapes match (so a fine-tuned
/// encoder is not replaced by ImageNet's; a resumed run's checkpoint
/// replaces all of them, so loading them would be wasted).
fn build_model(
    cfg: &TrainConfig,
    device: Device,
    resuming: bool,
) -> Result<(nn::VarStore, TorchModel)> {
    let mut vs = nn::VarStore::new(device);
    let mut model = TorchModel::new(&vs.root(), cfg.model.clone())?;
    model.compute = Compute {
        bf16: cfg.bf16,
        channels_last: cfg.channels_last,
    };
    if model.config.arch == Arch::Lite && !resuming {
        let path = cfg
            .encoder_weights
            .clone()
            .or_else(encoder::default_weights_path)
            .context("no pretrained encoder weights: pass --encoder-weights")?;
        let n = encoder::load_pretrained(&model, &path)?;
        eprintln!("pretrained encoder: {n} tensors from {}", path.display());
    }
    if let (Some(init), false) = (&cfg.init_from, resuming) {
        let (taken, fresh) = init_matching(&mut vs, init)?;
        // A hinted run trains its branch only: a base layer left fresh would
        // stay random for good.
        let unmatched: Vec<&str> = fresh
            .iter()
            .map(String::as_str)
            .filter(|n| !n.starts_with("hint_"))
            .collect();
        ensure!(
            !cfg.model.hints || unmatched.is_empty(),
            "--hints: {} is not this model's base ({} of its tensors do not match, e.g. {}); give the model the hint branch goes over",
            init.display(),
            unmatched.len(),
            unmatched.iter().take(3).copied().collect::<Vec<_>>().join(", ")
        );
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
    Ok((vs, model))
}

/// Loads `out/last.ot` and its optimizer state, and returns where the run
/// stood, with the metrics rows of the epochs it had finished: a run killed
/// between writing metrics.csv and its checkpoint wrote a row the
/// checkpoint does not cover, which is dropped here.
fn restore(
    out: &Path,
    cfg: &TrainConfig,
    meta: &CheckpointMeta,
    vs: &mut nn::VarStore,
    opt: &mut Optimizer,
    train_images: usize,
) -> Result<Standing> {
    let last = out.join("last.ot");
    if meta.model != cfg.model {
        bail!(
            "{}: checkpoint model does not match config.json",
            last.display()
        );
    }
    vs.load(&last)
        .with_context(|| format!("loading {}", last.display()))?;
    checkpoint::load_optimizer(out, "last", opt)?;
    let start_epoch = meta.epoch;
    let standing = Standing {
        start_epoch,
        batch_size: meta.batch_size,
        rows: read_metrics(&out.join("metrics.csv"))
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.epoch <= start_epoch)
            .collect(),
        best_psnr: meta.best_val_psnr,
        best_epoch: meta.best_epoch,
        images_seen: meta.images_seen,
        train_seconds_before: meta.train_seconds,
        cpu_seconds_before: meta.cpu_seconds,
    };
    eprintln!(
        "resuming in epoch {} at image {} of {} from {}",
        start_epoch + 1,
        meta.position,
        train_images,
        last.display()
    );
    Ok(standing)
}

/// On the CPU, the largest batch up to `batch_size` whose activations fit
/// the memory available: swapping is far slower than a smaller batch, and
/// there is no out-of-memory error to halve on as there is on CUDA.
fn cpu_batch(model: &TorchModel, batch_size: usize) -> usize {
    let (fits, note) = cpu_batch_that_fits(model, batch_size, mem_available_bytes());
    if let Some(note) = note {
        eprintln!("{note}");
    }
    fits
}

/// The loss of `cfg` (a distribution head's rebalancing weights come from
/// the training set's colours) and those weights. A rebalanced head is
/// validated at its faithful end, and its weights go into `best`'s card
/// when a resumed run's `best` predates them.
fn setup_loss(
    cfg: &TrainConfig,
    train_set: &[Sample],
    device: Device,
    model: &mut TorchModel,
    out: &Path,
    resuming: bool,
) -> Result<(Loss, Option<Vec<f32>>)> {
    let loss = Loss::new(cfg.loss, cfg.model.head, train_set, device);
    let bin_log_weights = loss.bin_log_weights().map(<[f32]>::to_vec);
    if let Some(w) = &bin_log_weights {
        // Validation scores the faithful end, where the rebalancing is taken
        // back out: the decode closest to what PSNR rewards.
        model.decoding = BinDecoding::rebalanced(w.clone());
        model.set_vividness(0.0);
        if resuming {
            checkpoint::add_bin_log_weights(out, "best", w)?;
        }
    }
    Ok((loss, bin_log_weights))
}

/// The frozen encoder's outputs for every training image, when the model
/// has frozen layers: the encoder then runs once per image, not once per
/// step.
fn feature_cache(
    model: &TorchModel,
    train_set: &[Sample],
    limits: &RunLimits,
    device: Device,
    progress: bool,
    stop: &AtomicBool,
) -> Result<Option<FeatureCache>> {
    if !model.has_frozen_layers() {
        return Ok(None);
    }
    let taps = model.cached_inputs();
    let bytes = 2
        * train_set.len() as u64
        * taps
            .iter()
            .map(|t| t.1.iter().product::<i64>() as u64)
            .sum::<u64>();
    if let Some(free) = mem_available_bytes() {
        // On Linux a too-large allocation is not an error: the OOM killer
        // would end the run later, with nothing to catch.
        ensure!(
            bytes < free / 10 * 9,
            "the cache of the frozen encoder's outputs ({}) needs {:.1} GB, {:.1} GB are \
             available: learn fewer encoder blocks (a larger --finetune-from), or use --max-images",
            taps.iter()
                .map(|t| t.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            bytes as f64 / 1e9,
            free as f64 / 1e9
        );
    }
    Ok(Some(FeatureCache::build(
        model,
        train_set,
        limits.data_cache.as_deref(),
        device,
        progress,
        Some(stop),
    )?))
}

/// A new `lite` run: scales the head's readers of the pretrained features
/// on the first 256 training images, so the fresh head starts from inputs
/// of unit scale (the encoder's features reach tens, which saturate a fresh
/// head; see [`encoder::normalise_readers`]).
fn normalise_lite_readers(
    cfg: &TrainConfig,
    model: &TorchModel,
    train_set: &[Sample],
    device: Device,
) -> Result<()> {
    let (size, input_size) = (cfg.model.sample_size(), cfg.model.size);
    let refs: Vec<&Sample> = train_set.iter().take(256).collect();
    let (x, _) = to_tensors(&make_batch(&refs, size, input_size, None), device);
    encoder::normalise_readers(model, &x)
}
