//! What a forward pass costs: multiply-accumulates and activation memory,
//! from the layer list and the shapes it produces.

use std::collections::HashMap;

use colorize_shared::contract::{HINTS_NAME, HINT_CHANNELS, INPUT_NAME};

use super::layers::{Layer, LayerOp};
use super::torch::TorchModel;

impl TorchModel {
    /// Multiply-accumulates of one forward pass on one frame.
    pub fn macs(&self) -> u64 {
        let mut total = 0;
        self.walk_shapes(|l, (c, h, w)| {
            total += match l.op {
                LayerOp::Conv { cin, k, groups, .. } => c * h * w * (cin / groups * k * k) as u64,
                LayerOp::Linear { fin, fout } => (fin * fout) as u64,
                _ => 0,
            };
        });
        total
    }

    /// Values of all layer outputs for one frame: what a training step keeps
    /// alive per image for the backward pass (plus their gradients).
    pub fn activation_elems(&self) -> u64 {
        let mut total = 0;
        self.walk_shapes(|_, (c, h, w)| total += c * h * w);
        total
    }

    /// Calls `each` with every layer and its output's (channels, h, w).
    pub(super) fn walk_shapes(&self, mut each: impl FnMut(&Layer, (u64, u64, u64))) {
        let s = self.config.size as u64;
        let mut shape: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        shape.insert(INPUT_NAME, (1, s, s));
        if let Some(side) = self.config.hint_side() {
            let side = side as u64;
            shape.insert(HINTS_NAME, (HINT_CHANNELS as u64, side, side));
        }
        for l in &self.layers {
            let (c, h, w) = shape
                .get(l.inputs[0].as_str())
                .copied()
                .unwrap_or((1, 1, 1));
            let out = match &l.op {
                LayerOp::Conv { cout, stride, .. } => {
                    let st = *stride as u64;
                    (*cout as u64, h.div_ceil(st), w.div_ceil(st))
                }
                LayerOp::Linear { fout, .. } => (*fout as u64, 1, 1),
                LayerOp::Flatten => (c * h * w, 1, 1),
                LayerOp::GlobalAvgPool => (c, 1, 1),
                LayerOp::Upsample2x => (c, 2 * h, 2 * w),
                LayerOp::Reshape(d) => (d[0] as u64, d[1] as u64, d[2] as u64),
                LayerOp::Concat => (l.inputs.iter().map(|i| shape[i.as_str()].0).sum(), h, w),
                _ => (c, h, w),
            };
            each(l, out);
            shape.insert(l.output.as_str(), out);
        }
    }
}
