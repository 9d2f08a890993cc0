//! Checkpoints: `<name>.ot` (weights), `<name>.opt.ot` (optimizer state, for
//! `last` only) and `<name>.json` (where the run stands), written so that a
//! run killed at any instant, SIGKILL included, finds one whole set.
//!
//! A set is committed in three steps: every file is written as `*.tmp` and
//! fsynced; `<name>.json.tmp` is written last, so its presence (as valid
//! JSON) is the commit point; then the `.tmp` files are renamed into place.
//! [`recover`] finishes or discards an interrupted commit before a resume:
//! without a valid `.json.tmp` the old set was never touched; with one,
//! every remaining `.tmp` belongs to the new set and is renamed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_shared::colour_bins::BinDecoding;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use crate::model::{ModelConfig, TorchModel};
use crate::optim::{Optimizer, OptimizerKind};

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

/// Saved beside each `<name>.ot` as `<name>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub model: ModelConfig,
    /// Epochs completed.
    pub epoch: usize,
    pub optimizer: OptimizerKind,
    /// The base learning rate (the schedule's peak).
    pub lr: f64,
    /// Batch size in use (smaller than asked after a CUDA out-of-memory).
    pub batch_size: usize,
    /// -inf before the first validation, which JSON writes as `null`.
    #[serde(deserialize_with = "f64_or_neg_infinity")]
    pub best_val_psnr: f64,
    pub best_epoch: usize,
    pub val: Option<EpochRow>,
    /// Training images already done in epoch `epoch + 1` (0 at an epoch's end).
    #[serde(default)]
    pub position: usize,
    /// Sum of the losses and count of images of that partial epoch.
    #[serde(default)]
    pub epoch_loss_sum: f64,
    #[serde(default)]
    pub epoch_seen: usize,
    /// The augmentation generator's state at `position`.
    #[serde(default)]
    pub rng_state: u64,
    /// Images trained on since the start of the run, and the seconds spent.
    #[serde(default)]
    pub images_seen: u64,
    #[serde(default)]
    pub train_seconds: f64,
    /// CPU seconds (user and system, every thread) of the run's processes
    /// so far, data loading and feature caches included: what an
    /// equal-CPU-time comparison counts.
    #[serde(default)]
    pub cpu_seconds: f64,
    /// Training images per epoch and the epochs planned, for progress and ETA.
    #[serde(default)]
    pub train_images: usize,
    #[serde(default)]
    pub total_epochs: usize,
    /// The learning rate of the last step (schedules).
    #[serde(default)]
    pub lr_now: f64,
    /// Distribution heads: ln of the class-rebalancing weight the loss gave
    /// each bin (computed from the training split), which the decode takes
    /// back out at the faithful end (`colour_bins::BinDecoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin_log_weights: Option<Vec<f32>>,
}

fn f64_or_neg_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

pub fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
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

fn opt_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.opt.ot"))
}

