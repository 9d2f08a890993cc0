//! End-to-end training on synthetic data with a learnable colour rule:
//! outputs, learning, resume, eval JSON and export.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use colorize_train::checkpoint;
use colorize_train::loss::LossKind;
use colorize_train::model::{Arch, ModelConfig};
use colorize_train::optim::OptimizerKind;
use colorize_train::train::{self, TrainConfig};

/// libtorch's random generator is process-global: tests that train must not
/// interleave, or the dropout masks of one run depend on the other.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config(data: PathBuf, epochs: usize) -> TrainConfig {
    TrainConfig {
        model: ModelConfig {
            arch: Arch::Paper,
            size: 16,
            width: 8,
            depth: 2,
            dropout: 0.0,
            output: Default::default(),
            head: Default::default(),
            finetune_encoder: false,
            finetune_from: None,
            hints: false,
            hint_coarse_width: None,
            hint_global: false,
        },
        data: vec![data],
        val: vec![],
        val_split: 0.1,
        classes: None,
        gray_threshold: 3.0,
        max_images: None,
        squash_crops: None,
        optimizer: OptimizerKind::Adam,
        lr: 1e-2,
        epochs,
        batch_size: 8,
        seed: 3,
        loss: LossKind::Mse,
        command: "test".into(),
        schedule: Default::default(),
        bf16: false,
        channels_last: false,
        init_from: None,
        encoder_weights: None,
        encoder_lr_scale: 1.0,
    }
}

fn synthetic_folder(root: &Path) -> PathBuf {
    common::write_folder(&root.join("data"), &common::dataset(64, 4, 16))
}

fn weights(path: &Path) -> Vec<(String, tch::Tensor)> {
    let mut v = tch::Tensor::load_multi(path).unwrap();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn smoke_train_learns_and_writes_every_output() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_folder(dir.path());
    let out = dir.path().join("run");
    let rows = train::train(
        config(data.clone(), 3),
        &out,
        false,
        tch::Device::Cpu,
        false,
    )
    .unwrap();
    for f in [
        "config.json",
        "metrics.csv",
        "curves.png",
        "samples.png",
        "best.ot",
        "best.json",
        "last.ot",
        "last.json",
        "last.opt.ot",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "header + one row per epoch:\n{csv}");
    assert!(csv.starts_with(checkpoint::CSV_HEADER));
    eprintln!("{csv}");
    assert!(
        rows[2].train_loss < rows[0].train_loss,
        "training loss did not fall: {rows:?}"
    );
    let gain = rows[2].val_psnr - rows[2].val_psnr_gray;
    assert!(
        gain > 0.0,
        "no PSNR gain over gray after training: {rows:?}"
    );

    // eval through the binary prints the shared metric fields as JSON.
    let bin = env!("CARGO_BIN_EXE_colorize-train");
    let res = Command::new(bin)
        .args(["eval", "--model"])
        .arg(out.join("best.ot"))
        .arg("--data")
        .arg(&data)
        .args(["--device", "cpu"])
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    for key in [
        "images",
        "psnr",
        "psnr_gray",
        "psnr_gain",
        "colourfulness_pred",
        "colourfulness_truth",
        "colourfulness_ratio",
        "auc",
    ] {
        assert!(json[key].is_number(), "eval JSON lacks {key}: {json}");
    }
    // The 4 gray truths are counted, not scored (shared metrics policy).
    assert_eq!(json["images"], 64, "{json}");
    assert_eq!(json["skipped_gray"], 4, "{json}");
    assert!(json["psnr_gain"].as_f64().unwrap() > 0.0, "{json}");

    // export through the binary: a model the device runtime accepts, with its card.
    let onnx = out.join("m.onnx");
    let res = Command::new(bin)
        .arg("export")
        .arg(out.join("best.ot"))
        .arg("--out")
        .arg(&onnx)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let model = colorize_device::runtime::Model::from_path(&onnx).unwrap();
    assert_eq!(model.geometry().width, 16);
    use colorize_shared::contract::meta;
    for key in [
        meta::ARCH,
        meta::INPUT_SIZE,
        meta::CONTRACT_VERSION,
        meta::TRAINING_DATA,
        meta::TRAINING_COMMAND,
        meta::VAL_METRICS,
        meta::WEIGHTS_SHA256,
    ] {
        assert!(model.meta(key).is_some(), "model card lacks {key}");
    }
    assert_eq!(model.meta(meta::ARCH), Some("paper"));
    assert_eq!(model.meta(meta::WEIGHTS_SHA256).unwrap().len(), 64);
}

#[test]
fn resume_reproduces_an_uninterrupted_run() {
    let _rng = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_folder(dir.path());
    let whole = dir.path().join("whole");
    let split = dir.path().join("split");
    let mut cfg = config(data, 2);
    cfg.model.dropout = 0.2; // the torch RNG must be replayed too
    cfg.optimizer = OptimizerKind::Rmsprop;
    cfg.lr = 1e-3;
    let rows_whole = train::train(cfg.clone(), &whole, false, tch::Device::Cpu, false).unwrap();
    let mut first = cfg.clone();
    first.epochs = 1;
    train::train(first, &split, false, tch::Device::Cpu, false).unwrap();
    let rows_split = train::train(cfg, &split, true, tch::Device::Cpu, false).unwrap();
    assert_eq!(rows_split.len(), 2);
    for (a, b) in rows_whole.iter().zip(&rows_split) {
        assert!((a.train_loss - b.train_loss).abs() < 1e-6, "{a:?} vs {b:?}");
        assert!((a.val_psnr - b.val_psnr).abs() < 1e-3, "{a:?} vs {b:?}");
    }
    for ((na, ta), (nb, tb)) in weights(&whole.join("last.ot"))
        .iter()
        .zip(&weights(&split.join("last.ot")))
    {
        assert_eq!(na, nb);
        let diff = (ta - tb).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "{na} differs by {diff} after resume");
    }
    let csv = std::fs::read_to_string(split.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
}
