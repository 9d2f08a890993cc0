//! The `colorize camera` loop: capture, colourize, write, repeat.
//!
//! Transient faults (a frame the driver flagged corrupt, a truncated
//! buffer, a timeout) skip that frame. A lost device (unplugged, or vivid's
//! "Disconnect") closes everything and reopens it a bounded number of
//! times; if it does not come back the run fails with an error that says
//! how many frames were written. Every written frame is a complete,
//! fsynced file, and numbering continues after the highest existing one,
//! so nothing already written is ever overwritten or lost.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{CaptureError, FrameSource};
use colorize_io::output;
use colorize_io::pipeline::{Colorize, OutputSpec, Worker};

/// A device control to set once a given number of frames is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Injection {
    pub control: String,
    pub value: i64,
    pub after_frames: u64,
}

impl std::str::FromStr for Injection {
    type Err = String;
    /// `NAME@N` or `NAME=VALUE@N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (lhs, n) = s.rsplit_once('@').ok_or_else(|| {
            format!("{s:?}: expected CONTROL[=VALUE]@FRAMES, e.g. \"Disconnect@2\"")
        })?;
        let after_frames = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {n:?} is not a frame count"))?;
        let (control, value) = match lhs.split_once('=') {
            Some((c, v)) => (
                c,
                v.trim()
                    .parse()
                    .map_err(|_| format!("{s:?}: {v:?} is not an integer"))?,
            ),
            None => (lhs, 1),
        };
        if control.trim().is_empty() {
            return Err(format!("{s:?}: empty control name"));
        }
        Ok(Injection {
            control: control.trim().to_string(),
            value,
            after_frames,
        })
    }
}

/// How a run goes.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    pub out_dir: PathBuf,
    /// Stop after this many written frames; `None`: until stopped.
    pub frames: Option<u64>,
    /// Pause between frames (time-lapse); `None`: as fast as possible.
    pub interval: Option<Duration>,
    /// File names are `<prefix>-NNNNN.png`.
    pub prefix: String,
    /// How often a lost device is reopened before giving up.
    pub max_reopens: u32,
    /// Consecutive skipped frames tolerated before giving up.
    pub max_skips: u32,
    pub inject: Vec<Injection>,
}

