//! Model file integrity: the card key [`meta::INITIALIZERS_SHA256`] holds a
//! SHA-256 over the ONNX graph's initializers (every weight, bias,
//! quantization scale and constant) exactly as stored, so a truncated or
//! tampered model file fails to load with a clear error instead of
//! colourizing with wrong numbers.
//!
//! The hash covers, for each initializer in graph order: its name, data
//! type, dims and data (`raw_data`, or the typed fields when a writer used
//! those), each length-prefixed. The ONNX writer ([`crate::onnx`]) stamps it,
//! the device runtime checks it when present; `examples/stamp_model.rs` stamps
//! an existing file without touching its weights.

use crate::pb::{ModelProto, StringStringEntryProto};
use anyhow::{bail, Result};
use colorize_shared::contract::meta;
use sha2::{Digest, Sha256};

/// The SHA-256 (lower-case hex) of `model`'s graph initializers as stored.
pub fn initializers_sha256(model: &ModelProto) -> String {
    let mut h = Sha256::new();
    let field = |h: &mut Sha256, bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    let inits = model.graph.as_ref().map_or(&[][..], |g| &g.initializer[..]);
    h.update((inits.len() as u64).to_le_bytes());
    for t in inits {
        field(&mut h, t.name.as_bytes());
        field(&mut h, &t.data_type.to_le_bytes());
        let dims: Vec<u8> = t.dims.iter().flat_map(|d| d.to_le_bytes()).collect();
        field(&mut h, &dims);
        field(&mut h, &t.raw_data);
        let typed: Vec<u8> = (t.float_data.iter().flat_map(|v| v.to_le_bytes()))
            .chain(t.int32_data.iter().flat_map(|v| v.to_le_bytes()))
            .chain(t.int64_data.iter().flat_map(|v| v.to_le_bytes()))
            .chain(t.double_data.iter().flat_map(|v| v.to_le_bytes()))
            .chain(t.uint64_data.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        field(&mut h, &typed);
        h.update((t.string_data.len() as u64).to_le_bytes());
        for s in &t.string_data {
            field(&mut h, s);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets (or replaces) the card's [`meta::INITIALIZERS_SHA256`] entry.
pub fn stamp(model: &mut ModelProto) {
    let value = initializers_sha256(model);
    match model
        .metadata_props
        .iter_mut()
        .find(|e| e.key == meta::INITIALIZERS_SHA256)
    {
        Some(e) => e.value = value,
        None => model.metadata_props.push(StringStringEntryProto {
            key: meta::INITIALIZERS_SHA256.into(),
            value,
        }),
    }
}

/// Checks the card's [`meta::INITIALIZERS_SHA256`] when it has one; a model
/// without it (an older or third-party file) passes. `source` names the
/// model in the error.
pub fn verify(model: &ModelProto, source: &str) -> Result<()> {
    let Some(want) = model
        .metadata_props
        .iter()
        .find(|e| e.key == meta::INITIALIZERS_SHA256)
    else {
        return Ok(());
    };
    let got = initializers_sha256(model);
    if !got.eq_ignore_ascii_case(want.value.trim()) {
        bail!(
            "{source}: model weights do not match the card's sha256 ({}): the file is corrupt or was modified (expected {}, got {got})",
            meta::INITIALIZERS_SHA256,
            want.value.trim()
        );
    }
    Ok(())
}
