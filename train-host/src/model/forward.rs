//! The tch forward pass: the layer list run in order, in f32 or bf16,
//! NCHW or channels-last, whole or from cached frozen outputs.

use std::collections::HashMap;

use colorize_shared::contract::{HINTS_NAME, HINT_CHANNELS, INPUT_NAME, OUTPUT_NAME};
use tch::{Kind, TchError, Tensor};

use super::layers::LayerOp;
use super::torch::TorchModel;

/// How the forward pass computes; the weights always stay f32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compute {
    /// bfloat16 activations and weight copies (mixed precision: the f32
    /// master weights get the gradients). Uses AVX512-BF16 / AMX on CPUs that
    /// have them, tensor cores on CUDA.
    pub bf16: bool,
    /// NHWC ("channels last") strides for inputs and conv weights, which
    /// oneDNN and cuDNN run without layout conversions.
    pub channels_last: bool,
}

impl Compute {
    fn prepare(&self, t: &Tensor) -> Result<Tensor, TchError> {
        let t = if self.bf16 {
            t.f_to_kind(Kind::BFloat16)?
        } else {
            t.shallow_clone()
        };
        if self.channels_last && t.dim() == 4 {
            // tch has no memory-format API: permute to NHWC, make that
            // contiguous, permute back. The result is NCHW-shaped with NHWC
            // strides, which libtorch treats as channels-last.
            t.f_permute([0, 2, 3, 1])?
                .f_contiguous()?
                .f_permute([0, 3, 1, 2])
        } else {
            Ok(t)
        }
    }
}

/// Inverted dropout as a uniform draw compared with `p`. On the CPU the
/// random numbers dominate either way (paper CNN, dropout 0.25 after each
/// of its 6 layers, bf16, 2 cores: 305 images/s without dropout, 79 with
/// libtorch's `dropout`, 105 with this).
fn dropout(x: &Tensor, p: f64, train: bool) -> Result<Tensor, TchError> {
    if !train || p == 0.0 {
        return Ok(x.shallow_clone());
    }
    let keep = x.f_rand_like()?.f_ge(p)?.f_to_kind(x.kind())?;
    x.f_mul(&keep)?.f_mul_scalar(1.0 / (1.0 - p))
}

impl TorchModel {
    /// `[n, 1, size, size]` -> the output (`[n, 2, size, size]`, or at a
    /// fraction of it). Fallible so that a CUDA out-of-memory error comes
    /// back as a value the trainer can act on.
    pub fn forward(&self, input: &Tensor, train: bool) -> Result<Tensor, TchError> {
        self.forward_cached(input, Vec::new(), train)
    }

    /// [`TorchModel::forward`] with the frozen layers' outputs given (from a
    /// [`super::encoder::FeatureCache`]): only the other layers run.
    pub fn forward_cached(
        &self,
        input: &Tensor,
        cached: Vec<(String, Tensor)>,
        train: bool,
    ) -> Result<Tensor, TchError> {
        self.forward_hinted(input, None, cached, train)
    }

    /// [`TorchModel::forward_cached`] with a hinted model's hints
    /// (`[n, HINT_CHANNELS, h, w]` at the output's size; `None`: no hints,
    /// all zeros).
    pub fn forward_hinted(
        &self,
        input: &Tensor,
        hints: Option<&Tensor>,
        cached: Vec<(String, Tensor)>,
        train: bool,
    ) -> Result<Tensor, TchError> {
        let cx = self.compute;
        let mut env = self.run(input, hints, cached, train, false)?;
        let out = env
            .remove(OUTPUT_NAME)
            .expect("the last layer produces the output");
        // Callers read the output as NCHW-contiguous memory.
        let out = if cx.channels_last {
            out.f_contiguous()?
        } else {
            out
        };
        if cx.bf16 {
            out.f_to_kind(Kind::Float)
        } else {
            Ok(out)
        }
    }

    /// The tensors `names` of a whole forward pass (inference mode), as f32.
    pub fn outputs(&self, input: &Tensor, names: &[&str]) -> Result<Vec<Tensor>, TchError> {
        self.named_outputs(input, names, false)
    }

    /// The outputs `names` of the frozen layers, running only those.
    pub fn run_frozen(&self, input: &Tensor, names: &[&str]) -> Result<Vec<Tensor>, TchError> {
        self.named_outputs(input, names, true)
    }

