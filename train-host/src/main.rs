//! `colorize-train`: trains the colourization models with libtorch, scores
//! checkpoints, colourizes with them and exports them to ONNX.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use colorize_shared::{contract, lab, recombine};
use colorize_train::model::{Arch, Model, ModelConfig};
use colorize_train::optim::{Optimizer, OptimizerKind};
use colorize_train::train::{self, LossKind, TrainConfig};
use colorize_train::{data, export};
use tch::{nn, Device, Kind, Tensor};

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
    Train(TrainArgs),
    Eval(EvalArgs),
    Export(ExportArgs),
    Colorize(ColorizeArgs),
    Bench(BenchArgs),
}

/// Train a model; writes checkpoints, metrics.csv, curves.png, samples.png
/// and config.json into --out.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train train --data ../shared/data/tiny-imagenet/train-0.tar.gz --arch paper --epochs 1 --out /tmp/run
  colorize-train train --data ../shared/data/tiny-imagenet --classes n01443537 --arch unet --loss rebal --out runs/fish
  colorize-train train --data photos/ --val holdout/ --size 96 --optimizer adam --lr 1e-3 --out runs/photos
  colorize-train train --out runs/fish --resume --epochs 20")]
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
    /// Model input size; images are resized so their shorter side is this.
    #[arg(long, default_value_t = contract::DEFAULT_INPUT_SIZE)]
    size: usize,
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
    /// Continue from OUT/last.ot with the settings in OUT/config.json (only --epochs and --device apply).
    #[arg(long)]
    resume: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Score a checkpoint with the shared metrics; prints one JSON object.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train eval --model /tmp/run/best.ot --data ../shared/data/tiny-imagenet/val.tar.gz
  colorize-train eval --model runs/fish/best.ot --data ../shared/data/sipi-color --max-images 100")]
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
}

