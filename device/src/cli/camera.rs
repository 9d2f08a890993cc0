//! `colorize camera`: arguments and entry point (main.rs only dispatches).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::camera::capture::{capture_to_dir, CaptureOptions, Injection};
use crate::camera::{open_v4l2, CaptureRequest, FrameSource, PixelFormat};

/// Capture frames from a V4L2 camera and colourize them.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  colorize camera --device /dev/video0 --frames 5 --out shots/
  colorize camera --width 1920 --height 1080 --format mjpeg --interval 60 --out timelapse/
  colorize camera --format grey --frames 4 --out t/ --inject 'Inject V4L2_BUF_FLAG_ERROR@1' --inject Disconnect@2

The driver may pick another size than the one asked for (the nearest it
supports); frames are written at the negotiated size, as <out>/frame-NNNNN.png,
numbered after the highest frame already there. Each file is written to a
temp name, fsynced and renamed: a frame is either complete or absent.")]
pub struct CameraArgs {
    /// V4L2 capture device.
    #[arg(long, default_value = "/dev/video0")]
    pub device: PathBuf,
    /// Requested frame width (the driver may adjust it).
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    /// Requested frame height (the driver may adjust it).
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    /// Pixel format: yuyv, grey or mjpeg.
    #[arg(long, default_value = "yuyv")]
    pub format: PixelFormat,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many frames are written (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    pub frames: Option<u64>,
    /// Seconds between frames (time-lapse); default: as fast as possible.
    #[arg(long)]
    pub interval: Option<f64>,
    /// Times a lost camera is reopened before giving up.
    #[arg(long, default_value_t = 3)]
    pub max_reopens: u32,
    /// MMAP buffers.
    #[arg(long, default_value_t = 4)]
    pub buffers: u32,
    /// Testing aid: set device control NAME (to VALUE, default 1) once FRAMES
    /// frames are written, e.g. vivid's "Disconnect@2". Repeatable.
    #[arg(long, value_name = "NAME[=VALUE]@FRAMES")]
    pub inject: Vec<Injection>,
    #[command(flatten)]
    pub model: super::ModelArg,
}

/// Runs `colorize camera`.
pub fn run(args: &CameraArgs) -> Result<()> {
    let model = args.model.load()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let interval = match args.interval {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            anyhow::bail!("--interval must be a number of seconds >= 0")
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let mut session = model.session()?;
    let req = CaptureRequest {
        width: args.width,
        height: args.height,
        format: args.format,
        buffers: args.buffers,
        ..Default::default()
    };
    let device = args.device.clone();
    let mut open = move || -> Result<Box<dyn FrameSource>> {
        let src = open_v4l2(&device, &req)?;
        eprintln!(
            "camera: {} {} requested {}x{}, got {}x{}",
            device.display(),
            req.format,
            req.width,
            req.height,
            src.size().0,
            src.size().1,
        );
        Ok(src)
    };
    let mut opts = CaptureOptions::new(&args.out);
    opts.frames = args.frames;
    opts.interval = interval;
    opts.max_reopens = args.max_reopens;
    opts.inject = args.inject.clone();
    capture_to_dir(&mut open, &mut session, &opts, &stop)?;
    Ok(())
}
