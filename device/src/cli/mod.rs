//! The `colorize` command line. Each subcommand is one module with an
//! `Args` struct (clap derive) and a `run` function; adding a subcommand is
//! one [`Command`] variant plus its module.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::Model;
use colorize_io::images::DecodeLimits;

#[cfg(target_os = "linux")]
pub mod boxd;
#[cfg(target_os = "linux")]
pub mod camera;
pub mod eval;
pub mod files;
pub mod info;
pub mod report;

#[derive(Debug, Parser)]
#[command(
    name = "colorize",
    version,
    about = "Colourizes grayscale photos with a small CNN (tract-onnx; the default model is compiled in)",
    after_help = "Examples:\n  colorize files old-photos/ --out colorized/\n  colorize eval --truth ../shared/data/sipi-color\n  colorize info"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Colourize image files and folders at full resolution.
    Files(files::Args),
    /// Score the model on colour photos: gray them, colourize, compare.
    Eval(eval::Args),
    /// Print the model card, or how an output was made (its XMP).
    Info(info::Args),
    /// Sum up the manifests of a batch: counts, failures, throughput.
    Report(report::Args),
    /// Capture frames from a V4L2 camera and colourize them.
    #[cfg(target_os = "linux")]
    Camera(camera::CameraArgs),
    /// The scanner-box daemon: inbox folder and GPIO-button camera captures.
    #[cfg(target_os = "linux")]
    Box(boxd::BoxArgs),
}

/// `--model` and `--vividness`, shared by the subcommands that run one.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArg {
    /// ONNX model to use instead of the embedded default model.
    #[arg(long, value_name = "ONNX")]
    pub model: Option<PathBuf>,
    /// How vivid the colours of a model with a colour-distribution head are:
    /// 0 faithful (the mean of the colours it finds plausible; highest PSNR),
    /// 1 vivid (close to the most likely colour). Default: the model card's.
    #[arg(long, value_name = "V")]
    pub vividness: Option<f32>,
}

impl ModelArg {
    pub fn load(&self) -> Result<Model> {
        crate::load_model(self.model.as_deref(), self.vividness)
    }
}

/// The input limits, shared by the subcommands that decode image files.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Input limits (checked against each file's header before decoding)")]
pub struct LimitArgs {
    /// Widest image accepted, in pixels.
    #[arg(long, value_name = "PX", default_value_t = DecodeLimits::DEFAULT.max_width)]
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    #[arg(long, value_name = "PX", default_value_t = DecodeLimits::DEFAULT.max_height)]
    pub max_height: u32,
    /// Most pixels (width x height) accepted: a guard against decompression
    /// bombs, 1 Gpixel by default (an A4 page scanned at 1200 dpi is 139
    /// Mpixel). What fits in memory is the memory budget's decision.
    #[arg(long, value_name = "N", default_value_t = DecodeLimits::DEFAULT.max_pixels)]
    pub max_pixels: u64,
    /// Most memory the decoder may allocate for one image, in MiB (8-bit RGB
    /// is 3 bytes a pixel, 16-bit RGBA 8).
    #[arg(long, value_name = "MIB", default_value_t = DecodeLimits::DEFAULT.max_decoded_bytes >> 20)]
    pub max_decoded_mib: u64,
}

impl LimitArgs {
    pub fn limits(&self) -> DecodeLimits {
        DecodeLimits {
            max_width: self.max_width,
            max_height: self.max_height,
            max_pixels: self.max_pixels,
            max_decoded_bytes: self.max_decoded_mib.saturating_mul(1 << 20),
        }
    }
}

/// Worker threads: `--threads`, or one per core.
pub fn thread_count(requested: Option<usize>) -> usize {
    requested
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Files(args) => files::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Info(args) => info::run(args),
        Command::Report(args) => report::run(args),
        #[cfg(target_os = "linux")]
        Command::Camera(args) => camera::run(&args).map(|_| ExitCode::SUCCESS),
        #[cfg(target_os = "linux")]
        Command::Box(args) => boxd::run(&args).map(|_| ExitCode::SUCCESS),
    }
}

/// A job's progress on a terminal ([`crate::files::Progress`]): a bar,
/// shown once the job knows its length, with error and note lines printed
/// above it.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new(template: &str) -> Self {
        Bar(indicatif::ProgressBar::hidden()
            .with_style(indicatif::ProgressStyle::with_template(template).expect("valid template")))
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl crate::files::Progress for Bar {
    fn start(&self, images: usize) {
        self.0.set_length(images as u64);
        self.0
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }
    fn advance(&self) {
        self.0.inc(1);
    }
    fn error(&self, message: &str) {
        self.0.suspend(|| eprintln!("error: {message}"));
    }
    fn note(&self, message: &str) {
        self.0.suspend(|| eprintln!("note: {message}"));
    }
}