impl CaptureOptions {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        CaptureOptions {
            out_dir: out_dir.into(),
            frames: None,
            interval: None,
            prefix: "frame".into(),
            max_reopens: 3,
            max_skips: 20,
            inject: Vec::new(),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureReport {
    pub written: Vec<PathBuf>,
    pub size: (usize, usize),
    pub skipped: u32,
    pub reopened: u32,
}

/// The next free index for `<prefix>-NNNNN.png` in `dir`.
fn first_free_index(dir: &Path, prefix: &str) -> Result<u64> {
    let mut max = 0;
    let lead = format!("{prefix}-");
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_prefix(&lead)
            .and_then(|r| r.strip_suffix(".png"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            max = max.max(n);
        }
    }
    Ok(max + 1)
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs the capture loop. `open` is called once at the start and again
/// after each device loss.
pub fn capture_to_dir(
    open: &mut dyn FnMut() -> Result<Box<dyn FrameSource>>,
    colorizer: &mut dyn Colorize,
    opts: &CaptureOptions,
    stop: &AtomicBool,
) -> Result<CaptureReport> {
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("cannot create {}", opts.out_dir.display()))?;
    output::prepare_folder(&opts.out_dir)?;
    let mut next_index = first_free_index(&opts.out_dir, &opts.prefix)?;
    let mut src = open()?;
    let (mut w, mut h) = src.size();
    eprintln!("camera: negotiated {w}x{h}");
    // The L* plane is allocated here, once, and the worker's buffers on the
    // first frame; the loop reuses them (the worker copies each plane in).
    let mut l = vec![0u16; w * h];
    let mut worker = Worker::new();
    let mut report = CaptureReport {
        size: (w, h),
        ..Default::default()
    };
    let mut skips_in_row = 0;
    let mut injected = vec![false; opts.inject.len()];

    while opts
        .frames
        .is_none_or(|n| (report.written.len() as u64) < n)
        && !stop.load(Ordering::SeqCst)
    {
        match src.capture_l(&mut l) {
            Ok(info) => {
                skips_in_row = 0;
                let name = format!("{}-{next_index:05}.png", opts.prefix);
                let frame = worker.load_plane(&l, w, h)?;
                let path = worker
                    .stage(
                        colorizer,
                        &frame,
                        &opts.out_dir.join(&name),
                        OutputSpec::PNG,
                    )?
                    .commit()?;
                next_index += 1;
                report.written.push(path);
                eprintln!(
                    "camera: frame {} seq {} {w}x{h} -> {}",
                    report.written.len(),
                    info.sequence,
                    opts.out_dir.join(&name).display()
                );
                let done = report.written.len() as u64;
                for (inj, fired) in opts.inject.iter().zip(injected.iter_mut()) {
                    if !*fired && inj.after_frames == done {
                        *fired = true;
                        eprintln!(
                            "camera: injecting {:?} = {} after frame {done}",
                            inj.control, inj.value
                        );
                        if let Err(e) = src.set_control(&inj.control, inj.value) {
                            eprintln!("camera: injection failed: {e}");
                        }
                    }
                }
                if let Some(iv) = opts.interval {
                    if opts.frames.is_none_or(|n| done < n) {
                        sleep_unless_stopped(iv, stop);
                    }
                }
            }
            Err(e) if e.is_transient() => {
                report.skipped += 1;
                skips_in_row += 1;
                eprintln!("camera: skipped a frame: {e}");
                if skips_in_row > opts.max_skips {
                    bail!(
                        "{skips_in_row} frames in a row failed (last: {e}); {} frame(s) were written",
                        report.written.len()
                    );
                }
            }
            Err(e) => {
                let fatal = format!("{e}");
                drop(src);
                if report.reopened >= opts.max_reopens || matches!(e, CaptureError::EndOfStream) {
                    bail!(
                        "camera lost ({fatal}); gave up after {} reopen(s); {} frame(s) were written and are intact",
                        report.reopened,
                        report.written.len()
                    );
                }
                report.reopened += 1;
                eprintln!(
                    "camera: {fatal}; reopening ({}/{})",
                    report.reopened, opts.max_reopens
                );
                src = reopen(open, stop).with_context(|| {
                    format!(
                        "camera lost ({fatal}) and did not come back; {} frame(s) were written and are intact",
                        report.written.len()
                    )
                })?;
                if src.size() != (w, h) {
                    (w, h) = src.size();
                    eprintln!("camera: renegotiated {w}x{h}");
                    l = vec![0; w * h];
                    report.size = (w, h);
                }
            }
        }
    }
    eprintln!(
        "camera: wrote {} frame(s) of {w}x{h} to {}; skipped {}; reopened {}",
        report.written.len(),
        opts.out_dir.display(),
        report.skipped,
        report.reopened
    );
    Ok(report)
}

/// A device that just vanished takes a moment to come back (vivid only
/// reconnects once every handle is closed; USB re-enumerates): retry for
/// about five seconds.
fn reopen(
    open: &mut dyn FnMut() -> Result<Box<dyn FrameSource>>,
    stop: &AtomicBool,
) -> Result<Box<dyn FrameSource>> {
    let mut last = None;
    for _ in 0..20 {
        if stop.load(Ordering::SeqCst) {
            bail!("stopped while reopening the camera");
        }
        match open() {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
        sleep_unless_stopped(Duration::from_millis(250), stop);
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("reopen failed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_syntax() {
        let i: Injection = "Disconnect@2".parse().unwrap();
        assert_eq!(
            (i.control.as_str(), i.value, i.after_frames),
            ("Disconnect", 1, 2)
        );
        let i: Injection = "Inject V4L2_BUF_FLAG_ERROR=1@3".parse().unwrap();
        assert_eq!(i.control, "Inject V4L2_BUF_FLAG_ERROR");
        assert!("Disconnect".parse::<Injection>().is_err());
        assert!("@3".parse::<Injection>().is_err());
        assert!("X=y@3".parse::<Injection>().is_err());
    }
}
