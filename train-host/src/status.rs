//! `colorize-train status RUNDIR`: where a run stands, read from its files
//! only, so it works while the run goes on, after it stopped, or after a kill.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::checkpoint::read_metrics;
use crate::checkpoint::{load_json, CheckpointMeta, EpochRow};
use crate::train::TrainConfig;

pub struct Status {
    pub run: PathBuf,
    pub config: TrainConfig,
    /// `None` before the first checkpoint.
    pub last: Option<CheckpointMeta>,
    pub rows: Vec<EpochRow>,
    /// The pid in `train.pid` (written by scripts/train-default.sh) and
    /// whether that process is alive.
    pub pid: Option<(u32, bool)>,
}

pub fn read(run: &Path) -> Result<Status> {
    let config: TrainConfig = load_json(&run.join("config.json"))
        .with_context(|| format!("{} is not a training run folder", run.display()))?;
    let last = load_json(&run.join("last.json")).ok();
    let rows = read_metrics(&run.join("metrics.csv")).unwrap_or_default();
    let pid = std::fs::read_to_string(run.join("train.pid"))
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .map(|p| (p, Path::new(&format!("/proc/{p}")).exists()));
    Ok(Status {
        run: run.to_path_buf(),
        config,
        last,
        rows,
        pid,
    })
}

fn duration(secs: f64) -> String {
    let m = (secs / 60.0).round() as u64;
    if m >= 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{m} min")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "run:         {} ({}, width {}, depth {}, {} epochs planned, lr {:e} {:?})",
            self.run.display(),
            c.model.arch.name(),
            c.model.width,
            c.model.depth,
            c.epochs,
            c.lr,
            c.schedule
        )?;
        match self.pid {
            Some((p, true)) => writeln!(f, "state:       running (pid {p})")?,
            Some((p, false)) => writeln!(f, "state:       not running (pid {p} has exited)")?,
            None => writeln!(f, "state:       no train.pid (started by hand?)")?,
        }
        let Some(m) = &self.last else {
            return writeln!(f, "progress:    no checkpoint yet");
        };
        let epochs = m.total_epochs.max(c.epochs);
        if m.position > 0 {
            writeln!(
                f,
                "epoch:       {} of {} done, image {} of {} in epoch {}",
                m.epoch,
                epochs,
                m.position,
                m.train_images,
                m.epoch + 1
            )?;
        } else {
            writeln!(f, "epoch:       {} of {} done", m.epoch, epochs)?;
        }
        let ips = m.images_seen as f64 / m.train_seconds.max(1e-9);
        writeln!(
            f,
            "images seen: {} in {} of training ({:.1} images/s), lr now {:.2e}",
            m.images_seen,
            duration(m.train_seconds),
            ips,
            m.lr_now
        )?;
        match self.rows.iter().max_by(|a, b| a.val_psnr.total_cmp(&b.val_psnr)) {
            Some(b) => writeln!(
                f,
                "best val:    epoch {}: PSNR {:.3} dB, gain {:+.3} dB over gray, colourfulness ratio {:.3}",
                b.epoch,
                b.val_psnr,
                b.val_psnr - b.val_psnr_gray,
                b.val_colourfulness_ratio
            )?,
            None => writeln!(f, "best val:    no epoch finished yet")?,
        }
        let total = (epochs * m.train_images) as f64;
        let done = (m.epoch * m.train_images + m.position) as f64;
        if ips > 0.0 && total > done {
            writeln!(
                f,
                "ETA:         {} of training left at {:.1} images/s",
                duration((total - done) / ips),
                ips
            )?;
        } else {
            writeln!(f, "ETA:         finished")?;
        }
        Ok(())
    }
}
