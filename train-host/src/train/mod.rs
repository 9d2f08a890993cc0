//! The training loop: data split, schedule, steps, validation each epoch,
//! checkpoints and run files as it goes, resumable after any stop.
//!
//! This module holds what a run is asked to do ([`TrainConfig`],
//! [`Schedule`], [`RunLimits`]) and the entry points; `run` sets a run up
//! (folder, data, model, resumed state) and `epoch` trains it epoch by
//! epoch.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::checkpoint::EpochRow;
use crate::data::{self, Sample};
use crate::loss::LossKind;
use crate::model::ModelConfig;
use crate::optim::OptimizerKind;

mod epoch;
mod run;

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
    /// Train on squashed crops of random aspect ratio up to this
    /// (`--squash-crops`).
    #[serde(default)]
    pub squash_crops: Option<f32>,
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
    /// The learning rate of the pretrained encoder's layers that learn, as
    /// a fraction of `lr`.
    #[serde(default = "one")]
    pub encoder_lr_scale: f64,
}

fn one() -> f64 {
    1.0
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
        squash_crops: cfg.squash_crops,
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
        // An explicit validation set is judged as it is.
        let opts = data::LoadOptions {
            max_images: None,
            squash_crops: None,
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
    cfg: TrainConfig,
    out: &Path,
    resume: bool,
    device: Device,
    progress: bool,
    limits: &RunLimits,
) -> Result<Vec<EpochRow>> {
    let (cfg, start_meta) = run::prepare_folder(cfg, out, resume)?;
    // Registered before the data loads, so a signal during a long decode
    // stops the run cleanly at its first step instead of killing it.
    let stop = stop_requested();
    let run = run::Run::start(cfg, out, device, progress, limits, start_meta, stop)?;
    run.train_epochs()
}
