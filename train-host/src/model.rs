//! The architectures, written once as a layer list that mirrors the Net IR of
//! `colorize_model::net`: tch runs the list for training, and export walks
//! the same list, so the ONNX graph cannot drift from what was trained.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context, Result};
use colorize_model::net::{Net, Node, Op, Tensor as NetTensor};
use colorize_shared::colour_bins::{self, Annealing, BinDecoding};
use colorize_shared::contract::{AB_RANGE, INPUT_NAME, OUTPUT_NAME};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, TchError, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// The paper's baseline: one hidden fully connected layer predicting a
    /// quarter-resolution a*b* map, upsampled 4x.
    Mlp,
    /// Gupta & Konda: 3x3 ReLU convolutions at full resolution, no pooling,
    /// tanh output.
    Paper,
    /// Encoder-decoder: strided convolutions 64->32->16->8, nearest upsampling
    /// and convolutions back up, skip connections by concatenation.
    Unet,
    /// Built for CPU training throughput: two strided convolutions take the
    /// input to 1/4 resolution, where residual 3x3 convolutions with many
    /// channels (large GEMMs) do most of the work; a global-context branch
    /// (down to 4x4, two fully connected layers, broadcast back by
    /// upsampling, as in Iizuka et al. 2016) lets the whole scene inform
    /// every pixel; colour is predicted at 1/2 resolution and upsampled.
    Ctx,
    /// An ImageNet-pretrained EfficientNet-Lite0 encoder (stem and blocks
    /// 0..=10, to 1/16 resolution; BatchNorm folded, frozen) under a colour
    /// head that learns: the stride-8 and stride-16 features projected and
    /// summed, a global-context branch, residual 3x3 convolutions, and an
    /// edge path from the input, with colour predicted at 1/4 resolution.
    /// The encoder's outputs are computed once per data set and cached
    /// (`encoder::FeatureCache`), so training runs only the head. Trained at
    /// `--size 128` from 64x64 images enlarged as the device enlarges them.
    Lite,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Paper => "paper",
            Arch::Unet => "unet",
            Arch::Ctx => "ctx",
            Arch::Lite => "lite",
        }
    }

    pub fn default_width(self) -> usize {
        match self {
            Arch::Mlp => 512,
            Arch::Paper => 32,
            Arch::Unet => 16,
            Arch::Ctx => 96,
            Arch::Lite => 64,
        }
    }

    pub fn default_depth(self) -> usize {
        match self {
            Arch::Mlp => 1,
            Arch::Paper => 6,
            Arch::Unet => 3,
            Arch::Ctx => 4,
            Arch::Lite => 4,
        }
    }

    /// The model input size when `--size` is not given: the pretrained
    /// encoder needs more than Tiny ImageNet's 64 pixels to recognise a
    /// scene (docs/training.md).
    pub fn default_size(self) -> usize {
        match self {
            Arch::Lite => 128,
            _ => colorize_shared::contract::DEFAULT_INPUT_SIZE,
        }
    }

    /// Every architecture, in the order of `--help`: clap's list, derived
    /// from the enum, so a new variant is benchmarked and tested without
    /// being added anywhere else.
    pub fn all() -> &'static [Arch] {
        <Arch as clap::ValueEnum>::value_variants()
    }
}

/// Everything needed to rebuild a model's layers (stored with checkpoints).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Input height and width.
    pub size: usize,
    /// Channels (paper, unet base, ctx body) or hidden units (mlp).
    pub width: usize,
    /// Hidden conv layers (paper), downsamplings (unet), residual body
    /// convolutions at 1/4 resolution (ctx), ignored by mlp.
    pub depth: usize,
    pub dropout: f64,
    /// The last layer's activation (regression head).
    #[serde(default)]
    pub output: OutputActivation,
    #[serde(default)]
    pub head: Head,
    /// `lite`: train the pretrained encoder too (a GPU's job: nothing is
    /// cached, every step runs the whole network) instead of freezing it.
    #[serde(default)]
    pub finetune_encoder: bool,
}

impl ModelConfig {
    /// The side of the training images as stored and scored: the input size,
    /// except for `lite`, whose input is the image enlarged 2x
    /// (`colorize_shared::contract::resize_l_plane`, as on the device).
    pub fn sample_size(&self) -> usize {
        match self.arch {
            Arch::Lite => self.size / 2,
            _ => self.size,
        }
    }
}

