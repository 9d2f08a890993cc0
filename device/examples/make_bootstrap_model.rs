//! Writes the placeholder default models (`models/colorize-default.onnx` and
//! `models/colorize-default-int8.onnx`): a small conv net with fixed
//! pseudo-random weights, so the binary has a valid embedded model before a
//! trained one is dropped in under the same names.
//!
//! ```text
//! cargo run -p colorize-device --example make_bootstrap_model -- models
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result};
use colorize_model::onnx::{to_onnx, to_onnx_int8};
use colorize_model::synthetic::conv_net;
use colorize_shared::contract::DEFAULT_INPUT_SIZE;

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "models".into()));
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
    for (name, bytes) in [
        ("colorize-default.onnx", to_onnx(&net)?),
        ("colorize-default-int8.onnx", to_onnx_int8(&net, &calib)?),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &bytes)
            .with_context(|| format!("{}: can not write", path.display()))?;
        println!("{}: {} bytes", path.display(), bytes.len());
    }
    Ok(())
}
