//! The trained network as `colorize_model::net::Net`, the IR the ONNX
//! writer takes.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use colorize_model::net::{Net, Node, Op, Tensor as NetTensor};
use colorize_shared::contract::OUTPUT_NAME;
use tch::{Kind, Tensor};

use super::layers::LayerOp;
use super::torch::TorchModel;

impl TorchModel {
    /// The trained network as the hand-over IR for the ONNX writer. Dropout
    /// layers vanish: later layers read the dropout's input directly.
    pub fn to_net(&self, metadata: Vec<(String, String)>) -> Result<Net> {
        let mut alias: HashMap<String, String> = HashMap::new();
        let resolve = |alias: &HashMap<String, String>, n: &str| -> String {
            alias.get(n).cloned().unwrap_or_else(|| n.to_string())
        };
        let mut nodes = Vec::new();
        for l in &self.layers {
            let inputs: Vec<String> = l.inputs.iter().map(|i| resolve(&alias, i)).collect();
            let op = match &l.op {
                LayerOp::Conv {
                    k, stride, groups, ..
                } => {
                    let c = &self.convs[&l.name];
                    let weight = to_net_tensor(&c.ws)?;
                    let bias = match &c.bs {
                        Some(b) => to_net_tensor(b)?.data,
                        None => vec![0.0; weight.shape[0]],
                    };
                    Op::Conv2d {
                        weight,
                        bias,
                        stride: *stride,
                        padding: k / 2,
                        dilation: 1,
                        groups: *groups,
                    }
                }
                LayerOp::Linear { .. } => {
                    let lin = &self.linears[&l.name];
                    let bias = lin.bs.as_ref().context("linear without bias")?;
                    Op::Linear {
                        weight: to_net_tensor(&lin.ws)?,
                        bias: to_net_tensor(bias)?.data,
                    }
                }
                LayerOp::Relu => Op::Relu,
                LayerOp::Relu6 => Op::Clip { min: 0.0, max: 6.0 },
                LayerOp::GlobalAvgPool => Op::GlobalAvgPool,
                LayerOp::Tanh => Op::Tanh,
                LayerOp::Upsample2x => Op::Upsample2x,
                LayerOp::Concat => Op::Concat,
                LayerOp::Add => Op::Add,
                LayerOp::Mul => Op::Mul,
                LayerOp::Flatten => Op::Flatten,
                LayerOp::Reshape(shape) => {
                    let mut s = vec![1];
                    s.extend_from_slice(shape);
                    Op::Reshape { shape: s }
                }
                LayerOp::Dropout(_) => {
                    alias.insert(l.output.clone(), inputs[0].clone());
                    continue;
                }
            };
            nodes.push(Node {
                name: l.name.clone(),
                op,
                inputs,
                output: l.output.clone(),
            });
        }
        match nodes.last() {
            Some(n) if n.output == OUTPUT_NAME => {}
            _ => bail!("network does not end in the contract output {OUTPUT_NAME:?}"),
        }
        Ok(Net {
            arch: self.config.arch.name().to_string(),
            input_height: self.config.size,
            input_width: self.config.size,
            hints: self.config.hint_side().map(|side| (side, side)),
            nodes,
            metadata,
        })
    }
}

fn to_net_tensor(t: &Tensor) -> Result<NetTensor> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t
        .detach()
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view(-1);
    let data = Vec::<f32>::try_from(&flat).context("copying weights out of libtorch")?;
    Ok(NetTensor::new(shape, data))
}