/// Colourize image files with a checkpoint at full resolution (a quick look).
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train colorize --model /tmp/run/best.ot ../shared/data/sipi-color/*.png -o /tmp/colour")]
struct ColorizeArgs {
    #[arg(long)]
    model: PathBuf,
    /// Input images.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (PNG files named after the inputs).
    #[arg(short, long)]
    out: PathBuf,
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Print a table of training and inference images/s per arch and device.
#[derive(Args)]
#[command(after_help = "Examples:
  colorize-train bench
  colorize-train bench --batch-size 256 --steps 20 --device cuda")]
struct BenchArgs {
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
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
        Command::Train(a) => cmd_train(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Export(a) => cmd_export(a),
        Command::Colorize(a) => cmd_colorize(a),
        Command::Bench(a) => cmd_bench(a),
    }
}

fn cmd_train(a: TrainArgs) -> Result<()> {
    let device = train::pick_device(&a.device)?;
    let classes = data::parse_classes(&a.classes, a.classes_file.as_deref())?;
    let mut classes: Option<Vec<String>> = classes.map(|c| c.into_iter().collect());
    if let Some(c) = &mut classes {
        c.sort();
    }
    let cfg = TrainConfig {
        model: ModelConfig {
            arch: a.arch,
            size: a.size,
            width: a.width.unwrap_or(a.arch.default_width()),
            depth: a.depth.unwrap_or(a.arch.default_depth()),
            dropout: a.dropout,
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
    };
    let rows = train::train(cfg, &a.out, a.resume, device, !a.quiet)?;
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

fn cmd_eval(a: EvalArgs) -> Result<()> {
    let device = train::pick_device(&a.device)?;
    let (_vs, model, _) = train::load_checkpoint(&a.model, device)?;
    let opts = data::LoadOptions {
        size: model.config.size,
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
    let (_, mut summary) = train::evaluate(&model, None, &samples, &mut bs, device)?;
    // Gray truths dropped at load (--gray-threshold) and by the shared metrics
    // are one count, as `colorize eval` reports it.
    summary.skipped_gray += report.skipped_gray;
    // The shared summary's fields first, as `colorize eval` prints them, then
    // what only the trainer knows.
    let json = summary.to_json();
    let json = json.trim_end().trim_end_matches('}');
    println!(
        "{json}, \"model\": {}, \"arch\": \"{}\", \"input_size\": {}, \"unreadable\": {}}}",
        serde_json::to_string(&a.model.display().to_string())?,
        model.config.arch.name(),
        model.config.size,
        report.failed
    );
    Ok(())
}

fn cmd_export(a: ExportArgs) -> Result<()> {
    let calib = if a.int8 {
        let (_vs, model, _) = train::load_checkpoint(&a.checkpoint, Device::Cpu)?;
        Some(export::calibration_inputs(
            &a.calib,
            model.config.size,
            a.calib_images,
        )?)
    } else {
        None
    };
    let net = export::export(&a.checkpoint, &a.out, calib.as_deref())?;
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
    let device = train::pick_device(&a.device)?;
    let (_vs, model, _) = train::load_checkpoint(&a.model, device)?;
    let size = model.config.size;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    for path in &a.inputs {
        let out = colorize_one(&model, device, size, path, &a.out)
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
    dir: &Path,
) -> Result<PathBuf> {
    let img = image::open(path)?.to_rgb8();
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
    let y = tch::no_grad(|| model.forward(&x, false))?;
    let y = Vec::<f32>::try_from(&y.to_device(Device::Cpu).view(-1))?;
    let (mut pa, mut pb) = (vec![0i16; size * size], vec![0i16; size * size]);
    contract::output_to_ab_planes(&y, &mut pa, &mut pb);
    let ab = recombine::AbPlanes {
        width: size,
        height: size,
        a: &pa,
        b: &pb,
    };
    let mut rgb = vec![0u8; 3 * w * h];
    let mut scratch = vec![0i32; recombine::scratch_len(size)];
    recombine::recombine_rows(&ab, w, h, 0, &l, &mut rgb, &mut scratch);
    let stem = path.file_stem().context("input has no file name")?;
    // Not `with_extension`: stems like "4.1.01" contain dots.
    let out = dir.join(format!("{}.png", stem.to_string_lossy()));
    image::RgbImage::from_raw(w as u32, h as u32, rgb)
        .context("image buffer size")?
        .save(&out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

fn cmd_bench(a: BenchArgs) -> Result<()> {
    let devices: Vec<Device> = match a.device.as_str() {
        "auto" if tch::Cuda::is_available() => vec![Device::Cpu, Device::Cuda(0)],
        other => vec![train::pick_device(other)?],
    };
    println!(
        "{:<6} {:<8} {:>8} {:>12} {:>14} {:>14}",
        "arch", "device", "batch", "GFLOP/frame", "train img/s", "infer img/s"
    );
    for device in devices {
        for arch in [Arch::Mlp, Arch::Paper, Arch::Unet] {
            let cfg = ModelConfig {
                arch,
                size: a.size,
                width: arch.default_width(),
                depth: arch.default_depth(),
                dropout: 0.0,
            };
            let vs = nn::VarStore::new(device);
            let model = Model::new(&vs.root(), cfg)?;
            let mut opt = Optimizer::new(&vs, OptimizerKind::Rmsprop, 1e-4);
            let s = a.size as i64;
            let n = a.batch_size as i64;
            let x = Tensor::rand([n, 1, s, s], (Kind::Float, device));
            let t = Tensor::rand([n, 2, s, s], (Kind::Float, device));
            let mut step = || -> Result<()> {
                opt.zero_grad();
                let loss = model
                    .forward(&x, true)?
                    .f_mse_loss(&t, tch::Reduction::Mean)?;
                loss.f_backward()?;
                opt.step()?;
                // Waits for the device, so the timing is honest on CUDA.
                loss.f_double_value(&[])?;
                Ok(())
            };
            for _ in 0..2 {
                step()?;
            }
            let t0 = Instant::now();
            for _ in 0..a.steps {
                step()?;
            }
            let train_ips = (a.steps as i64 * n) as f64 / t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            for _ in 0..a.steps {
                let y = tch::no_grad(|| model.forward(&x, false))?;
                y.f_sum(Kind::Float)?.f_double_value(&[])?;
            }
            let infer_ips = (a.steps as i64 * n) as f64 / t0.elapsed().as_secs_f64();
            println!(
                "{:<6} {:<8} {:>8} {:>12.3} {:>14.1} {:>14.1}",
                arch.name(),
                format!("{device:?}").to_lowercase(),
                n,
                2.0 * model.macs() as f64 / 1e9,
                train_ips,
                infer_ips
            );
        }
    }
    Ok(())
}
