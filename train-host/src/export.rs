//! Checkpoint -> `colorize_model::net::Net` with its model card -> ONNX.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_model::net::{Net, Op};
use colorize_shared::contract::{self, meta};
use sha2::{Digest, Sha256};

use crate::checkpoint;
use crate::data;
use crate::model::{Head, TorchModel};
use crate::train::TrainConfig;

/// SHA-256 of every weight and bias, in node order, as little-endian f32:
/// names the trained numbers independently of the ONNX encoding.
pub fn weights_sha256(net: &Net) -> String {
    let mut h = Sha256::new();
    for node in &net.nodes {
        let (w, b) = match &node.op {
            Op::Conv2d { weight, bias, .. } | Op::Linear { weight, bias } => (&weight.data, bias),
            _ => continue,
        };
        for v in w.iter().chain(b) {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The model card of a checkpoint: training data and command from the run's
/// `config.json`, validation metrics from the best row of its `metrics.csv`
/// (both beside the checkpoint, when present).
pub fn model_card(ckpt: &Path, model: &TorchModel, net_sha: &str) -> Vec<(String, String)> {
    let dir = ckpt.parent().unwrap_or(Path::new("."));
    let mut card = vec![
        (meta::ARCH.to_string(), model.config.arch.name().to_string()),
        (meta::INPUT_SIZE.to_string(), model.config.size.to_string()),
        (
            meta::CONTRACT_VERSION.to_string(),
            contract::CONTRACT_VERSION.to_string(),
        ),
        (
            meta::MODEL_ID.to_string(),
            format!(
                "{}-w{}-{}px-{}",
                model.config.arch.name(),
                model.config.width,
                model.config.size,
                &net_sha[..12]
            ),
        ),
        (meta::WEIGHTS_SHA256.to_string(), net_sha.to_string()),
    ];
    if let Ok(cfg) = checkpoint::load_json::<TrainConfig>(&dir.join("config.json")) {
        let data: Vec<String> = cfg.data.iter().map(|p| p.display().to_string()).collect();
        let mut data = data.join(", ");
        if let Some(classes) = &cfg.classes {
            data += &format!(" (classes {})", classes.join(","));
        }
        card.push((meta::TRAINING_DATA.to_string(), data));
        card.push((meta::TRAINING_COMMAND.to_string(), cfg.command.clone()));
    }
    if let Ok(rows) = checkpoint::read_metrics(&dir.join("metrics.csv")) {
        if let Some(best) = rows.iter().max_by(|a, b| a.val_psnr.total_cmp(&b.val_psnr)) {
            if let Ok(json) = serde_json::to_string(best) {
                card.push((meta::VAL_METRICS.to_string(), json));
            }
        }
    }
    card
}

/// The checkpoint as a Net with its model card; `vividness` is a
/// distribution head's default (the card's `colorize.default_vividness`).
/// `vivid_temperature` overrides the model's temperature at vividness 1.
pub fn checkpoint_to_net(
    ckpt: &Path,
    vividness: Option<f32>,
    vivid_temperature: Option<f32>,
) -> Result<Net> {
    let (_vs, mut model, _meta) = checkpoint::load_checkpoint(ckpt, tch::Device::Cpu)?;
    model.set_vivid_temperature(vivid_temperature)?;
    let net = model.to_net(Vec::new())?;
    let sha = weights_sha256(&net);
    let mut card = model_card(ckpt, &model, &sha);
    match (model.config.head, vividness) {
        (Head::Dist, v) => {
            let v = v.unwrap_or(0.0);
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "--vividness must be in 0..1, got {v}"
            );
            card.push((meta::DEFAULT_VIVIDNESS.to_string(), v.to_string()));
            card.extend(
                model
                    .decoding
                    .card_entries()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v)),
            );
        }
        (Head::Regression, Some(_)) => {
            anyhow::bail!(
                "--vividness: {} is a regression model, it has no vividness",
                ckpt.display()
            )
        }
        (Head::Regression, None) => {}
    }
    Ok(Net {
        metadata: card,
        ..net
    })
}

/// Calibration inputs for int8: images from `sources`, centre-cropped to
/// `size` and resized to the model's `input_size` as the device does, in the
/// contract's input scaling.
pub fn calibration_inputs(
    sources: &[PathBuf],
    size: usize,
    input_size: usize,
    max: usize,
) -> Result<Vec<Vec<f32>>> {
    let opts = data::LoadOptions {
        size,
        classes: None,
        gray_threshold: 0.0,
        max_images: Some(max),
        squash_crops: None,
        progress: false,
    };
    let (samples, _) = data::load(sources, &opts)?;
    anyhow::ensure!(
        !samples.is_empty(),
        "no calibration images found in --calib"
    );
    Ok(samples
        .iter()
        .map(|s| data::make_batch(&[s], size, input_size, None).input)
        .collect())
}

/// [`calibration_inputs`] at the sizes of the checkpoint `ckpt`'s model.
pub fn checkpoint_calibration(
    ckpt: &Path,
    sources: &[PathBuf],
    max: usize,
) -> Result<Vec<Vec<f32>>> {
    let (_vs, model, _) = checkpoint::load_checkpoint(ckpt, tch::Device::Cpu)?;
    calibration_inputs(sources, model.config.sample_size(), model.config.size, max)
}

/// Writes `out` (f32, or int8 with calibration inputs); `vividness` as in
/// [`checkpoint_to_net`].
pub fn export(
    ckpt: &Path,
    out: &Path,
    calibration: Option<&[Vec<f32>]>,
    vividness: Option<f32>,
    vivid_temperature: Option<f32>,
) -> Result<Net> {
    let net = checkpoint_to_net(ckpt, vividness, vivid_temperature)?;
    let bytes = match calibration {
        None => colorize_model::onnx::to_onnx(&net),
        Some(calib) => colorize_model::onnx::to_onnx_int8(&net, calib),
    }
    .with_context(|| format!("converting {} to ONNX", ckpt.display()))?;
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(net)
}
