//! What a model is: its architecture and the settings that rebuild its
//! layers, stored with every checkpoint.

use serde::{Deserialize, Serialize};

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
    /// `lite`: encoder blocks from this one to the last learn with the
    /// head; the stem and the blocks before it stay frozen, and their
    /// output is computed once per image and cached, so a CPU can
    /// fine-tune the deep (low-resolution, recognising) blocks.
    #[serde(default)]
    pub finetune_from: Option<usize>,
    /// `lite` with `--head dist`: a second input of colour hints and a
    /// branch that follows them (`layers::Builder::hint_branch`); only the
    /// branch learns, over a base model taken from `--init-from`.
    #[serde(default)]
    pub hints: bool,
    /// The hint branch's channels below the output's size (`--hint-width`;
    /// `None`: 16, as at the output's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint_coarse_width: Option<usize>,
    /// The hint branch's whole-image path (`--hint-global`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hint_global: bool,
}

impl ModelConfig {
    /// The side of the training images as stored and scored: the input size,
    /// except for `lite`, whose input is the image enlarged 2x
    /// (`colorize_shared::contract::resize_l_plane`, as on the device).
    /// A hinted model's hint grid side: the output's size, 1/4 of the
    /// input's (the `lite` head's colour resolution); `None` without hints.
    pub fn hint_side(&self) -> Option<usize> {
        self.hints.then_some(self.size / 4)
    }

    /// The hint branch's channels below the output's size.
    pub fn hint_width(&self) -> usize {
        self.hint_coarse_width.unwrap_or(16)
    }

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