/// What the network predicts per pixel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// a*, b* directly (2 channels, tanh), trained by regression.
    #[default]
    Regression,
    /// A distribution over the a*b* bins of `colorize_shared::colour_bins`
    /// (logits, one channel per bin), trained by rebalanced cross-entropy and
    /// decoded by the annealed mean (`--vividness`). Not for `--arch mlp`.
    Dist,
}

/// The output layer's activation: the a*b* targets are in -1..1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OutputActivation {
    /// Covers -1..1: every hue can be predicted.
    #[default]
    Tanh,
    /// 0 and up only: negative a* (green) and negative b* (blue) cannot be
    /// predicted. The paper's argument for tanh, kept as an ablation.
    Relu,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LayerOp {
    /// `k x k`, padding `k / 2`; `groups` > 1 splits the channels
    /// (`groups == cin == cout`: depthwise).
    Conv {
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
    },
    Relu,
    /// min(max(x, 0), 6), EfficientNet-Lite's activation.
    Relu6,
    /// `[n, c, h, w]` -> `[n, c, 1, 1]`.
    GlobalAvgPool,
    Tanh,
    Upsample2x,
    Concat,
    /// Elementwise sum of two tensors of one shape (residual connections).
    Add,
    Flatten,
    Linear {
        fin: usize,
        fout: usize,
    },
    /// Target shape without the batch dimension.
    Reshape(Vec<usize>),
    /// Training only; the identity at inference and export.
    Dropout(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub op: LayerOp,
    pub inputs: Vec<String>,
    pub output: String,
    /// Pretrained and not trained: its weights never change, so its output
    /// can be computed once per image and cached.
    pub frozen: bool,
}

#[derive(Default)]
pub(crate) struct Builder {
    pub(crate) layers: Vec<Layer>,
    /// Marks the layers pushed from now on as frozen.
    pub(crate) frozen: bool,
}

impl Builder {
    pub(crate) fn push(&mut self, name: &str, op: LayerOp, inputs: &[&str]) -> String {
        let output = name.to_string();
        self.layers.push(Layer {
            name: name.to_string(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            output: output.clone(),
            frozen: self.frozen,
        });
        output
    }

    fn conv_relu(&mut self, name: &str, x: &str, cin: usize, cout: usize, stride: usize) -> String {
        let c = self.conv(name, x, cin, cout, 3, stride);
        self.push(&format!("{name}_relu"), LayerOp::Relu, &[&c])
    }

    pub(crate) fn conv(
        &mut self,
        name: &str,
        x: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> String {
        self.push(
            name,
            LayerOp::Conv {
                cin,
                cout,
                k,
                stride,
                groups: 1,
            },
            &[x],
        )
    }

    /// Depthwise `k x k` convolution over `c` channels.
    pub(crate) fn depthwise(
        &mut self,
        name: &str,
        x: &str,
        c: usize,
        k: usize,
        stride: usize,
    ) -> String {
        self.push(
            name,
            LayerOp::Conv {
                cin: c,
                cout: c,
                k,
                stride,
                groups: c,
            },
            &[x],
        )
    }

    /// The global-context branch after its strided convolutions: `x`
    /// (`fin` values an image) flattened, two fully connected layers (256,
    /// then `w` units), reshaped to `[w, 1, 1]` and broadcast by nearest
    /// upsampling to `side` x `side`. Returns the map and the side reached
    /// (a power of two: the caller checks it is `side`).
    fn global_context(
        &mut self,
        x: &str,
        fin: usize,
        w: usize,
        p: f64,
        side: usize,
    ) -> (String, usize) {
        let g = self.push("global_flat", LayerOp::Flatten, &[x]);
        let g = self.push("global_fc1", LayerOp::Linear { fin, fout: 256 }, &[&g]);
        let g = self.push("global_fc1_relu", LayerOp::Relu, &[&g]);
        let g = self.dropout("global_fc1", &g, p);
        let g = self.push("global_fc2", LayerOp::Linear { fin: 256, fout: w }, &[&g]);
        let g = self.push("global_fc2_relu", LayerOp::Relu, &[&g]);
        let mut g = self.push("global_map", LayerOp::Reshape(vec![w, 1, 1]), &[&g]);
        let mut reached = 1;
        while reached < side {
            g = self.push(&format!("global_up{reached}"), LayerOp::Upsample2x, &[&g]);
            reached *= 2;
        }
        (g, reached)
    }

    fn dropout(&mut self, name: &str, x: &str, p: f64) -> String {
        if p > 0.0 {
            self.push(&format!("{name}_drop"), LayerOp::Dropout(p), &[x])
        } else {
            x.to_string()
        }
    }

    /// The output: a 3x3 convolution from `x` (`cin` channels) to a*b*
    /// (regression: 2 channels and the output activation, then `upsample`
    /// 2x if asked) or to one logit per colour bin (kept at `x`'s
    /// resolution: the decode's result is upsampled by the recombination).
    /// The last layer is named as the contract's output.
    fn head(&mut self, cfg: &ModelConfig, x: &str, cin: usize, upsample: bool) {
        self.head_k(cfg, x, cin, upsample, 3)
    }

    /// [`Builder::head`] with a `k x k` output convolution for the
    /// distribution head (its hundreds of output channels make a 3x3 costly).
    fn head_k(&mut self, cfg: &ModelConfig, x: &str, cin: usize, upsample: bool, dist_k: usize) {
        let (cout, k) = match cfg.head {
            Head::Regression => (2, 3),
            Head::Dist => (colour_bins::bins().len(), dist_k),
        };
        let o = self.conv("conv_out", x, cin, cout, k, 1);
        let mut steps: Vec<(&str, LayerOp)> = Vec::new();
        if cfg.head == Head::Regression {
            steps.push(match cfg.output {
                OutputActivation::Tanh => ("tanh", LayerOp::Tanh),
                OutputActivation::Relu => ("relu_out", LayerOp::Relu),
            });
            if upsample {
                steps.push(("out_up", LayerOp::Upsample2x));
            }
        }
        let Some(last) = steps.pop() else {
            self.layers.last_mut().expect("conv_out").output = OUTPUT_NAME.to_string();
            return;
        };
        let mut x = o;
        for (name, op) in steps {
            x = self.push(name, op, &[&x]);
        }
        self.layers.push(Layer {
            name: last.0.into(),
            op: last.1,
            inputs: vec![x],
            output: OUTPUT_NAME.to_string(),
            frozen: false,
        });
    }
}

/// The layer list of an architecture.
pub fn layers(cfg: &ModelConfig) -> Result<Vec<Layer>> {
    let (s, w, p) = (cfg.size, cfg.width, cfg.dropout);
    ensure!(w > 0 && s > 0, "--width and --size must be positive");
    ensure!(
        (0.0..1.0).contains(&p),
        "--dropout must be in 0..1, got {p}"
    );
    let mut b = Builder::default();
    match cfg.arch {
        Arch::Mlp => {
            ensure!(
                s % 4 == 0,
                "--arch mlp needs --size divisible by 4, got {s}"
            );
            let q = s / 4;
            let x = b.push("flatten", LayerOp::Flatten, &[INPUT_NAME]);
            let x = b.push(
                "fc1",
                LayerOp::Linear {
                    fin: s * s,
                    fout: w,
                },
                &[&x],
            );
            let x = b.push("fc1_relu", LayerOp::Relu, &[&x]);
            let x = b.dropout("fc1", &x, p);
            let x = b.push(
                "fc2",
                LayerOp::Linear {
                    fin: w,
                    fout: 2 * q * q,
                },
                &[&x],
            );
            let x = b.push("reshape", LayerOp::Reshape(vec![2, q, q]), &[&x]);
            let x = b.push("up1", LayerOp::Upsample2x, &[&x]);
            let x = b.push("up2", LayerOp::Upsample2x, &[&x]);
            ensure!(
                cfg.head == Head::Regression,
                "--head dist needs a convolutional arch (paper, unet or ctx)"
            );
            let (name, op) = match cfg.output {
                OutputActivation::Tanh => ("tanh", LayerOp::Tanh),
                OutputActivation::Relu => ("relu_out", LayerOp::Relu),
            };
            b.layers.push(Layer {
                name: name.into(),
                op,
                inputs: vec![x],
                output: OUTPUT_NAME.to_string(),
                frozen: false,
            });
        }
        Arch::Paper => {
            ensure!(cfg.depth >= 1, "--arch paper needs --depth >= 1");
            let mut x = INPUT_NAME.to_string();
            let mut cin = 1;
            for i in 1..=cfg.depth {
                let name = format!("conv{i}");
                x = b.conv_relu(&name, &x, cin, w, 1);
                x = b.dropout(&name, &x, p);
                cin = w;
            }
            b.head(cfg, &x, cin, false);
        }
        Arch::Unet => {
            let levels = cfg.depth;
            ensure!(levels >= 1, "--arch unet needs --depth >= 1");
            ensure!(
                s % (1 << levels) == 0,
                "--arch unet with --depth {levels} needs --size divisible by {}, got {s}",
                1 << levels
            );
            // Encoder: full-resolution stem, then per level a strided conv
            // that doubles the channels and a conv at the new resolution.
            let mut skips = vec![(b.conv_relu("enc0", INPUT_NAME, 1, w, 1), w)];
            for lvl in 1..=levels {
                let (prev, cin) = skips.last().cloned().expect("stem");
                let c = w << lvl;
                let x = b.conv_relu(&format!("down{lvl}"), &prev, cin, c, 2);
                let mut x = b.conv_relu(&format!("enc{lvl}"), &x, c, c, 1);
                if lvl == levels {
                    x = b.dropout("bottleneck", &x, p);
                }
                skips.push((x, c));
            }
            // Decoder: upsample, concatenate the encoder's map at that size,
            // fuse with one conv.
            let (mut x, mut cx) = skips.pop().expect("bottleneck");
            for lvl in (0..levels).rev() {
                let (skip, cs) = skips[lvl].clone();
                let up = b.push(&format!("up{lvl}"), LayerOp::Upsample2x, &[&x]);
                let cat = b.push(&format!("cat{lvl}"), LayerOp::Concat, &[&up, &skip]);
                let c = w << lvl;
                x = b.conv_relu(&format!("dec{lvl}"), &cat, cx + cs, c, 1);
                cx = c;
            }
            b.head(cfg, &x, cx, false);
        }
        Arch::Ctx => {
            ensure!(cfg.depth >= 2, "--arch ctx needs --depth >= 2");
            ensure!(
                s % 16 == 0 && s >= 16,
                "--arch ctx needs --size divisible by 16, got {s}"
            );
            // 1/2 and 1/4 resolution stems; `w / 3` keeps the full- and
            // half-resolution layers (small GEMMs, slow per FLOP) narrow.
            let narrow = (w / 3).max(4);
            let half = b.conv_relu("stem1", INPUT_NAME, 1, narrow, 2);
            let x = b.conv_relu("stem2", &half, narrow, 2 * narrow, 2);
            let mut x = b.conv_relu("body0", &x, 2 * narrow, w, 1);
            // Residual 3x3 convolutions at 1/4 resolution: x + relu(conv(x)).
            let residual = |b: &mut Builder, x: &str, i: usize| -> String {
                let r = b.conv_relu(&format!("body{i}"), x, w, w, 1);
                b.push(&format!("body{i}_add"), LayerOp::Add, &[x, &r])
            };
            let before = cfg.depth / 2;
            for i in 1..=before {
                x = residual(&mut b, &x, i);
            }
            // Global context: 1/4 -> 1/16 resolution, two fully connected
            // layers, back to a [w, 1, 1] map, broadcast by upsampling.
            let q = s / 4;
            let g = b.conv_relu("global1", &x, w, w, 2);
            let g = b.conv_relu("global2", &g, w, w, 2);
            let (g, side) = b.global_context(&g, w * (q / 4) * (q / 4), w, p, q);
            ensure!(side == q, "--arch ctx needs a power-of-two --size, got {s}");
            let cat = b.push("fuse_cat", LayerOp::Concat, &[&x, &g]);
            let c = b.conv("fuse", &cat, 2 * w, w, 1, 1);
            x = b.push("fuse_relu", LayerOp::Relu, &[&c]);
            for i in before + 1..=cfg.depth {
                x = residual(&mut b, &x, i);
            }
            // Colour at 1/2 resolution: narrow the body, upsample, fuse with
            // the half-resolution stem (edges), predict, upsample.
            let dw = (narrow / 2).max(2);
            let r = b.conv("reduce", &x, w, dw, 1, 1);
            let r = b.push("reduce_relu", LayerOp::Relu, &[&r]);
            let up = b.push("dec_up", LayerOp::Upsample2x, &[&r]);
            let cat = b.push("dec_cat", LayerOp::Concat, &[&up, &half]);
            let d = b.conv_relu("dec", &cat, dw + narrow, dw, 1);
            b.head(cfg, &d, dw, true);
        }
        Arch::Lite => {
            ensure!(cfg.depth >= 2, "--arch lite needs --depth >= 2");
            ensure!(
                s >= 32 && s % 32 == 0 && (s / 16).is_power_of_two(),
                "--arch lite needs --size 32 x a power of two (64, 128, 256), got {s}"
            );
            ensure!(w >= 8, "--arch lite needs --width >= 8");
            b.frozen = !cfg.finetune_encoder;
            crate::encoder::push_lite0(&mut b, INPUT_NAME, 1, LITE_LAST_BLOCK, false);
            b.frozen = false;
            let t8 = crate::encoder::block_output(LITE_TAP_STRIDE8);
            let t16 = crate::encoder::block_output(LITE_LAST_BLOCK);
            let c8 = crate::encoder::LITE0_BLOCKS[LITE_TAP_STRIDE8].cout;
            let c16 = crate::encoder::LITE0_BLOCKS[LITE_LAST_BLOCK].cout;
            let residual = |b: &mut Builder, x: &str, i: usize| -> String {
                let r = b.conv_relu(&format!("body{i}"), x, w, w, 1);
                b.push(&format!("body{i}_add"), LayerOp::Add, &[x, &r])
            };
            // Global context at 1/32: the whole scene in a vector, broadcast
            // back to 1/16 (as in ctx, on pretrained features).
            let q = s / 32;
            let g = b.conv_relu("global1", &t16, c16, w, 2);
            let (g, _) = b.global_context(&g, w * q * q, w, p, s / 16);
            // 1/16: the deepest tap with the context.
            let p16 = b.conv("proj16", &t16, c16, w, 1, 1);
            let cat = b.push("fuse_cat", LayerOp::Concat, &[&p16, &g]);
            let f = b.conv("fuse", &cat, 2 * w, w, 1, 1);
            let mut x = b.push("fuse_relu", LayerOp::Relu, &[&f]);
            let before = cfg.depth / 2;
            for i in 1..=before {
                x = residual(&mut b, &x, i);
            }
            // 1/8: add the stride-8 tap.
            let up = b.push("up8", LayerOp::Upsample2x, &[&x]);
            let p8 = b.conv("proj8", &t8, c8, w, 1, 1);
            let sum = b.push("merge8", LayerOp::Add, &[&up, &p8]);
            x = b.push("merge8_relu", LayerOp::Relu, &[&sum]);
            for i in before + 1..=cfg.depth {
                x = residual(&mut b, &x, i);
            }
            // 1/4: edges from the input itself, then the colour.
            let dw = w / 2;
            let r = b.conv("reduce", &x, w, dw, 1, 1);
            let r = b.push("reduce_relu", LayerOp::Relu, &[&r]);
            let up = b.push("up4", LayerOp::Upsample2x, &[&r]);
            let e = b.conv_relu("edge1", INPUT_NAME, 1, 16, 2);
            let e = b.conv_relu("edge2", &e, 16, dw, 2);
            let cat = b.push("dec_cat", LayerOp::Concat, &[&up, &e]);
            let d = b.conv_relu("dec", &cat, 2 * dw, dw, 1);
            b.head_k(cfg, &d, dw, false, 1);
        }
    }
    Ok(b.layers)
}

/// `--arch lite`: the encoder ends after this block (1/16 resolution, 112
/// channels), and this earlier block's output (1/8, 40 channels) is the
/// second tap. The deeper blocks would triple the file (docs/training.md).
pub const LITE_LAST_BLOCK: usize = 10;
pub const LITE_TAP_STRIDE8: usize = 4;

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

/// A model's layers bound to its tch variables.
pub struct Model {
    pub config: ModelConfig,
    pub layers: Vec<Layer>,
    pub compute: Compute,
    /// How a distribution head is decoded at each vividness (its card's
    /// entries: the rebalancing weights its loss used), and the decode of
    /// [`Model::decode`] now ([`Model::set_vividness`]; the plain mean until then).
    pub decoding: BinDecoding,
    pub annealing: Annealing,
    convs: HashMap<String, nn::Conv2D>,
    linears: HashMap<String, nn::Linear>,
}

impl Model {
    /// Creates the variables under `vs` (PyTorch's default initialisation).
    pub fn new(vs: &nn::Path, config: ModelConfig) -> Result<Self> {
        let layers = layers(&config)?;
        Self::with_layers(vs, config, layers)
    }

    /// A model of given layers (tests build the ImageNet classifier so).
    pub fn with_layers(vs: &nn::Path, config: ModelConfig, layers: Vec<Layer>) -> Result<Self> {
        let mut convs = HashMap::new();
        let mut linears = HashMap::new();
        for l in &layers {
            match l.op {
                LayerOp::Conv {
                    cin,
                    cout,
                    k,
                    stride,
                    groups,
                } => {
                    let cfg = nn::ConvConfig {
                        stride: stride as i64,
                        padding: (k / 2) as i64,
                        groups: groups as i64,
                        ..Default::default()
                    };
                    let conv = nn::conv2d(vs / &l.name, cin as i64, cout as i64, k as i64, cfg);
                    if l.frozen {
                        let _ = conv.ws.set_requires_grad(false);
                        if let Some(b) = &conv.bs {
                            let _ = b.set_requires_grad(false);
                        }
                    }
                    convs.insert(l.name.clone(), conv);
                }
                LayerOp::Linear { fin, fout } => {
                    let lin = nn::linear(vs / &l.name, fin as i64, fout as i64, Default::default());
                    if l.frozen {
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
        Ok(Model {
            config,
            layers,
            compute: Compute::default(),
            decoding: BinDecoding::default(),
            annealing: Annealing::plain(1.0),
            convs,
            linears,
        })
    }

    /// `[n, 1, size, size]` -> the output (`[n, 2, size, size]`, or at a
    /// fraction of it). Fallible so that a CUDA out-of-memory error comes
    /// back as a value the trainer can act on.
    pub fn forward(&self, input: &Tensor, train: bool) -> Result<Tensor, TchError> {
        self.forward_cached(input, Vec::new(), train)
    }

    /// [`Model::forward`] with the frozen layers' outputs given (from a
    /// [`crate::encoder::FeatureCache`]): only the other layers run.
    pub fn forward_cached(
        &self,
        input: &Tensor,
        cached: Vec<(String, Tensor)>,
        train: bool,
    ) -> Result<Tensor, TchError> {
        let cx = self.compute;
        let mut env = self.run(input, cached, train, false)?;
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
        let mut env = self.run(input, Vec::new(), false, frozen_only)?;
        names
            .iter()
            .map(|n| {
                let t = env.remove(*n).expect("a layer's output");
                t.f_contiguous()?.f_to_kind(Kind::Float)
            })
            .collect()
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

    /// Runs the layers from `input` and the `given` tensors: every layer
    /// whose output is not given (with `frozen_only`, only the frozen
    /// ones). Returns every tensor computed or given, by name.
    fn run(
        &self,
        input: &Tensor,
        given: Vec<(String, Tensor)>,
        train: bool,
        frozen_only: bool,
    ) -> Result<HashMap<String, Tensor>, TchError> {
        let cx = self.compute;
        let mut env: HashMap<String, Tensor> = HashMap::new();
        env.insert(INPUT_NAME.to_string(), cx.prepare(input)?);
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

    /// `--vivid-temperature`: the annealing temperature at vividness 1, in
    /// (0, 1]; `None` keeps the model's. Takes effect at the next
    /// [`Model::set_vividness`].
    pub fn set_vivid_temperature(&mut self, t: Option<f32>) -> Result<()> {
        if let Some(t) = t {
            ensure!(
                t > 0.0 && t <= 1.0,
                "--vivid-temperature must be in (0, 1], got {t}"
            );
            self.decoding.vivid_temperature = t;
        }
        Ok(())
    }

    /// Decodes at vividness `v` from now on: `self.decoding.annealing(v)`.
    pub fn set_vividness(&mut self, v: f32) {
        self.annealing = self.decoding.annealing(v);
    }

    /// a*b* `[n, 2, s, s]` in -1..1 (the contract's output scale; s the
    /// sample size, [`ModelConfig::sample_size`]) from the network's output:
    /// for a regression head itself, enlarged bilinearly when it is smaller;
    /// for a distribution head the annealed mean of `annealing` over the bin
    /// centres (as `colorize_shared::colour_bins::annealed_mean`), enlarged
    /// (nearest).
    pub fn decode(&self, out: &Tensor, annealing: &Annealing) -> Result<Tensor, TchError> {
        let s = self.config.sample_size() as i64;
        if self.config.head == Head::Regression {
            // Bilinear, as the device's recombination enlarges a*b*.
            return if out.size()[2] == s {
                Ok(out.shallow_clone())
            } else {
                out.f_upsample_bilinear2d([s, s], false, None, None)
            };
        }
        let bins = colour_bins::bins();
        let flat: Vec<f32> = bins
            .iter()
            .flat_map(|c| [c[0] / AB_RANGE, c[1] / AB_RANGE])
            .collect();
        let centres = Tensor::f_from_slice(&flat)?
            .f_view([bins.len() as i64, 2])?
            .f_to_device(out.device())?;
        let mut z = out.f_to_kind(Kind::Float)?;
        if !annealing.offsets.is_empty() {
            let offsets = Tensor::f_from_slice(&annealing.offsets)?
                .f_view([1, bins.len() as i64, 1, 1])?
                .f_to_device(out.device())?;
            z = z.f_sub(&offsets)?;
        }
        let p = z
            .f_div_scalar(annealing.temperature.max(1e-3) as f64)?
            .f_softmax(1, Kind::Float)?;
        let ab = Tensor::f_einsum("nqhw,qc->nchw", &[&p, &centres], None::<i64>)?;
        if ab.size()[2] == s {
            Ok(ab)
        } else {
            ab.f_upsample_nearest2d([s, s], None, None)
        }
    }

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
    fn walk_shapes(&self, mut each: impl FnMut(&Layer, (u64, u64, u64))) {
        let s = self.config.size as u64;
        let mut shape: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        shape.insert(INPUT_NAME, (1, s, s));
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
                    let bias = c.bs.as_ref().context("conv without bias")?;
                    Op::Conv2d {
                        weight: to_net_tensor(&c.ws)?,
                        bias: to_net_tensor(bias)?.data,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(arch: Arch) -> ModelConfig {
        ModelConfig {
            arch,
            size: 64,
            width: arch.default_width(),
            depth: arch.default_depth(),
            dropout: 0.1,
            output: Default::default(),
            head: Default::default(),
            finetune_encoder: false,
        }
    }

    #[test]
    fn unet_fits_the_arm_budget() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let m = Model::new(&vs.root(), cfg(Arch::Unet)).unwrap();
        let gflop = 2.0 * m.macs() as f64 / 1e9;
        assert!(gflop < 0.3, "unet costs {gflop} GFLOP per frame");
        assert!(gflop > 0.05, "unet MAC count looks wrong: {gflop} GFLOP");
    }

    #[test]
    fn dist_head_decodes_like_the_shared_annealed_mean() {
        let q = colour_bins::bins().len();
        for arch in [Arch::Paper, Arch::Unet, Arch::Ctx] {
            let mut c = cfg(arch);
            c.size = 16;
            c.width = c.width.min(8);
            c.head = Head::Dist;
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let m = Model::new(&vs.root(), c).unwrap();
            let x = Tensor::rand([2, 1, 16, 16], (Kind::Float, tch::Device::Cpu));
            // Logits with some spread, as a trained model gives.
            let out = m.forward(&x, false).unwrap() * 300.0;
            let h = if arch == Arch::Ctx { 8 } else { 16 };
            assert_eq!(out.size(), vec![2, q as i64, h, h], "{arch:?}");
            let rebalanced = BinDecoding {
                log_weights: Some((0..q).map(|k| (k as f32 * 0.7).sin() * 2.0).collect()),
                vivid_temperature: 0.3,
            };
            for (what, ann) in [
                ("T 1", Annealing::plain(1.0)),
                ("T 0.1", Annealing::plain(0.1)),
                ("rebalanced V 0.4", rebalanced.annealing(0.4)),
            ] {
                let ab = m.decode(&out, &ann).unwrap();
                assert_eq!(ab.size(), vec![2, 2, 16, 16], "{arch:?}");
                let z = Vec::<f32>::try_from(&out.get(1).select(1, 3).select(1, 2)).unwrap();
                let (a, b) = colour_bins::annealed_mean(&z, &ann);
                // Output pixel (6, 5) reads logit pixel (3, 2) at half resolution.
                let (py, px) = if h == 8 { (6, 5) } else { (3, 2) };
                let got = ab.get(1).select(1, py).select(1, px);
                let got = Vec::<f32>::try_from(&got).unwrap();
                assert!(
                    (got[0] * AB_RANGE - a).abs() < 0.01,
                    "{arch:?} {what}: {} vs {a}",
                    got[0] * AB_RANGE
                );
                assert!(
                    (got[1] * AB_RANGE - b).abs() < 0.01,
                    "{arch:?} {what}: {} vs {b}",
                    got[1] * AB_RANGE
                );
            }
            // The exported output is the logits, named per the contract.
            let net = m.to_net(vec![]).unwrap();
            assert_eq!(net.nodes.last().unwrap().output, OUTPUT_NAME);
        }
        let mut c = cfg(Arch::Mlp);
        c.head = Head::Dist;
        assert!(layers(&c).is_err());
    }

    /// The smallest input each arch takes in these tests: lite's encoder
    /// needs 1/32 of it to be a whole number and 1/16 a power of two.
    fn small_size(arch: Arch) -> usize {
        if arch == Arch::Lite {
            64
        } else {
            16
        }
    }

    #[test]
    fn relu_output_replaces_the_final_tanh() {
        for &arch in Arch::all() {
            let mut c = cfg(arch);
            c.size = small_size(arch);
            c.width = c.width.min(8);
            c.output = OutputActivation::Relu;
            let ls = layers(&c).unwrap();
            assert!(ls.iter().all(|l| l.op != LayerOp::Tanh), "{arch:?}");
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let m = Model::new(&vs.root(), c).unwrap();
            // Inputs in -1..1, so a tanh output would have both signs.
            let s = small_size(arch) as i64;
            let x = Tensor::rand([2, 1, s, s], (Kind::Float, tch::Device::Cpu)) * 2.0 - 1.0;
            let y = m.forward(&x, false).unwrap();
            assert!(y.min().double_value(&[]) >= 0.0, "{arch:?}");
            let net = m.to_net(vec![]).unwrap();
            assert!(net.nodes.iter().all(|n| n.op != Op::Tanh), "{arch:?}");
        }
    }

    #[test]
    fn forward_and_backward_of_every_arch() {
        for &arch in Arch::all() {
            let mut c = cfg(arch);
            let s = small_size(arch) as i64;
            c.size = s as usize;
            c.width = c.width.min(8);
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let m = Model::new(&vs.root(), c).unwrap();
            let x = Tensor::rand([3, 1, s, s], (Kind::Float, tch::Device::Cpu));
            let y = m.forward(&x, true).unwrap();
            // lite predicts at 1/4 of its input.
            let o = if arch == Arch::Lite { s / 4 } else { s };
            assert_eq!(y.size(), vec![3, 2, o, o], "{arch:?}");
            let loss = y.square().mean(Kind::Float);
            loss.backward();
            for (name, v) in vs.variables() {
                let g = v.grad();
                // The pretrained encoder is frozen: no gradient, by design.
                if name.starts_with("enc_") {
                    assert!(!g.defined(), "{arch:?}: frozen {name} got a gradient");
                    continue;
                }
                assert!(g.defined(), "{arch:?}: no gradient for {name}");
                let norm = g.abs().sum(Kind::Float).double_value(&[]);
                assert!(
                    norm.is_finite(),
                    "{arch:?}: gradient of {name} is not finite"
                );
            }
            // Export drops dropout and names the output per the contract.
            let net = m.to_net(vec![]).unwrap();
            assert_eq!(net.nodes.last().unwrap().output, OUTPUT_NAME);
            assert!(net.nodes.iter().all(|n| !n.name.ends_with("_drop")));
        }
    }
}
