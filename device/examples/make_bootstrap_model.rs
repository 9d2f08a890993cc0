//! Writes placeholder default models (`colorize-default.onnx` and
//! `colorize-default-int8.onnx`) into a folder: a small conv net with fixed
//! pseudo-random weights, so a fresh project has a valid embedded model
//! before a trained one is dropped in under the same names. The folder is
//! required and existing files are kept unless `--force`: `models/` holds
//! the shipped, trained model.
//!
//! ```text
//! cargo run -p colorize-device --example make_bootstrap_model -- /tmp/bootstrap
//! cargo run -p colorize-device --example make_bootstrap_model -- models --force
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use colorize_model::onnx::{to_onnx, to_onnx_int8};
use colorize_model::synthetic::conv_net;
use colorize_shared::contract::DEFAULT_INPUT_SIZE;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let force = args.iter().any(|a| a == "--force");
    let Some(dir) = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
    else {
        bail!("usage: make_bootstrap_model DIR [--force] (DIR is required; existing models are kept without --force)");
    };
    let size = DEFAULT_INPUT_SIZE;
    let net = conv_net(size, 16, 2024);
    // Calibration: smooth gradients across the whole L* range, standing in
    // for photos (no dataset image may be used here).
    let calib: Vec<Vec<f32>> = (0..8)
        .map(|k| {
            let (fx, fy) = (0.5 + k as f32 * 0.7, 1.5 - k as f32 * 0.15);
            (0..size * size)
                .map(|i| {
                    let (x, y) = (
                        (i % size) as f32 / size as f32,
                        (i / size) as f32 / size as f32,
                    );
                    ((x * fx * 6.0).sin() * 0.6 + (y * fy * 4.0).cos() * 0.4).clamp(-1.0, 1.0)
                })
                .collect()
        })
        .collect();
    const NAMES: [&str; 2] = ["colorize-default.onnx", "colorize-default-int8.onnx"];
    if let Some(kept) = NAMES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists() && !force)
    {
        bail!(
            "{}: exists; nothing written (pass --force to replace the models in {})",
            kept.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: can not create", dir.display()))?;
    for (name, bytes) in [
        (NAMES[0], to_onnx(&net)?),
        (NAMES[1], to_onnx_int8(&net, &calib)?),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes)
            .with_context(|| format!("{}: can not write", path.display()))?;
        println!("{}: {} bytes", path.display(), bytes.len());
    }
    Ok(())
}
