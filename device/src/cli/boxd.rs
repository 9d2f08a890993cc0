//! `colorize box`: arguments and entry point (main.rs only dispatches).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::boxd::config::BoxConfig;
use crate::boxd::monitor::{ModelInfo, Monitor};
use crate::boxd::{Hardware, RunMode};

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
        // The budget as the running box has it: with its model loaded.
        let _model = crate::load_model(cfg.model.path.as_deref(), cfg.model.vividness)?;
        let budget = crate::boxd::scan_budget(&cfg);
        println!("# memory budget: {budget}");
        println!(
            "# free space kept on the output disk: {} MiB",
            cfg.limits.min_free_bytes(budget.images) >> 20
        );
        eprintln!("{}: valid", args.config.display());
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let model = crate::load_model(cfg.model.path.as_deref(), cfg.model.vividness)?;
    let mut session = model.session()?;
    let hw = Hardware::open(&cfg)?;
    let mode = if args.drain {
        RunMode::UntilIdle
    } else {
        RunMode::Forever
    };
    let mut monitor = Monitor::new(&cfg, ModelInfo::of(&model), model.vividness());
    #[cfg(feature = "web")]
    let _web = if cfg.web.enabled {
        Some(crate::boxd::web::Server::start(
            &cfg,
            Some(&args.config),
            monitor.shared(),
        )?)
    } else {
        None
    };
    let s = crate::boxd::run_monitored(&cfg, &mut session, hw, &stop, mode, &mut monitor)?;
    eprintln!(
        "colorize box: stopped; {} file(s) and {} frame(s) colourized, {} failed, {} capture error(s)",
        s.files_done, s.frames_done, s.files_failed, s.capture_errors
    );
    Ok(())
}
