//! `colorize-train`: trains the colourization models with libtorch, scores
//! checkpoints, colourizes with them and exports them to ONNX.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use colorize_shared::{contract, lab, recombine};
use colorize_train::loss::LossKind;
use colorize_train::model::{Arch, Compute, Head, Model, ModelConfig, OutputActivation};
use colorize_train::optim::OptimizerKind;
use colorize_train::train::{self, RunLimits, Schedule, TrainConfig};
use colorize_train::{bench, checkpoint, data, eval, export, report, resources, tradeoff};
use tch::{Device, Tensor};

#[derive(Parser)]
#[command(
    name = "colorize-train",
    version,
    about = "Train, score and export the colorize models (libtorch)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Boxed: by far the largest variant (clippy::large_enum_variant).
    Train(Box<TrainArgs>),
    Eval(EvalArgs),
    Export(ExportArgs),
    Colorize(ColorizeArgs),
    Bench(BenchArgs),
    Status(StatusArgs),
    Pack(PackArgs),
    Tradeoff(TradeoffArgs),
    Curves(CurvesArgs),
}

/// Redraw a run's curves.png from its metrics.csv (the figure a run writes
/// after every epoch, with the current drawing code).
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train curves ~/.cache/colorize/runs/default/metrics.csv --out /tmp/curves.png")]
struct CurvesArgs {
    /// A run's metrics.csv.
    metrics: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

/// Score distribution-head models over a sweep of vividness values, and
/// regression models as single points, on validation images; writes
/// tradeoff.csv, tradeoff.png and (for the first distribution-head model)
/// vividness.png, and prints the default vividness picked on these images.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train tradeoff --model runs/dist/best.ot --model runs/paper/best.ot --model runs/mlp/best.ot \\
      --data ~/.cache/colorize/val1000 --out models/
  colorize-train export runs/dist/best.ot --out model.onnx --vividness 0.6   # the printed default")]
struct TradeoffArgs {
    /// Checkpoints (.ot with .json beside); repeatable. The first
    /// distribution-head model gets the default and the grid.
    #[arg(long = "model", required = true)]
    models: Vec<PathBuf>,
    /// Names for the models in the plot, in --model order (default: the
    /// run folder's name).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Validation images: folders or shards (repeatable).
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    #[arg(long)]
    max_images: Option<usize>,
    /// Vividness values of the sweep, evenly spaced over 0..1.
    #[arg(long, default_value_t = 6)]
    points: usize,
    /// Rows of vividness.png.
    #[arg(long, default_value_t = 8)]
    grid_images: usize,
    /// The default vividness is the most colourful point whose gain is at
    /// least this many dB (default: within 0.25 dB of the curve's best),
    /// e.g. the shipped model's gain on the same images.
    #[arg(long, value_name = "DB")]
    min_gain: Option<f64>,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    vivid_temperature: Option<f32>,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Train a model; writes checkpoints, metrics.csv, curves.png, samples.png
/// and config.json into --out.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train train --data ../shared/data/tiny-imagenet/train-0.tar.gz --arch paper --epochs 1 --out /tmp/run
  colorize-train train --data ../shared/data/tiny-imagenet --classes n01443537 --arch unet --loss rebal --out runs/fish
  colorize-train train --data photos/ --val holdout/ --size 96 --optimizer adam --lr 1e-3 --out runs/photos
  colorize-train train --out runs/fish --resume --epochs 20
  colorize-train train --data ../shared/data/tiny-imagenet --arch ctx --optimizer adam --lr 1e-3 \\
      --schedule cosine --bf16 --epochs 30 --max-minutes 120 --out ~/.cache/colorize/runs/default
  colorize-train train --out ~/.cache/colorize/runs/default --resume --epochs 30 --max-minutes 120")]
struct TrainArgs {
    /// Image folders (recursive: JPEG, PNG, TIFF) or .tar / .tar.gz shards, read as a stream. Repeatable.
    #[arg(long, required_unless_present = "resume")]
    data: Vec<PathBuf>,
    /// Explicit validation folder or shard (repeatable); otherwise --val-split of --data.
    #[arg(long)]
    val: Vec<PathBuf>,
    /// Fraction of --data held out for validation (deterministic per --seed).
    #[arg(long, default_value_t = 0.1)]
    val_split: f64,
    /// Only these ImageNet classes (wnids, comma separated), taken from the image paths.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
    /// File with class wnids, one per line or comma separated.
    #[arg(long)]
    classes_file: Option<PathBuf>,
    /// Model input size; images are resized so their shorter side is this
    /// (lite: half this, then enlarged 2x as the device does) [default: 64,
    /// lite 128].
    #[arg(long)]
    size: Option<usize>,
    /// Images whose mean a*b* chroma (Lab units) is below this are skipped as grayscale.
    #[arg(long, default_value_t = 3.0)]
    gray_threshold: f32,
    /// Use at most this many images of --data (after filtering): the first ones
    /// in file order, which in Tiny ImageNet shards means the first classes;
    /// combine with --classes(-file) for a quick run that spans many classes.
    #[arg(long)]
    max_images: Option<usize>,
    #[arg(long, value_enum, default_value_t = Arch::Paper)]
    arch: Arch,
    /// Channels (paper, unet base width) or hidden units (mlp) [default: paper 32, unet 16, mlp 512].
    #[arg(long)]
    width: Option<usize>,
    /// Hidden conv layers (paper) or downsampling levels (unet) [default: paper 6, unet 3].
    #[arg(long)]
    depth: Option<usize>,
    /// Dropout probability after hidden layers (unet: at the bottleneck).
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// Activation of the output layer (relu: the paper's ablation, only
    /// non-negative a*, b*).
    #[arg(long, value_enum, default_value_t = OutputActivation::Tanh)]
    output: OutputActivation,
    /// What the model predicts: a*b* (regression, --loss applies) or a
    /// distribution over a*b* bins (dist: rebalanced cross-entropy; decoded
    /// with the annealed mean, see `eval --vividness`).
    #[arg(long, value_enum, default_value_t = Head::Regression)]
    head: Head,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Rmsprop)]
    optimizer: OptimizerKind,
    /// Learning rate (1e-3 makes RMSprop diverge on unet).
    #[arg(long, default_value_t = 3e-4)]
    lr: f64,
    /// Total epochs (with --resume: train until this many are done).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Batch size; halved automatically on a CUDA out-of-memory error.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    loss: LossKind,
    /// auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Run folder.
    #[arg(long)]
    out: PathBuf,
    /// Continue from OUT/last.ot with the settings in OUT/config.json (only
    /// --epochs, --device, --max-minutes, --checkpoint-minutes and the cache
    /// options apply). Resumes mid-epoch, learning-rate schedule included.
    #[arg(long)]
    resume: bool,
    /// Learning-rate schedule over --epochs.
    #[arg(long, value_enum, default_value_t = Schedule::Constant)]
    schedule: Schedule,
    /// Start from the weights of this checkpoint where names and shapes
    /// match (the rest keeps its fresh initialisation): for example a
    /// regression model's body under a new --head dist.
    #[arg(long, value_name = "CKPT", conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// --arch lite: train the pretrained encoder with the head (on a GPU;
    /// on a CPU the frozen encoder's outputs are cached instead).
    #[arg(long)]
    finetune_encoder: bool,
    /// The pretrained encoder's weights for --arch lite [default: what
    /// scripts/setup.sh installs, $COLORIZE_CACHE/pretrained/efficientnet-lite0.safetensors].
    #[arg(long, value_name = "FILE")]
    encoder_weights: Option<PathBuf>,
    /// Mixed precision: bf16 activations and weight copies, f32 master
    /// weights (AVX512-BF16/AMX on CPUs that have them, tensor cores on CUDA).
    #[arg(long)]
    bf16: bool,
    /// Channels-last (NHWC) strides for activations and conv weights.
    #[arg(long)]
    channels_last: bool,
    /// Stop cleanly after this many minutes of training, with a checkpoint
    /// (continue later with --resume). SIGINT/SIGTERM stop the same way.
    #[arg(long)]
    max_minutes: Option<f64>,
    /// Minutes between mid-epoch checkpoints (written atomically).
    #[arg(long, default_value_t = 5.0)]
    checkpoint_minutes: f64,
    /// Where decoded data sets are cached [default: $COLORIZE_DATA_CACHE,
    /// else ~/.cache/colorize/data].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Decode the data every time, without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
    /// libtorch intra-op threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Pack training images into JPEG mosaics of 64x64 tiles: the compact data
/// set of the GPU pack (scripts/gpu-pack.sh). `train --data DIR` reads them.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train pack --data ../shared/data/tiny-imagenet/train-0.tar.gz --images 5000 --out /tmp/mosaics
  D=../shared/data/tiny-imagenet; colorize-train pack --data $D/train-0.tar.gz --data $D/train-1.tar.gz \\
      --data $D/train-2.tar.gz --data $D/train-3.tar.gz --images 60000 --quality 85 --out pack/data")]
struct PackArgs {
    /// Image folders or shards (repeatable), read as `train --data` does.
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Keep this many images, evenly spaced over the sources' order (Tiny
    /// ImageNet shards are in class order, so every class keeps its share)
    /// [default: all].
    #[arg(long)]
    images: Option<usize>,
    #[arg(long, default_value_t = contract::DEFAULT_INPUT_SIZE)]
    size: usize,
    /// Images under this mean a*b* chroma are left out as gray.
    #[arg(long, default_value_t = 3.0)]
    gray_threshold: f32,
    /// JPEG quality of the mosaics.
    #[arg(long, default_value_t = 85)]
    quality: u8,
    /// Tiles per mosaic side.
    #[arg(long, default_value_t = 32)]
    per_side: usize,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

/// Where a training run stands: epoch, images seen, best val gain, speed, ETA.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train status ~/.cache/colorize/runs/default")]
struct StatusArgs {
    /// The run folder (--out of `train`).
    run: PathBuf,
}

/// Score a checkpoint with the shared metrics; prints one JSON object.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train eval --model /tmp/run/best.ot --data ../shared/data/tiny-imagenet/val.tar.gz
  colorize-train eval --model runs/fish/best.ot --data ../shared/data/sipi-color --max-images 100
  colorize-train eval --model runs/fish/last.ot --data fish/test --grid fish-test.png --grid-images 12")]
struct EvalArgs {
    /// Checkpoint (.ot with its .json beside it).
    #[arg(long)]
    model: PathBuf,
    /// Truth images: folders or shards (repeatable).
    #[arg(long, required = true)]
    data: Vec<PathBuf>,
    /// Score at most this many images (the first ones in file order).
    #[arg(long)]
    max_images: Option<usize>,
    /// Also skip images whose mean a*b* chroma is below this at load. Truths
    /// under colorize_shared::metrics::GRAY_CHROMA_THRESHOLD are always
    /// skipped and counted in `skipped_gray`, as `colorize eval` does.
    #[arg(long, default_value_t = 0.0)]
    gray_threshold: f32,
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    #[arg(long, default_value = "auto")]
    device: String,
    /// Also write a PNG grid of the first --grid-images images (gray truths
    /// included), one row each: gray input | prediction | truth (2x enlarged).
    #[arg(long)]
    grid: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    grid_images: usize,
    /// Vividness 0..1 of a distribution-head model's decode (0: faithful,
    /// the mean of the data's own colour distribution; 1: vivid, the
    /// rebalanced distribution sharpened); see colour_bins::BinDecoding.
    /// Regression models have no such setting and ignore it.
    #[arg(long, default_value_t = 0.0)]
    vividness: f32,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    vivid_temperature: Option<f32>,
    /// Also write one CSV row per image (in load order): PSNR, PSNR of
    /// predicting gray, colourfulness of prediction and truth, and the shares
    /// of green (a* < -5) and blue (b* < -5) pixels in truth and prediction.
    #[arg(long)]
    per_image: Option<PathBuf>,
}

/// Export a checkpoint to ONNX (f32, or int8 with --int8 --calib).
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train export /tmp/run/best.ot --out models/colorize.onnx
  colorize-train export /tmp/run/best.ot --out models/colorize-int8.onnx --int8 --calib ../shared/data/tiny-imagenet/val.tar.gz")]
struct ExportArgs {
    /// Checkpoint (.ot with its .json beside it).
    checkpoint: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Quantize the convolutions to int8 (QLinearConv).
    #[arg(long, requires = "calib")]
    int8: bool,
    /// Calibration images for --int8 (folders or shards, repeatable).
    #[arg(long)]
    calib: Vec<PathBuf>,
    /// How many calibration images to use.
    #[arg(long, default_value_t = 200)]
    calib_images: usize,
    /// Distribution-head models: the vividness (0..1) the device uses when
    /// its user sets none; pick it on val. Default 0.
    #[arg(long)]
    vividness: Option<f32>,
    /// Distribution heads: the annealing temperature at vividness 1
    /// (default: the model's, 0.5 for heads trained with rebalancing, else
    /// 0.1); export writes it into the model card.
    #[arg(long)]
    vivid_temperature: Option<f32>,
}

/// Colourize image files with a checkpoint at full resolution (a quick look).
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train colorize --model /tmp/run/best.ot ../shared/data/sipi-color/*.png -o /tmp/colour
  colorize-train colorize --model /tmp/run/best.ot photo.jpg -o /tmp/fig --max-side 480 --with-gray --format jpg")]
struct ColorizeArgs {
    #[arg(long)]
    model: PathBuf,
    /// Input images.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (files named after the inputs).
    #[arg(short, long)]
    out: PathBuf,
    #[arg(long, default_value = "auto")]
    device: String,
    /// Downscale inputs larger than this on their longer side first (for
    /// figures; the model itself always sees its input size).
    #[arg(long)]
    max_side: Option<u32>,
    /// Write the gray input and the colourized result side by side.
    #[arg(long)]
    with_gray: bool,
    /// Vividness 0..1 of a distribution-head model (see `eval --vividness`).
    #[arg(long, default_value_t = 0.0)]
    vividness: f32,
    /// Output format: png, or jpg (quality 90, for figures in docs).
    #[arg(long, default_value = "png", value_parser = ["png", "jpg"])]
    format: String,
}

/// Print a table of training and inference images/s per arch, compute mode
/// and device, with achieved GFLOP/s and the share of the CPU's f32 peak.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train bench
  colorize-train bench --arch ctx --arch unet --compute f32,bf16,bf16-cl --batch-size 128
  colorize-train bench --batch-size 256 --steps 20 --device cuda")]
struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Only these archs (repeatable) [default: every arch].
    #[arg(long, value_enum)]
    arch: Vec<Arch>,
    /// Compute modes, comma separated: f32, bf16 (mixed precision), and
    /// either with -cl (channels-last strides).
    #[arg(long, value_delimiter = ',', default_value = "f32,bf16")]
    compute: Vec<String>,
    /// libtorch intra-op threads [default: libtorch's, one per core].
    #[arg(long)]
    threads: Option<usize>,
    /// Timed training steps per arch (after 2 warm-up steps).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    #[arg(long, default_value_t = contract::DEFAULT_INPUT_SIZE)]
    size: usize,
    /// auto (CPU, plus CUDA when present), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: String,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Train(a) => cmd_train(*a),
        Command::Eval(a) => cmd_eval(a),
        Command::Export(a) => cmd_export(a),
        Command::Colorize(a) => cmd_colorize(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Status(a) => cmd_status(a),
        Command::Pack(a) => cmd_pack(a),
        Command::Tradeoff(a) => cmd_tradeoff(a),
        Command::Curves(a) => {
            let rows = checkpoint::read_metrics(&a.metrics)?;
            if rows.is_empty() {
                bail!("{}: no epoch rows", a.metrics.display());
            }
            report::write_curves(&a.out, &rows)
        }
    }
}

fn cmd_train(a: TrainArgs) -> Result<()> {
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
        },
        data: a.data,
        val: a.val,
        val_split: a.val_split,
        classes,
        gray_threshold: a.gray_threshold,
        max_images: a.max_images,
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

fn cmd_pack(a: PackArgs) -> Result<()> {
    let opts = data::LoadOptions {
        size: a.size,
        classes: None,
        gray_threshold: a.gray_threshold,
        max_images: None,
        progress: true,
    };
    let (samples, report) =
        data::load_cached(&a.data, &opts, data::default_cache_dir().as_deref())?;
    let n = a.images.unwrap_or(samples.len()).min(samples.len());
    if n == 0 {
        bail!("no images to pack in --data");
    }
    // Evenly spaced indices: i * len / n.
    let picked: Vec<&data::Sample> = (0..n).map(|i| &samples[i * samples.len() / n]).collect();
    let files = data::write_mosaics(&picked, a.size, a.per_side.max(1), a.quality, &a.out)?;
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "packed {n} of {} images ({} skipped as gray) into {} mosaics in {}: {:.1} MB, {:.0} bytes an image",
        samples.len(),
        report.skipped_gray,
        files.len(),
        a.out.display(),
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    Ok(())
}

fn cmd_status(a: StatusArgs) -> Result<()> {
    let s = colorize_train::status::read(&a.run)?;
    print!("{s}");
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let (_vs, mut model, _) = checkpoint::load_checkpoint(&a.model, device)?;
    if !(0.0..=1.0).contains(&a.vividness) {
        bail!("--vividness must be in 0..1, got {}", a.vividness);
    }
    model.set_vivid_temperature(a.vivid_temperature)?;
    model.set_vividness(a.vividness);
    if model.config.head == Head::Regression && a.vividness != 0.0 {
        eprintln!(
            "note: {} is a regression model: --vividness does not apply",
            a.model.display()
        );
    }
    let opts = data::LoadOptions {
        size: model.config.sample_size(),
        classes: None,
        gray_threshold: a.gray_threshold,
        max_images: a.max_images,
        progress: true,
    };
    let (samples, report) = data::load(&a.data, &opts)?;
    if samples.is_empty() {
        bail!("no images to evaluate in --data");
    }
    let mut bs = a.batch_size.max(1);
    let (_, mut summary, scores) =
        eval::evaluate_per_image(&model, None, &samples, &mut bs, device)?;
    if let Some(path) = &a.per_image {
        let mut csv = String::from(
            "image,psnr,psnr_gray,colourfulness_pred,colourfulness_truth,green_truth,green_pred,blue_truth,blue_pred\n",
        );
        for (i, s) in scores.iter().enumerate() {
            if let Some(s) = s {
                csv += &format!(
                    "{i},{:.4},{:.4},{:.3},{:.3},{:.4},{:.4},{:.4},{:.4}\n",
                    s.psnr,
                    s.psnr_gray,
                    s.colourfulness_pred,
                    s.colourfulness_truth,
                    s.green_truth,
                    s.green_pred,
                    s.blue_truth,
                    s.blue_pred
                );
            }
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    // Gray truths dropped at load (--gray-threshold) and by the shared metrics
    // are one count, as `colorize eval` reports it.
    summary.skipped_gray += report.skipped_gray;
    if let Some(path) = &a.grid {
        let n = a.grid_images.min(samples.len());
        report::write_samples(path, &model, &samples[..n], &mut bs, device)?;
        eprintln!(
            "wrote {} ({n} rows: gray | prediction | truth)",
            path.display()
        );
    }
    // The shared summary's fields first, as `colorize eval` prints them, then
    // what only the trainer knows.
    let json = summary.to_json();
    let json = json.trim_end().trim_end_matches('}');
    println!(
        "{json}, \"model\": {}, \"arch\": \"{}\", \"head\": \"{}\", \"vividness\": {}, \"temperature\": {:.4}, \"input_size\": {}, \"unreadable\": {}}}",
        serde_json::to_string(&a.model.display().to_string())?,
        model.config.arch.name(),
        format!("{:?}", model.config.head).to_lowercase(),
        a.vividness,
        model.annealing.temperature,
        model.config.size,
        report.failed
    );
    Ok(())
}

fn cmd_tradeoff(a: TradeoffArgs) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut models = Vec::new();
    for (i, path) in a.models.iter().enumerate() {
        let (vs, mut model, _) = checkpoint::load_checkpoint(path, device)?;
        model.set_vivid_temperature(a.vivid_temperature)?;
        let name = a.names.get(i).cloned().unwrap_or_else(|| {
            path.parent()
                .and_then(|p| p.file_name())
                .map_or_else(|| format!("model{i}"), |n| n.to_string_lossy().to_string())
        });
        models.push((vs, model, name.to_uppercase()));
    }
    // Scored on images of one size: lite (input 128) and ctx (64) both see
    // Tiny ImageNet at 64.
    let size = models[0].1.config.sample_size();
    if let Some((_, m, name)) = models
        .iter()
        .find(|(_, m, _)| m.config.sample_size() != size)
    {
        bail!(
            "{name}: image size {} differs from the first model's {size}",
            m.config.sample_size()
        );
    }
    let opts = data::LoadOptions {
        size,
        classes: None,
        gray_threshold: 0.0,
        max_images: a.max_images,
        progress: true,
    };
    let (samples, _) = data::load(&a.data, &opts)?;
    if samples.is_empty() {
        bail!("no images in --data");
    }
    let values = tradeoff::sweep_values(a.points);
    let mut bs = a.batch_size.max(1);
    let mut curves = Vec::new();
    for (_, model, name) in &mut models {
        curves.push(tradeoff::score(
            name, model, &samples, &values, &mut bs, device,
        )?);
    }
    tradeoff::write_csv(&a.out.join("tradeoff.csv"), &curves)?;
    let dist = models
        .iter()
        .zip(&curves)
        .find(|((_, m, _), _)| m.config.head == Head::Dist);
    let default = dist.and_then(|((_, m, name), c)| {
        tradeoff::pick_default(c, a.min_gain).map(|(v, s)| (m, name.as_str(), v, s))
    });
    tradeoff::write_plot(
        &a.out.join("tradeoff.png"),
        &curves,
        default.map(|(_, name, v, s)| (name, v, s)),
    )?;
    if let Some((model, name, v, s)) = default {
        let n = a.grid_images.min(samples.len());
        tradeoff::write_grid(
            &a.out.join("vividness.png"),
            model,
            &samples[..n],
            v,
            &mut bs,
            device,
        )?;
        let rule = match a.min_gain {
            Some(g) => format!("most colourful with a gain of at least {g:+.3} dB"),
            None => format!(
                "most colourful within {} dB of the best gain",
                tradeoff::DEFAULT_GAIN_SLACK_DB
            ),
        };
        println!(
            "default vividness of {name}: {v:.2} (gain {:+.3} dB, colourfulness ratio {:.3} on {} images; {rule})",
            s.psnr_gain, s.colourfulness_ratio, s.images,
        );
    } else if let (Some(g), Some(_)) = (a.min_gain, dist) {
        eprintln!(
            "no vividness of the distribution head reaches a gain of {g:+.3} dB: no default picked"
        );
    }
    eprintln!(
        "wrote tradeoff.csv, tradeoff.png{} in {}",
        if default.is_some() {
            ", vividness.png"
        } else {
            ""
        },
        a.out.display()
    );
    Ok(())
}

fn cmd_export(a: ExportArgs) -> Result<()> {
    let calib = if a.int8 {
        let (_vs, model, _) = checkpoint::load_checkpoint(&a.checkpoint, Device::Cpu)?;
        Some(export::calibration_inputs(
            &a.calib,
            model.config.sample_size(),
            model.config.size,
            a.calib_images,
        )?)
    } else {
        None
    };
    let net = export::export(
        &a.checkpoint,
        &a.out,
        calib.as_deref(),
        a.vividness,
        a.vivid_temperature,
    )?;
    eprintln!(
        "wrote {} ({}, {} nodes{})",
        a.out.display(),
        net.arch,
        net.nodes.len(),
        if a.int8 { ", int8" } else { ", f32" }
    );
    Ok(())
}

fn cmd_colorize(a: ColorizeArgs) -> Result<()> {
    let device = resources::pick_device(&a.device)?;
    let (_vs, mut model, _) = checkpoint::load_checkpoint(&a.model, device)?;
    model.set_vividness(a.vividness);
    let size = model.config.size;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for path in &a.inputs {
        let out = colorize_one(&model, device, size, path, &a)
            .with_context(|| format!("colourizing {}", path.display()))?;
        eprintln!("{} -> {}", path.display(), out.display());
    }
    Ok(())
}

/// Full-resolution L from the input, a*b* predicted at model size, then
/// recombined with the shared bilinear upsampling.
fn colorize_one(
    model: &Model,
    device: Device,
    size: usize,
    path: &Path,
    a: &ColorizeArgs,
) -> Result<PathBuf> {
    let mut img = image::open(path)?.to_rgb8();
    if let Some(max) = a.max_side {
        let (w, h) = img.dimensions();
        if w.max(h) > max {
            let (nw, nh) = if w >= h {
                (max, (h as u64 * max as u64 / w as u64).max(1) as u32)
            } else {
                ((w as u64 * max as u64 / h as u64).max(1) as u32, max)
            };
            img = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
        }
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut l = vec![0u16; w * h];
    lab::rgb8_to_l_plane(img.as_raw(), &mut l);
    let mut small = vec![0u16; size * size];
    contract::resize_l_plane(&l, w, h, &mut small, size, size);
    let mut input = vec![0f32; size * size];
    contract::l_plane_to_input(&small, &mut input);
    let x = Tensor::from_slice(&input)
        .view([1, 1, size as i64, size as i64])
        .to_device(device);
    let y = tch::no_grad(|| model.decode(&model.forward(&x, false)?, &model.annealing))?;
    // a*b* at the decode's size (lite: half the input's).
    let side = y.size()[2] as usize;
    let y = Vec::<f32>::try_from(&y.to_device(Device::Cpu).reshape(-1))?;
    let (mut pa, mut pb) = (vec![0i16; side * side], vec![0i16; side * side]);
    contract::output_to_ab_planes(&y, &mut pa, &mut pb);
    let ab = recombine::AbPlanes {
        width: side,
        height: side,
        a: &pa,
        b: &pb,
    };
    let mut rgb = vec![0u8; 3 * w * h];
    let mut scratch = vec![0i32; recombine::scratch_len(side, w)];
    recombine::colorize(&ab, &l, w, h, &mut rgb, &mut scratch);
    let colour = image::RgbImage::from_raw(w as u32, h as u32, rgb).context("image buffer size")?;
    let result = if a.with_gray {
        let mut both = image::RgbImage::new(2 * w as u32, h as u32);
        for (x, y, p) in colour.enumerate_pixels() {
            let g = lab::lab_to_rgb8(l[y as usize * w + x as usize], 0, 0);
            both.put_pixel(x, y, image::Rgb(g));
            both.put_pixel(x + w as u32, y, *p);
        }
        both
    } else {
        colour
    };
    let stem = path.file_stem().context("input has no file name")?;
    // Not `with_extension`: stems like "4.1.01" contain dots.
    let out = a
        .out
        .join(format!("{}.{}", stem.to_string_lossy(), a.format));
    let file =
        std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    if a.format == "jpg" {
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 90)
            .encode_image(&result)?;
    } else {
        result.write_to(&mut writer, image::ImageFormat::Png)?;
    }
    std::io::Write::flush(&mut writer).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

fn cmd_bench(a: BenchArgs) -> Result<()> {
    let devices: Vec<Device> = match a.device.as_str() {
        "auto" if tch::Cuda::is_available() => vec![Device::Cpu, Device::Cuda(0)],
        other => vec![resources::pick_device(other)?],
    };
    if let Some(t) = a.threads {
        tch::set_num_threads(t as i32);
    }
    let computes = a
        .compute
        .iter()
        .map(|c| c.parse::<Compute>())
        .collect::<Result<Vec<_>>>()?;
    let archs: Vec<Arch> = if a.arch.is_empty() {
        Arch::all().to_vec()
    } else {
        a.arch.clone()
    };
    let cpu = bench::CpuPeak::detect(tch::get_num_threads() as usize);
    eprintln!("{}", cpu.describe());
    println!(
        "{:<6} {:<8} {:<8} {:>6} {:>12} {:>12} {:>12} {:>8} {:>12}",
        "arch",
        "device",
        "compute",
        "batch",
        "GFLOP/frame",
        "train img/s",
        "train GFLOP/s",
        "% peak",
        "infer img/s"
    );
    for device in devices {
        for &arch in &archs {
            for &compute in &computes {
                let cfg = ModelConfig {
                    arch,
                    size: a.size,
                    width: arch.default_width(),
                    depth: arch.default_depth(),
                    dropout: 0.0,
                    output: Default::default(),
                    head: Default::default(),
                    finetune_encoder: false,
                };
                let r = bench::measure(&cfg, compute, device, a.batch_size, a.steps)?;
                // A training step is about three forward passes (forward,
                // and the two halves of backward).
                let train_gflops = 3.0 * r.gflop_per_frame * r.train_ips;
                let peak = match device {
                    Device::Cpu => format!("{:.1}", 100.0 * train_gflops / cpu.gflops),
                    _ => "-".into(),
                };
                println!(
                    "{:<6} {:<8} {:<8} {:>6} {:>12.3} {:>12.1} {:>12.1} {:>8} {:>12.1}",
                    arch.name(),
                    format!("{device:?}").to_lowercase(),
                    compute.to_string(),
                    a.batch_size,
                    r.gflop_per_frame,
                    r.train_ips,
                    train_gflops,
                    peak,
                    r.infer_ips
                );
            }
        }
    }
    Ok(())
}
