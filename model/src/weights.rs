//! The float weights of an ONNX file, read back by name: how a trainer
//! starts from a shipped model (`colorize-train train --init-from
//! model.onnx`) when the checkpoint it came from is not at hand. The
//! writer ([`crate::onnx`]) names a layer's weights `<layer>.weight` and
//! `<layer>.bias`, the names the trainer's variables have.

use anyhow::{bail, ensure, Context, Result};
use prost::Message;

use crate::pb::{tensor_proto::DataType, ModelProto};

/// One float initializer: name, shape, values.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The f32 initializers of the ONNX model in `bytes`, in graph order. The
/// file's integrity stamp is checked first, so a damaged file is refused
/// rather than trained from. Integer initializers (shapes) are left out. An
/// int8 file is refused: its convolutions' weights are quantized, and only
/// its fully connected layers would be read.
pub fn float_weights(bytes: &[u8], source: &str) -> Result<Vec<Weight>> {
    let model = ModelProto::decode(bytes)
        .with_context(|| format!("{source}: not an ONNX model (protobuf decoding failed)"))?;
    crate::integrity::verify(&model, source)?;
    let graph = model
        .graph
        .with_context(|| format!("{source}: ONNX model without a graph"))?;
    ensure!(
        !graph
            .initializer
            .iter()
            .any(|t| t.data_type == DataType::Int8 as i32),
        "{source}: an int8 model (quantized weights); start from the f32 file"
    );
    let mut out = Vec::new();
    for t in graph.initializer {
        if t.data_type != DataType::Float as i32 {
            continue;
        }
        let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        let n: usize = shape.iter().product();
        let data: Vec<f32> = if !t.raw_data.is_empty() {
            ensure!(
                t.raw_data.len() == 4 * n,
                "{source}: initializer {} has {} bytes for {n} floats",
                t.name,
                t.raw_data.len()
            );
            t.raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        } else {
            ensure!(
                t.float_data.len() == n,
                "{source}: initializer {} has {} floats for shape {shape:?}",
                t.name,
                t.float_data.len()
            );
            t.float_data
        };
        out.push(Weight {
            name: t.name,
            shape,
            data,
        });
    }
    if !out.iter().any(|w| w.name.ends_with(".weight")) {
        bail!("{source}: no float weights");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{to_onnx, to_onnx_int8};
    use crate::synthetic::conv_net;

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let net = conv_net(16, 4, 3);
        let bytes = to_onnx(&net).unwrap();
        let weights = float_weights(&bytes, "test").unwrap();
        let mut want = Vec::new();
        for node in &net.nodes {
            if let crate::net::Op::Conv2d { weight, bias, .. } = &node.op {
                want.push((
                    format!("{}.weight", node.name),
                    weight.shape.clone(),
                    weight.data.clone(),
                ));
                want.push((
                    format!("{}.bias", node.name),
                    vec![bias.len()],
                    bias.clone(),
                ));
            }
        }
        assert!(!want.is_empty());
        for (name, shape, data) in want {
            let w = weights
                .iter()
                .find(|w| w.name == name)
                .unwrap_or_else(|| panic!("{name} not read back"));
            assert_eq!(w.shape, shape, "{name}");
            assert_eq!(w.data, data, "{name}");
        }
    }

    #[test]
    fn refuses_damaged_and_int8_files() {
        let net = conv_net(16, 4, 3);
        let mut bytes = to_onnx(&net).unwrap();
        // Flip one byte inside the first weight: the stamp no longer matches.
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        assert!(float_weights(&bytes, "damaged").is_err());
        assert!(float_weights(b"not a model", "junk").is_err());
        let input = vec![0.1f32; 16 * 16];
        let int8 = to_onnx_int8(&net, &[input]).unwrap();
        let err = float_weights(&int8, "int8").unwrap_err().to_string();
        assert!(err.contains("an int8 model"), "{err}");
    }
}
