//! `colorize box`: arguments and entry point (main.rs only dispatches).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::boxd::config::BoxConfig;
use crate::boxd::{CameraOpener, Hardware, RunMode};

/// The scanner-box daemon: colourize inbox files and button-triggered camera frames.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  colorize box --config /etc/colorize/box.toml
  colorize box --config deploy/box.toml --check-config
  colorize box --config box.toml --drain      # finish the inbox, then exit

Inputs are never deleted: once an output is durably written the input moves
to the done folder (undecodable ones to the failed folder). SIGTERM finishes
the scan in flight, then exits. See docs/deploy.md.")]
pub struct BoxArgs {
    /// The TOML config (every key is optional; see deploy/box.toml).
    #[arg(long, default_value = "/etc/colorize/box.toml")]
    pub config: PathBuf,
    /// Validate the config, print the effective one (defaults filled in) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Exit once the inbox is empty instead of watching it.
    #[arg(long)]
    pub drain: bool,
}

/// Runs `colorize box`.
pub fn run(args: &BoxArgs) -> Result<()> {
    let cfg = BoxConfig::load(&args.config)?;
    if args.check_config {
        print!("{}", cfg.to_toml());
        eprintln!("{}: valid", args.config.display());
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let model = crate::load_model(cfg.model.path.as_deref(), cfg.model.vividness)?;
    let mut session = model.session()?;
    let hw = open_hardware(&cfg)?;
    let mode = if args.drain {
        RunMode::UntilIdle
    } else {
        RunMode::Forever
    };
    let s = crate::boxd::run(&cfg, &mut session, hw, &stop, mode)?;
    eprintln!(
        "colorize box: stopped; {} file(s) and {} frame(s) colourized, {} failed, {} capture error(s)",
        s.files_done, s.frames_done, s.files_failed, s.capture_errors
    );
    Ok(())
}

fn open_hardware(cfg: &BoxConfig) -> Result<Hardware> {
    use crate::camera::{open_v4l2, CaptureRequest, FrameSource};
    use crate::gpio::{CdevInput, CdevOutput, InputLine, OutputLine};

    let button: Option<Box<dyn InputLine>> = if cfg.button.enabled {
        let b = &cfg.button;
        Some(Box::new(CdevInput::open(&b.chip, b.line, b.active_low)?))
    } else {
        None
    };
    let led: Option<Box<dyn OutputLine>> = if cfg.led.enabled {
        let l = &cfg.led;
        Some(Box::new(CdevOutput::open(&l.chip, l.line, l.active_low)?))
    } else {
        None
    };
    let camera: Option<CameraOpener> = if cfg.camera.enabled {
        let req = CaptureRequest {
            width: cfg.camera.width,
            height: cfg.camera.height,
            format: cfg.camera.pixel_format()?,
            buffers: cfg.camera.buffers,
            ..Default::default()
        };
        let dev = cfg.camera.device.clone();
        // Opened lazily by the shutter thread, so a camera plugged in after
        // boot (or replugged) is picked up at the next press.
        Some(Box::new(move || -> Result<Box<dyn FrameSource + Send>> {
            open_v4l2(&dev, &req)
        }))
    } else {
        None
    };
    Ok(Hardware {
        camera,
        button,
        led,
    })
}