    fn named_outputs(
        &self,
        input: &Tensor,
        names: &[&str],
        frozen_only: bool,
    ) -> Result<Vec<Tensor>, TchError> {
        let mut env = self.run(input, None, Vec::new(), false, frozen_only)?;
        names
            .iter()
            .map(|n| {
                let t = env.remove(*n).expect("a layer's output");
                t.f_contiguous()?.f_to_kind(Kind::Float)
            })
            .collect()
    }

    /// Runs the layers from `input` and the `given` tensors: every layer
    /// whose output is not given (with `frozen_only`, only the frozen
    /// ones). Returns every tensor computed or given, by name.
    fn run(
        &self,
        input: &Tensor,
        hints: Option<&Tensor>,
        given: Vec<(String, Tensor)>,
        train: bool,
        frozen_only: bool,
    ) -> Result<HashMap<String, Tensor>, TchError> {
        let cx = self.compute;
        let mut env: HashMap<String, Tensor> = HashMap::new();
        env.insert(INPUT_NAME.to_string(), cx.prepare(input)?);
        if let Some(side) = self.config.hint_side() {
            let hints = match hints {
                Some(h) => h.shallow_clone(),
                None => {
                    let (n, side) = (input.size()[0], side as i64);
                    Tensor::f_zeros(
                        [n, HINT_CHANNELS as i64, side, side],
                        (tch::Kind::Float, input.device()),
                    )?
                }
            };
            env.insert(HINTS_NAME.to_string(), cx.prepare(&hints)?);
        }
        // Given (cached) outputs stand for all the frozen layers.
        let skip_frozen = !given.is_empty();
        for (name, t) in given {
            env.insert(name, cx.prepare(&t)?);
        }
        for l in &self.layers {
            if (l.frozen && skip_frozen) || (frozen_only && !l.frozen) {
                continue;
            }
            let x = |i: usize| -> &Tensor { &env[l.inputs[i].as_str()] };
            let y = match &l.op {
                LayerOp::Conv {
                    k, stride, groups, ..
                } => {
                    let c = &self.convs[&l.name];
                    let pad = (k / 2) as i64;
                    let bias = match &c.bs {
                        Some(b) if cx.bf16 => Some(b.f_to_kind(Kind::BFloat16)?),
                        Some(b) => Some(b.shallow_clone()),
                        None => None,
                    };
                    x(0).f_conv2d(
                        &cx.prepare(&c.ws)?,
                        bias.as_ref(),
                        [*stride as i64; 2],
                        [pad; 2],
                        [1i64; 2],
                        *groups as i64,
                    )?
                }
                LayerOp::Relu => x(0).f_relu()?,
                LayerOp::Relu6 => x(0).f_clamp(0.0, 6.0)?,
                LayerOp::GlobalAvgPool => x(0).f_adaptive_avg_pool2d([1, 1])?,
                LayerOp::Add => x(0).f_add(x(1))?,
                LayerOp::Mul => x(0).f_mul(x(1))?,
                LayerOp::Tanh => x(0).f_tanh()?,
                LayerOp::Upsample2x => {
                    let (h, w) = (x(0).size()[2], x(0).size()[3]);
                    x(0).f_upsample_nearest2d([2 * h, 2 * w], None, None)?
                }
                LayerOp::Concat => {
                    let ts: Vec<&Tensor> = l.inputs.iter().map(|i| &env[i.as_str()]).collect();
                    Tensor::f_cat(&ts, 1)?
                }
                LayerOp::Flatten => x(0).f_flatten(1, -1)?,
                LayerOp::Linear { .. } => {
                    let lin = &self.linears[&l.name];
                    if cx.bf16 {
                        let bias = lin.bs.as_ref().map(|b| b.to_kind(Kind::BFloat16));
                        x(0).f_linear(&lin.ws.f_to_kind(Kind::BFloat16)?, bias.as_ref())?
                    } else {
                        x(0).f_linear(&lin.ws, lin.bs.as_ref())?
                    }
                }
                LayerOp::Reshape(shape) => {
                    let mut dims = vec![-1i64];
                    dims.extend(shape.iter().map(|&d| d as i64));
                    x(0).f_reshape(dims)?
                }
                LayerOp::Dropout(p) => dropout(x(0), *p, train)?,
            };
            env.insert(l.output.clone(), y);
        }
        Ok(env)
    }
}