fn tmp(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn fsync(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", path.display()))
}

/// Writes the set `<name>.ot`, `<name>.opt.ot` (when `opt` is given) and
/// `<name>.json` in `dir`, atomically as a whole (see the module docs).
pub fn commit(
    dir: &Path,
    name: &str,
    vs: &nn::VarStore,
    opt: Option<&Optimizer>,
    meta: &CheckpointMeta,
) -> Result<()> {
    let weights = dir.join(format!("{name}.ot"));
    let json = meta_path(&weights);
    let optim = opt_path(dir, name);
    // Leftovers of an attempt that died before its commit point.
    for p in [&weights, &optim, &json] {
        let _ = fs::remove_file(tmp(p));
    }
    vs.save(tmp(&weights))
        .with_context(|| format!("saving {}", weights.display()))?;
    fsync(&tmp(&weights))?;
    if let Some(opt) = opt {
        opt.save(&tmp(&optim))?;
        fsync(&tmp(&optim))?;
    }
    {
        let mut f =
            fs::File::create(tmp(&json)).with_context(|| format!("writing {}", json.display()))?;
        f.write_all(serde_json::to_string_pretty(meta)?.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    finish(dir, &[&weights, &optim, &json])
}

/// Renames whatever `.tmp` files of a committed set remain, json last.
fn finish(dir: &Path, paths: &[&Path]) -> Result<()> {
    for p in paths {
        let t = tmp(p);
        if t.exists() {
            fs::rename(&t, p).with_context(|| format!("renaming {}", t.display()))?;
        }
    }
    fsync(dir)
}

/// Completes or discards an interrupted [`commit`] of set `name` in `dir`.
/// Returns true when it completed one.
pub fn recover(dir: &Path, name: &str) -> Result<bool> {
    let weights = dir.join(format!("{name}.ot"));
    let json = meta_path(&weights);
    let optim = opt_path(dir, name);
    let committed = load_json::<CheckpointMeta>(&tmp(&json)).is_ok();
    if committed {
        finish(dir, &[&weights, &optim, &json])?;
    } else {
        for p in [&weights, &optim, &json] {
            let _ = fs::remove_file(tmp(p));
        }
    }
    Ok(committed)
}

/// Restores the optimizer state of set `name` (written by [`commit`]).
pub fn load_optimizer(dir: &Path, name: &str, opt: &mut Optimizer) -> Result<()> {
    opt.load(&opt_path(dir, name))
}

/// Writes `bin_log_weights` into `<name>.json` of `dir` where it has none
/// (checkpoints of runs begun before the field existed; the weights are
/// the run's own, recomputed from the same training split), atomically.
pub fn add_bin_log_weights(dir: &Path, name: &str, log_weights: &[f32]) -> Result<()> {
    let json = meta_path(&dir.join(format!("{name}.ot")));
    let Ok(mut meta) = load_json::<CheckpointMeta>(&json) else {
        return Ok(());
    };
    if meta.bin_log_weights.is_some() {
        return Ok(());
    }
    meta.bin_log_weights = Some(log_weights.to_vec());
    let staging = json.with_extension("json.staging");
    save_json(&staging, &meta)?;
    fs::File::open(&staging)?.sync_all()?;
    fs::rename(&staging, &json).with_context(|| format!("replacing {}", json.display()))
}

/// Loads a checkpoint (`<name>.ot` with its `<name>.json`) onto `device`.
pub fn load_checkpoint(
    ckpt: &Path,
    device: Device,
) -> Result<(nn::VarStore, TorchModel, CheckpointMeta)> {
    let meta: CheckpointMeta = load_json(&meta_path(ckpt))
        .with_context(|| format!("{} needs its metadata file beside it", ckpt.display()))?;
    let mut vs = nn::VarStore::new(device);
    let mut model = TorchModel::new(&vs.root(), meta.model.clone())?;
    vs.load(ckpt)
        .with_context(|| format!("loading weights {}", ckpt.display()))?;
    if let Some(w) = &meta.bin_log_weights {
        model.decoding = BinDecoding::rebalanced(w.clone());
    }
    Ok((vs, model, meta))
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

/// Copies the tensors of checkpoint `path` into the variables of `vs` with
/// the same name and shape. Returns the names taken and the names left
/// fresh.
pub fn init_matching(vs: &mut nn::VarStore, path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let saved: std::collections::HashMap<String, Tensor> = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
    {
        // A shipped model: its ONNX initializers carry the variables' names.
        let bytes =
            fs::read(path).with_context(|| format!("reading --init-from {}", path.display()))?;
        colorize_model::weights::float_weights(&bytes, &path.display().to_string())?
            .into_iter()
            .map(|w| {
                let shape: Vec<i64> = w.shape.iter().map(|&d| d as i64).collect();
                (w.name, Tensor::from_slice(&w.data).view(shape.as_slice()))
            })
            .collect()
    } else {
        Tensor::load_multi(path)
            .with_context(|| format!("reading --init-from {}", path.display()))?
            .into_iter()
            .collect()
    };
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

pub(crate) fn write_metrics(path: &Path, rows: &[EpochRow]) -> Result<()> {
    let mut text = format!("{CSV_HEADER}\n");
    for r in rows {
        text.push_str(&r.to_csv());
        text.push('\n');
    }
    let tmp = path.with_extension("csv.tmp");
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, Head, OutputActivation};

    fn meta(epoch: usize) -> CheckpointMeta {
        CheckpointMeta {
            model: ModelConfig {
                arch: Arch::Paper,
                size: 8,
                width: 2,
                depth: 1,
                dropout: 0.0,
                output: Default::default(),
                head: Default::default(),
                finetune_encoder: false,
                finetune_from: None,
                hints: false,
                hint_coarse_width: None,
                hint_global: false,
            },
            epoch,
            optimizer: OptimizerKind::Adam,
            lr: 1e-3,
            batch_size: 4,
            best_val_psnr: f64::NEG_INFINITY,
            best_epoch: 0,
            val: None,
            position: 0,
            epoch_loss_sum: 0.0,
            epoch_seen: 0,
            rng_state: 0,
            images_seen: 0,
            train_seconds: 0.0,
            cpu_seconds: 0.0,
            train_images: 0,
            total_epochs: 0,
            lr_now: 0.0,
            bin_log_weights: None,
        }
    }

    fn setup(dir: &Path) -> (nn::VarStore, Optimizer) {
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = TorchModel::new(&vs.root(), meta(0).model).unwrap();
        let opt = Optimizer::new(&vs, OptimizerKind::Adam, 1e-3);
        commit(dir, "last", &vs, Some(&opt), &meta(1)).unwrap();
        (vs, opt)
    }

    #[test]
    fn a_commit_that_died_before_its_json_leaves_the_old_set() {
        let dir = tempfile::tempdir().unwrap();
        let (vs, _opt) = setup(dir.path());
        // Simulate a crash after the weights' .tmp was written: no json.tmp.
        vs.save(dir.path().join("last.ot.tmp")).unwrap();
        fs::write(dir.path().join("last.json.tmp"), "{\"model\": {").unwrap();
        assert!(!recover(dir.path(), "last").unwrap());
        assert_eq!(
            load_json::<CheckpointMeta>(&dir.path().join("last.json"))
                .unwrap()
                .epoch,
            1
        );
        assert!(!dir.path().join("last.ot.tmp").exists());
        assert!(!dir.path().join("last.json.tmp").exists());
    }

    #[test]
    fn a_commit_that_died_after_its_json_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let (vs, _opt) = setup(dir.path());
        // Crash between renames: weights already renamed, json still .tmp.
        vs.save(dir.path().join("last.ot")).unwrap();
        save_json(&dir.path().join("last.json.tmp"), &meta(2)).unwrap();
        assert!(recover(dir.path(), "last").unwrap());
        assert_eq!(
            load_json::<CheckpointMeta>(&dir.path().join("last.json"))
                .unwrap()
                .epoch,
            2
        );
        assert!(!dir.path().join("last.json.tmp").exists());
        assert!(dir.path().join("last.opt.ot").exists());
    }

    fn small_ctx(head: Head) -> ModelConfig {
        ModelConfig {
            arch: Arch::Ctx,
            size: 16,
            width: 8,
            depth: 2,
            dropout: 0.0,
            output: OutputActivation::Tanh,
            head,
            finetune_encoder: false,
            finetune_from: None,
            hints: false,
            hint_coarse_width: None,
            hint_global: false,
        }
    }

    #[test]
    fn init_from_takes_matching_tensors_only() {
        let src = nn::VarStore::new(Device::Cpu);
        TorchModel::new(&src.root(), small_ctx(Head::Regression)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.ot");
        src.save(&path).unwrap();
        let mut dst = nn::VarStore::new(Device::Cpu);
        TorchModel::new(&dst.root(), small_ctx(Head::Dist)).unwrap();
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

    #[test]
    fn init_from_a_shipped_onnx_model_takes_every_weight() {
        let cfg = small_ctx(Head::Dist);
        let src = nn::VarStore::new(Device::Cpu);
        let model = TorchModel::new(&src.root(), cfg.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shipped.onnx");
        let onnx = colorize_model::onnx::to_onnx(&model.to_net(vec![]).unwrap()).unwrap();
        fs::write(&path, onnx).unwrap();
        let mut dst = nn::VarStore::new(Device::Cpu);
        TorchModel::new(&dst.root(), cfg).unwrap();
        let (taken, fresh) = init_matching(&mut dst, &path).unwrap();
        assert!(fresh.is_empty(), "left fresh: {fresh:?}");
        assert_eq!(taken.len(), src.variables().len());
        for (name, t) in src.variables() {
            assert!(t.equal(&dst.variables()[&name]), "{name} differs");
        }
        // A damaged file is refused, not half-read.
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        fs::write(&path, bytes).unwrap();
        assert!(init_matching(&mut dst, &path).is_err());
    }

    #[test]
    fn bin_log_weights_are_added_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("best.json");
        save_json(&json, &meta(3)).unwrap();
        add_bin_log_weights(dir.path(), "best", &[0.5, -0.25]).unwrap();
        let m: CheckpointMeta = load_json(&json).unwrap();
        assert_eq!(m.bin_log_weights.as_deref(), Some(&[0.5, -0.25][..]));
        assert_eq!(m.epoch, 3, "the rest of the file is kept");
        add_bin_log_weights(dir.path(), "best", &[9.0]).unwrap();
        let m: CheckpointMeta = load_json(&json).unwrap();
        assert_eq!(m.bin_log_weights.as_deref(), Some(&[0.5, -0.25][..]));
        // No checkpoint yet: nothing to do, and no file made.
        add_bin_log_weights(dir.path(), "last", &[1.0]).unwrap();
        assert!(!dir.path().join("last.json").exists());
    }
}
