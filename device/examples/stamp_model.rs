//! Adds (or refreshes) the `colorize.initializers_sha256` card entry of ONNX
//! model files in place, leaving every weight as it is: decodes the
//! ModelProto, stamps it, re-encodes it, and checks that the graph and the
//! rest of the card came back unchanged.
//!
//! ```sh
//! cargo run -p colorize-device --example stamp_model -- models/colorize-default.onnx models/colorize-default-int8.onnx
//! ```

use anyhow::{ensure, Context, Result};
use colorize_device::shared::contract::meta;
use colorize_model::integrity;
use colorize_model::pb::ModelProto;
use colorize_model::Message;

fn main() -> Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    ensure!(!paths.is_empty(), "usage: stamp_model <model.onnx>...");
    for path in paths {
        let bytes = std::fs::read(&path).with_context(|| format!("{path}: can not read"))?;
        let before = ModelProto::decode(&bytes[..]).with_context(|| format!("{path}: not ONNX"))?;
        let mut model = before.clone();
        integrity::stamp(&mut model);
        let out = model.encode_to_vec();
        // Nothing but the card entry may change.
        let back = ModelProto::decode(&out[..])?;
        ensure!(back.graph == before.graph, "{path}: the graph changed");
        let card = |m: &ModelProto| -> Vec<(String, String)> {
            m.metadata_props
                .iter()
                .filter(|e| e.key != meta::INITIALIZERS_SHA256)
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect()
        };
        ensure!(card(&back) == card(&before), "{path}: the card changed");
        integrity::verify(&back, &path)?;
        std::fs::write(&path, &out).with_context(|| format!("{path}: can not write"))?;
        println!(
            "{path}: {} = {} ({} -> {} bytes)",
            meta::INITIALIZERS_SHA256,
            integrity::initializers_sha256(&back),
            bytes.len(),
            out.len()
        );
    }
    Ok(())
}
