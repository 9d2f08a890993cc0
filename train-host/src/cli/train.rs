//! `colorize-train train`: the arguments become a [`TrainConfig`] and
//! [`RunLimits`]; [`train::train_with_limits`] does the work.

use std::path::PathBuf;

use anyhow::Result;

use crate::data;
use crate::loss::LossKind;
use crate::model::{Arch, Head, ModelConfig, OutputActivation};
use crate::optim::OptimizerKind;
use crate::resources;
use crate::train::{self, RunLimits, Schedule, TrainConfig};

/// Train a model; writes checkpoints, metrics.csv, curves.png, samples.png
/// and config.json into --out.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  colorize-train train --data ../shared/data/tiny-imagenet/train-0.tar.gz --arch paper --epochs 1 --out /tmp/run
  colorize-train train --data ../shared/data/tiny-imagenet --classes n01443537 --arch unet --loss rebal --out runs/fish
  colorize-train train --data photos/ --val holdout/ --size 96 --optimizer adam --lr 1e-3 --out runs/photos
  colorize-train train --out runs/fish --resume --epochs 20
  colorize-train train --data ../shared/data/tiny-imagenet --arch ctx --optimizer adam --lr 1e-3 \\
      --schedule cosine --bf16 --epochs 30 --max-minutes 120 --out ~/.cache/colorize/runs/default
  colorize-train train --out ~/.cache/colorize/runs/default --resume --epochs 30 --max-minutes 120
  colorize-train train --data ../shared/data/tiny-imagenet --arch lite --head dist --optimizer adam \\
      --init-from models/colorize-default.onnx --finetune-from 5 --bf16 --out runs/finetune")]
