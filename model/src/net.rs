//! A trained network as plain data: the hand-over format between the trainer
//! (which fills it from its tch weights) and the ONNX writer (which turns it
//! into a graph tract and onnxruntime run). Tensors are row-major f32.
//!
//! Nodes are in topological order and refer to tensors by name. The graph's
//! input is [`colorize_shared::contract::INPUT_NAME`] (`[1, 1, H, W]`), with
//! [`colorize_shared::contract::HINTS_NAME`] beside it in a net that takes
//! colour hints ([`Net::hints`]), and
//! the last node must produce [`colorize_shared::contract::OUTPUT_NAME`]
//! (`[1, 2, H/k, W/k]` a*b*, or bin logits: [`colorize_shared::contract`]).

/// A dense f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor data does not match shape {shape:?}"
        );
        Tensor { shape, data }
    }
}

/// One operation. Spatial ops work on NCHW.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// 2-D convolution; `weight` is `[out, in / groups, kh, kw]`, `bias` has
    /// `out` values. Symmetric zero padding. Channels split into `groups`
    /// blocks, output block `g` reading only input block `g`: 1 is a plain
    /// convolution, `groups == in == out` a depthwise one.
    Conv2d {
        weight: Tensor,
        bias: Vec<f32>,
        stride: usize,
        padding: usize,
        dilation: usize,
        groups: usize,
    },
    Relu,
    Tanh,
    /// Elementwise clamp to `min..=max`; ReLU6 is `Clip { min: 0, max: 6 }`.
    Clip {
        min: f32,
        max: f32,
    },
    /// Mean over H and W: `[N, C, H, W] -> [N, C, 1, 1]`.
    GlobalAvgPool,
    /// Nearest-neighbour upsampling by 2 in H and W.
    Upsample2x,
    /// Concatenation along the channel axis, inputs in order.
    Concat,
    /// Elementwise sum of two tensors of the same shape.
    Add,
    /// Elementwise product of two tensors of the same shape.
    Mul,
    /// `[N, ...] -> [N, prod(...)]`.
    Flatten,
    /// Fully connected: `weight` is `[out, in]`, `y = x W^T + b`.
    Linear {
        weight: Tensor,
        bias: Vec<f32>,
    },
    /// Reshape to a fixed shape (the batch dimension included).
    Reshape {
        shape: Vec<usize>,
    },
}

/// A node: `output = op(inputs...)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<String>,
    pub output: String,
}

/// A whole network plus its model card.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    /// Architecture name, e.g. "paper", "mlp", "unet".
    pub arch: String,
    pub input_height: usize,
    pub input_width: usize,
    /// A net that takes colour hints: the (height, width) of its second
    /// input, `[1, HINT_CHANNELS, height, width]` (the output's a*b* size);
    /// `None` for a net of the one L* input.
    pub hints: Option<(usize, usize)>,
    pub nodes: Vec<Node>,
    /// Model-card entries for ONNX `metadata_props`; keys from
    /// [`colorize_shared::contract::meta`].
    pub metadata: Vec<(String, String)>,
}
