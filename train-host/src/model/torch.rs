//! [`TorchModel`]: the layer list bound to its libtorch variables. (Not
//! `Model`: the device crate's `Model` is a tract plan of the exported
//! network, a different thing.)

use std::collections::HashMap;

use anyhow::Result;
use colorize_shared::colour_bins::{Annealing, BinDecoding};
use tch::nn;

use super::config::ModelConfig;
use super::forward::Compute;
use super::layers::{layers, Layer, LayerOp};

/// A model's layers bound to its tch variables.
pub struct TorchModel {
    pub config: ModelConfig,
    pub layers: Vec<Layer>,
    pub compute: Compute,
    /// How a distribution head is decoded at each vividness (its card's
    /// entries: the rebalancing weights its loss used), and the decode of
    /// [`TorchModel::decode`] now ([`TorchModel::set_vividness`]; the plain mean until then).
    pub decoding: BinDecoding,
    pub annealing: Annealing,
    /// A hinted model's hint points per image when it is scored
    /// (`crate::eval::predict`, drawn from the truth by `data::hints`): 0
    /// scores its automatic colours.
    pub eval_hints: usize,
    pub(super) convs: HashMap<String, nn::Conv2D>,
    pub(super) linears: HashMap<String, nn::Linear>,
}

impl TorchModel {
    /// Creates the variables under `vs` (PyTorch's default initialisation).
    pub fn new(vs: &nn::Path, config: ModelConfig) -> Result<Self> {
        let layers = layers(&config)?;
        Self::with_layers(vs, config, layers)
    }

    /// A model of given layers (tests build the ImageNet classifier so).
    pub fn with_layers(vs: &nn::Path, config: ModelConfig, layers: Vec<Layer>) -> Result<Self> {
        let mut convs = HashMap::new();
        let mut linears = HashMap::new();
        // A hinted model trains its hint branch only: the base model's
        // colours without hints stay exactly those it was given. Its layers
        // are not frozen in the cache's sense (their outputs depend on the
        // learning encoder's cache only through the run, and are not
        // stored), they only take no gradient.
        let fixed = |l: &Layer| config.hints && !l.name.starts_with("hint_");
        for l in &layers {
            match l.op {
                LayerOp::Conv {
                    cin,
                    cout,
                    k,
                    stride,
                    groups,
                    bias,
                } => {
                    let cfg = nn::ConvConfig {
                        stride: stride as i64,
                        padding: (k / 2) as i64,
                        groups: groups as i64,
                        bias,
                        ..Default::default()
                    };
                    let conv = nn::conv2d(vs / &l.name, cin as i64, cout as i64, k as i64, cfg);
                    if l.frozen || fixed(l) {
                        let _ = conv.ws.set_requires_grad(false);
                        if let Some(b) = &conv.bs {
                            let _ = b.set_requires_grad(false);
                        }
                    }
                    convs.insert(l.name.clone(), conv);
                }
                LayerOp::Linear { fin, fout } => {
                    let lin = nn::linear(vs / &l.name, fin as i64, fout as i64, Default::default());
                    if l.frozen || fixed(l) {
                        let _ = lin.ws.set_requires_grad(false);
                        if let Some(b) = &lin.bs {
                            let _ = b.set_requires_grad(false);
                        }
                    }
                    linears.insert(l.name.clone(), lin);
                }
                _ => {}
            }
        }
        // Start close to "predict gray" (a* = b* = 0): with PyTorch's default
        // init the output layer paints random saturated colours, and the
        // first RMSprop steps (no gradient history yet) overshoot from there.
        let last_param = layers
            .iter()
            .rev()
            .find(|l| matches!(l.op, LayerOp::Conv { .. } | LayerOp::Linear { .. }))
            .map(|l| l.name.clone());
        if let Some(name) = last_param {
            let ws = match convs.get(&name) {
                Some(c) => c.ws.shallow_clone(),
                None => linears[&name].ws.shallow_clone(),
            };
            tch::no_grad(|| {
                let mut ws = ws;
                let _ = ws.f_mul_scalar_(0.1);
            });
        }
        Ok(TorchModel {
            config,
            layers,
            compute: Compute::default(),
            decoding: BinDecoding::default(),
            annealing: Annealing::plain(1.0),
            eval_hints: 0,
            convs,
            linears,
        })
    }

    /// Frozen layers' outputs that other layers read, with their (c, h, w):
    /// what a feature cache holds.
    pub fn cached_inputs(&self) -> Vec<(String, [i64; 3])> {
        let frozen: HashMap<&str, bool> = self
            .layers
            .iter()
            .map(|l| (l.output.as_str(), l.frozen))
            .collect();
        let mut shapes: HashMap<String, [i64; 3]> = HashMap::new();
        self.walk_shapes(|l, (c, h, w)| {
            shapes.insert(l.output.clone(), [c as i64, h as i64, w as i64]);
        });
        let mut out: Vec<(String, [i64; 3])> = Vec::new();
        for l in self.layers.iter().filter(|l| !l.frozen) {
            for i in &l.inputs {
                if frozen.get(i.as_str()) == Some(&true) && !out.iter().any(|(n, _)| n == i) {
                    out.push((i.clone(), shapes[i]));
                }
            }
        }
        out
    }

    pub fn has_frozen_layers(&self) -> bool {
        self.layers.iter().any(|l| l.frozen)
    }

    pub(crate) fn conv(&self, name: &str) -> Option<&nn::Conv2D> {
        self.convs.get(name)
    }

    pub(crate) fn linear(&self, name: &str) -> Option<&nn::Linear> {
        self.linears.get(name)
    }
}