pub struct Args {
    /// Image folders (recursive: JPEG, PNG, TIFF) or .tar / .tar.gz shards, read as a stream. Repeatable.
    #[arg(long, required_unless_present = "resume")]
    pub data: Vec<PathBuf>,
    /// Explicit validation folder or shard (repeatable); otherwise --val-split of --data.
    #[arg(long)]
    pub val: Vec<PathBuf>,
    /// Fraction of --data held out for validation (deterministic per --seed).
    #[arg(long, default_value_t = 0.1)]
    pub val_split: f64,
    /// Only these ImageNet classes (wnids, comma separated), taken from the image paths.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// File with class wnids, one per line or comma separated.
    #[arg(long)]
    pub classes_file: Option<PathBuf>,
    /// Model input size; images are resized so their shorter side is this
    /// (lite: half this, then enlarged 2x as the device does) [default: 64,
    /// lite 128].
    #[arg(long)]
    pub size: Option<usize>,
    /// Images whose mean a*b* chroma (Lab units) is below this are skipped as grayscale.
    #[arg(long, default_value_t = 3.0)]
    pub gray_threshold: f32,
    /// Use at most this many images of --data (after filtering): the first ones
    /// in file order, which in Tiny ImageNet shards means the first classes;
    /// combine with --classes(-file) for a quick run that spans many classes.
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Photo-shaped training images: each image is replaced by one crop of
    /// random aspect ratio between 1 and this (wide or tall), stretched back
    /// to a square, as a photograph is squashed into the model's square
    /// input. The crop is fixed per image (seeded by its name), so decoded
    /// data and encoder features stay cacheable. --val-split's held-out
    /// images are cropped too; an explicit --val is not.
    #[arg(long, value_name = "MAX_ASPECT", value_parser = parse_aspect)]
    pub squash_crops: Option<f32>,
    #[arg(long, value_enum, default_value_t = Arch::Paper)]
    pub arch: Arch,
    /// Channels (paper, unet base width) or hidden units (mlp) [default: paper 32, unet 16, mlp 512].
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden conv layers (paper) or downsampling levels (unet) [default: paper 6, unet 3].
    #[arg(long)]
    pub depth: Option<usize>,
    /// Dropout probability after hidden layers (unet: at the bottleneck).
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Activation of the output layer (relu: the paper's ablation, only
    /// non-negative a*, b*).
    #[arg(long, value_enum, default_value_t = OutputActivation::Tanh)]
    pub output: OutputActivation,
    /// What the model predicts: a*b* (regression, --loss applies) or a
    /// distribution over a*b* bins (dist: rebalanced cross-entropy; decoded
    /// with the annealed mean, see `eval --vividness`).
    #[arg(long, value_enum, default_value_t = Head::Regression)]
    pub head: Head,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Rmsprop)]
    pub optimizer: OptimizerKind,
    /// Learning rate (1e-3 makes RMSprop diverge on unet).
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    /// Total epochs (with --resume: train until this many are done).
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Batch size; halved automatically on a CUDA out-of-memory error.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    pub loss: LossKind,
    /// auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Run folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue from OUT/last.ot with the settings in OUT/config.json (only
    /// --epochs, --device, --max-minutes, --checkpoint-minutes and the cache
    /// options apply). Resumes mid-epoch, learning-rate schedule included.
    #[arg(long)]
    pub resume: bool,
    /// Learning-rate schedule over --epochs.
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    pub schedule: Schedule,
    /// Start from the weights of this checkpoint where names and shapes
    /// match (the rest keeps its fresh initialisation): for example a
    /// regression model's body under a new --head dist.
    #[arg(long, value_name = "CKPT", conflicts_with = "resume")]
    pub init_from: Option<PathBuf>,
    /// --arch lite: train the pretrained encoder with the head (on a GPU;
    /// on a CPU the frozen encoder's outputs are cached instead).
    #[arg(long, conflicts_with = "finetune_from")]
    pub finetune_encoder: bool,
    /// --arch lite: encoder blocks N..=10 learn with the head (the
    /// deep, low-resolution blocks that recognise the scene); the stem and
    /// blocks 0..N stay frozen and their output is cached once, so this is
    /// the CPU's way to fine-tune. 5 starts at 1/16 resolution.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=crate::model::LITE_LAST_BLOCK as i64))]
    pub finetune_from: Option<u8>,
    /// --arch lite --head dist: add a second input of colour hints and a
    /// branch that follows them (points drawn from the truth: data::hints).
    /// Only the branch learns, over the model of --init-from (required),
    /// so without hints the result colours exactly as that model does.
    #[arg(long)]
    pub hints: bool,
    /// --hints: the hint branch's channels below the output's size (more
    /// spread for little cost: those levels have 1/4 and fewer of its
    /// cells) [default: 16]
    #[arg(long, value_name = "N", requires = "hints")]
    pub hint_width: Option<usize>,
    /// --hints: add a whole-image path to the hint branch (its coarsest
    /// features averaged over the image and broadcast back), so that one
    /// hint can recolour a photograph that is one surface.
    #[arg(long, requires = "hints")]
    pub hint_global: bool,
    /// The learning rate of pretrained encoder layers that learn, as a
    /// fraction of --lr (they start from good weights; a fresh head's rate
    /// would wash out what ImageNet taught them) [default: 0.1 with
    /// --finetune-from, 1 otherwise (the GPU pack's --finetune-encoder recipe)].
    #[arg(long, value_name = "FACTOR")]
    pub encoder_lr_scale: Option<f64>,
    /// The pretrained encoder's weights for --arch lite [default: what
    /// scripts/setup.sh installs, $COLORIZE_CACHE/pretrained/efficientnet-lite0.safetensors].
    #[arg(long, value_name = "FILE")]
    pub encoder_weights: Option<PathBuf>,
    /// Mixed precision: bf16 activations and weight copies, f32 master
    /// weights (AVX512-BF16/AMX on CPUs that have them, tensor cores on CUDA).
    #[arg(long)]
    pub bf16: bool,
    /// Channels-last (NHWC) strides for activations and conv weights.
    #[arg(long)]
    pub channels_last: bool,
    /// Stop cleanly after this many minutes of training, with a checkpoint
    /// (continue later with --resume). SIGINT/SIGTERM stop the same way.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Minutes between mid-epoch checkpoints (written atomically).
    #[arg(long, default_value_t = 5.0)]
    pub checkpoint_minutes: f64,
    /// Where decoded data sets are cached [default: $COLORIZE_DATA_CACHE,
    /// else ~/.cache/colorize/data].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Decode the data every time, without reading or writing the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// libtorch intra-op threads [default: one per core].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    anyhow::ensure!(
        a.resume || a.arch == Arch::Lite || (a.finetune_from.is_none() && !a.finetune_encoder),
        "--finetune-from and --finetune-encoder are for --arch lite (the pretrained encoder)"
    );
    anyhow::ensure!(
        a.resume || !a.hints || a.init_from.is_some(),
        "--hints trains a hint branch over an existing model: give it with --init-from (e.g. models/colorize-default.onnx)"
    );
    let device = resources::pick_device(&a.device)?;
    if let Some(t) = a.threads {
        tch::set_num_threads(t.max(1) as i32);
    }
    let classes = data::parse_classes(&a.classes, a.classes_file.as_deref())?;
    let mut classes: Option<Vec<String>> = classes.map(|c| c.into_iter().collect());
    if let Some(c) = &mut classes {
        c.sort();
    }
    let cfg = TrainConfig {
        model: ModelConfig {
            arch: a.arch,
            size: a.size.unwrap_or(a.arch.default_size()),
            width: a.width.unwrap_or(a.arch.default_width()),
            depth: a.depth.unwrap_or(a.arch.default_depth()),
            dropout: a.dropout,
            output: a.output,
            head: a.head,
            finetune_encoder: a.finetune_encoder,
            finetune_from: a.finetune_from.map(usize::from),
            hints: a.hints,
            hint_coarse_width: a.hint_width,
            hint_global: a.hint_global,
        },
        data: a.data,
        val: a.val,
        val_split: a.val_split,
        classes,
        gray_threshold: a.gray_threshold,
        max_images: a.max_images,
        squash_crops: a.squash_crops,
        optimizer: a.optimizer,
        lr: a.lr,
        epochs: a.epochs,
        batch_size: a.batch_size.max(1),
        seed: a.seed,
        loss: a.loss,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        schedule: a.schedule,
        bf16: a.bf16,
        channels_last: a.channels_last,
        init_from: a.init_from,
        encoder_lr_scale: a.encoder_lr_scale.unwrap_or(if a.finetune_from.is_some() {
            0.1
        } else {
            1.0
        }),
        encoder_weights: a.encoder_weights,
    };
    let limits = RunLimits {
        max_minutes: a.max_minutes,
        checkpoint_seconds: a.checkpoint_minutes * 60.0,
        data_cache: if a.no_cache {
            None
        } else {
            a.cache_dir.or_else(data::default_cache_dir)
        },
    };
    let rows = train::train_with_limits(cfg, &a.out, a.resume, device, !a.quiet, &limits)?;
    if let Some(best) = rows.iter().max_by(|x, y| x.val_psnr.total_cmp(&y.val_psnr)) {
        println!(
            "best epoch {}: val PSNR {:.3} dB, gain over gray {:+.3} dB, colourfulness ratio {:.3}; outputs in {}",
            best.epoch,
            best.val_psnr,
            best.val_psnr - best.val_psnr_gray,
            best.val_colourfulness_ratio,
            a.out.display()
        );
    }
    Ok(())
}

fn parse_aspect(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (1.0..=4.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?}: an aspect ratio between 1 and 4, for example 1.6"
        )),
    }
}
