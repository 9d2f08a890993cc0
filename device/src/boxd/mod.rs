//! The scanner-box daemon (`colorize box`).
//!
//! Two triggers feed one colourizer:
//! - the shutter thread samples the GPIO button, debounces it and, on a
//!   press, captures one full-resolution frame into a preallocated slot;
//!   filled slots travel to the main thread through a bounded `heapless`
//!   SPSC queue and come back empty through another, so frames never
//!   allocate once the box runs;
//! - the main thread polls the inbox folder for settled files.
//!
//! Durability rule: an input is never changed or moved until its output is
//! on disk (temp file + fsync + rename + directory fsync). A crash at any
//! point leaves either no output and the input in the inbox (redone at the
//! next start), or the output and the input still in the inbox (redone,
//! identical result, then moved), never a partial output and never a lost
//! input. A full output disk pauses intake instead ([`space`]): a scan
//! is never failed, nor a press accepted, for want of space. SIGTERM stops
//! taking new work; the job in flight is finished (bounded: one image) so
//! systemd's stop timeout is never needed.

pub mod config;
mod hardware;
pub mod inbox;
pub mod led;
pub mod monitor;
mod shutter;
pub mod space;
#[cfg(feature = "web")]
pub mod web;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use heapless::spsc::Queue;

use crate::camera::FrameSource;
use crate::gpio::InputLine;
use crate::hinted::ImageHints;
use crate::memory::{Budget, Source};
use colorize_io::output::{self, Staged};
use colorize_io::pipeline::{Colorize, Frame, OutputSpec, Worker};
use config::{BoxConfig, MAX_FRAME_SLOTS};
use inbox::Inbox;
use led::{LedState, StatusLed};
use monitor::{ModelInfo, Monitor};
use shutter::{shutter_loop, ShutterFlags, Slot};
use space::{Intake, SpaceGuard};

/// Opens (and after a failure, reopens) the camera on the shutter thread.
pub type CameraOpener = Box<dyn FnMut() -> Result<Box<dyn FrameSource + Send>> + Send>;

/// The box's hardware; `None` for what the config leaves out.
pub struct Hardware {
    pub camera: Option<CameraOpener>,
    pub button: Option<Box<dyn InputLine>>,
    pub led: Option<Box<dyn crate::gpio::OutputLine>>,
}

/// When [`run`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// Until the stop flag is set (SIGTERM).
    Forever,
    /// Also return once the inbox is empty and no frame waits: `--drain`,
    /// and tests.
    UntilIdle,
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub files_done: usize,
    pub files_failed: usize,
    pub frames_done: usize,
    pub capture_errors: usize,
    /// How many times intake paused for want of disk space.
    pub intake_pauses: usize,
    /// The first [`RunReport::MAX_OUTPUTS`] outputs written (a box that runs
    /// for months must not keep a list that grows with every scan).
    pub outputs: Vec<PathBuf>,
}

impl RunReport {
    pub const MAX_OUTPUTS: usize = 1024;

    fn wrote(&mut self, p: PathBuf) {
        if self.outputs.len() < Self::MAX_OUTPUTS {
            self.outputs.push(p);
        }
    }
}

const QUEUE_N: usize = MAX_FRAME_SLOTS + 1;

fn now_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

fn log(msg: std::fmt::Arguments<'_>) {
    eprintln!("colorize box: {msg}");
}

/// Runs the daemon until `stop` is set (or, with [`RunMode::UntilIdle`],
/// until there is nothing left to do).
pub fn run(
    cfg: &BoxConfig,
    colorizer: &mut dyn Colorize,
    hw: Hardware,
    stop: &AtomicBool,
    mode: RunMode,
) -> Result<RunReport> {
    let mut monitor = Monitor::new(cfg, ModelInfo::default(), colorizer.vividness());
    run_monitored(cfg, colorizer, hw, stop, mode, &mut monitor)
}

/// [`run`], reporting to `monitor` (which the web page reads).
pub fn run_monitored(
    cfg: &BoxConfig,
    colorizer: &mut dyn Colorize,
    hw: Hardware,
    stop: &AtomicBool,
    mode: RunMode,
    monitor: &mut Monitor,
) -> Result<RunReport> {
    std::fs::create_dir_all(&cfg.output.dir)
        .with_context(|| format!("cannot create output folder {}", cfg.output.dir.display()))?;
    let stale = output::prepare_folder(&cfg.output.dir)?;
    if stale > 0 {
        log(format_args!(
            "removed {stale} unfinished output(s) left by a previous run"
        ));
    }
    if cfg.inbox.enabled {
        std::fs::create_dir_all(&cfg.inbox.dir)
            .with_context(|| format!("cannot create inbox {}", cfg.inbox.dir.display()))?;
    }

    let start = Instant::now();
    let mut led = StatusLed::new(hw.led, cfg.led.heartbeat_ms, cfg.led.error_ms);
    led.set(LedState::Idle, now_ms(start));

    let mut filled: Queue<Slot, QUEUE_N> = Queue::new();
    let mut free: Queue<Slot, QUEUE_N> = Queue::new();
    let (filled_tx, mut filled_rx) = filled.split();
    let (mut free_tx, free_rx) = free.split();
    let capture_errors = AtomicU32::new(0);
    let shutter_stop = AtomicBool::new(false);
    // Set while the output disk is below its reserve: the shutter refuses
    // presses then, so no frame is taken that could not be kept.
    let disk_low = AtomicBool::new(false);
    let budget = scan_budget(cfg);
    log(format_args!("memory budget: {budget}"));
    let mut guard = SpaceGuard::new(&cfg.output.dir, cfg.limits.min_free_bytes(budget.images));
    let mut report = RunReport::default();
    let shared = monitor.shared();

    let result = std::thread::scope(|s| -> Result<()> {
        let shutter = match (hw.camera, hw.button) {
            (Some(opener), Some(button)) if cfg.camera.enabled => {
                let slots = cfg.camera.frame_slots.clamp(1, MAX_FRAME_SLOTS);
                for _ in 0..slots {
                    let empty = Slot {
                        l: Vec::new(),
                        width: 0,
                        height: 0,
                        sequence: 0,
                    };
                    let _ = free_tx.enqueue(empty);
                }
                let flags = ShutterFlags {
                    errors: &capture_errors,
                    stop,
                    halt: &shutter_stop,
                    disk_low: &disk_low,
                    shared: &shared,
                };
                let bc = &cfg.button;
                Some(
                    std::thread::Builder::new()
                        .name("shutter".into())
                        .spawn_scoped(s, move || {
                            shutter_loop(opener, button, bc, free_rx, filled_tx, flags)
                        })
                        .context("cannot start the shutter thread")?,
                )
            }
            _ => None,
        };

        let mut inbox = cfg.inbox.enabled.then(|| Inbox::new(&cfg.inbox.dir));
        let mut next_poll = Instant::now();
        let mut ready: Vec<PathBuf> = Vec::new();
        let mut pending = 0usize;
        let mut polled_once = false;
        let mut seen_errors = 0u32;
        let mut worker = Worker::new();
        let mut frame_no = 0u64;
        // A frame whose write ran out of space: kept (its slot with it) and
        // written first once space returns.
        let mut held: Option<Slot> = None;
        let mut next_space_check = Instant::now();
        let mut queue_shown = usize::MAX;

        let outcome = loop {
            if stop.load(Ordering::SeqCst) {
                break Ok(());
            }
            if let Some(v) = monitor.take_vividness_request() {
                match colorizer.set_vividness(v) {
                    Ok(()) => log(format_args!("vividness {v} from the next scan on")),
                    Err(e) => {
                        log(format_args!("vividness {v}: {e:#}"));
                        monitor.failed(&format!("vividness {v}: {e:#}"), false);
                    }
                }
                monitor.vividness_now(colorizer.vividness());
            }
            let queue = pending + ready.len() + usize::from(held.is_some()) + filled_rx.len();
            if queue != queue_shown {
                monitor.queue(queue);
                queue_shown = queue;
            }
            let errs = capture_errors.load(Ordering::SeqCst);
            if errs != seen_errors {
                report.capture_errors += (errs - seen_errors) as usize;
                seen_errors = errs;
                led.set(LedState::Error, now_ms(start));
            }

            // The disk is checked before each job, and every poll period
            // while idle or paused (so the shutter knows before a press).
            let work_waiting = held.is_some() || filled_rx.ready() || !ready.is_empty();
            let intake_open =
                if Instant::now() >= next_space_check || (work_waiting && !guard.is_paused()) {
                    next_space_check =
                        Instant::now() + Duration::from_millis(cfg.inbox.poll_ms.min(1000));
                    let intake = guard.check();
                    monitor.disk(guard.last_free(), guard.is_paused());
                    report_intake(intake, &guard, &disk_low, cfg, &mut report, pending)
                } else {
                    !guard.is_paused()
                };
            if guard.is_paused() {
                led.hold_error(now_ms(start));
            }

            if let Some(slot) = intake_open
                .then(|| held.take().or_else(|| filled_rx.dequeue()))
                .flatten()
            {
                led.set(LedState::Busy, now_ms(start));
                frame_no += 1;
                let name = capture_name(frame_no, slot.sequence);
                let n = slot.width * slot.height;
                let res = worker
                    .load_plane(&slot.l[..n], slot.width, slot.height)
                    .and_then(|frame| {
                        let path = cfg.output.dir.join(&name);
                        stage(&mut worker, colorizer, &frame, &path, monitor)
                    })
                    .and_then(|staged| staged.commit());
                if let Err(e) = &res {
                    if space::is_disk_full(e) {
                        log(format_args!(
                            "frame {frame_no}: {e:#}: kept until space returns"
                        ));
                        let intake = guard.write_failed();
                        monitor.disk(guard.last_free(), guard.is_paused());
                        report_intake(intake, &guard, &disk_low, cfg, &mut report, pending);
                        frame_no -= 1; // numbered again when written
                        held = Some(slot);
                        continue;
                    }
                }
                // The slot goes back whatever happened: the free queue has
                // room for every slot, so this cannot fail.
                let _ = free_tx.enqueue(slot);
                match res {
                    Ok(p) => {
                        log(format_args!("captured frame -> {}", p.display()));
                        monitor.scan_done(&p, "camera", colorizer.vividness());
                        report.frames_done += 1;
                        report.wrote(p);
                        led.set(LedState::Idle, now_ms(start));
                    }
                    Err(e) => {
                        log(format_args!("frame failed: {e:#}"));
                        monitor.failed(&format!("frame {frame_no}: {e:#}"), true);
                        led.set(LedState::Error, now_ms(start));
                    }
                }
                continue;
            }

            if let Some(ib) = inbox.as_mut() {
                if ready.is_empty() && Instant::now() >= next_poll {
                    next_poll = Instant::now() + Duration::from_millis(cfg.inbox.poll_ms);
                    match ib.poll(&mut pending) {
                        Ok(r) => ready = r,
                        Err(e) => {
                            log(format_args!("cannot list {}: {e}", cfg.inbox.dir.display()));
                            monitor.failed(&format!("cannot list the inbox: {e}"), false);
                            led.set(LedState::Error, now_ms(start));
                        }
                    }
                    ready.reverse(); // pop() takes the oldest name first
                    if polled_once
                        && ready.is_empty()
                        && pending == 0
                        && mode == RunMode::UntilIdle
                        && shutter.is_none()
                    {
                        break Ok(());
                    }
                    polled_once = true;
                }
                if let Some(path) = intake_open.then(|| ready.pop()).flatten() {
                    ib.forget(&path);
                    if !path.exists() {
                        continue; // taken away by someone else meanwhile
                    }
                    led.set(LedState::Busy, now_ms(start));
                    match process_file(cfg, &budget, colorizer, &mut worker, &path, monitor) {
                        Ok(out) => {
                            monitor.scan_done(&out, "inbox", colorizer.vividness());
                            report.files_done += 1;
                            report.wrote(out);
                            led.set(LedState::Idle, now_ms(start));
                        }
                        Err(e) if space::is_disk_full(&e) => {
                            // Not the input's fault: it stays in the inbox
                            // (settling again from the next listing).
                            log(format_args!(
                                "{}: {e:#}: the scan stays in the inbox",
                                path.display()
                            ));
                            let intake = guard.write_failed();
                            monitor.disk(guard.last_free(), guard.is_paused());
                            report_intake(intake, &guard, &disk_low, cfg, &mut report, pending);
                        }
                        Err(e) => {
                            log(format_args!("{}: {e:#}", path.display()));
                            let name = path.file_name().unwrap_or_default().to_string_lossy();
                            monitor.failed(&format!("{name}: {e:#}"), true);
                            report.files_failed += 1;
                            led.set(LedState::Error, now_ms(start));
                            if let Err(e) = fail_input(cfg, &path) {
                                // Cannot even move it aside: stop rather than
                                // spin on the same file forever.
                                break Err(e);
                            }
                        }
                    }
                    continue;
                }
            } else if mode == RunMode::UntilIdle && shutter.is_none() {
                break Ok(());
            }

            led.tick(now_ms(start));
            std::thread::sleep(Duration::from_millis(cfg.button.poll_ms.clamp(1, 20)));
        };
        shutter_stop.store(true, Ordering::SeqCst);
        if let Some(h) = shutter {
            if h.join().is_err() {
                log(format_args!("the shutter thread panicked"));
            }
        }
        outcome
    });
    led.off();
    result.map(|_| report)
}

/// Says (once per pause) why intake stopped and when it resumed, and
/// tells the shutter (`disk_low`); whether the box may take a job now.
fn report_intake(
    intake: Intake,
    guard: &SpaceGuard,
    disk_low: &AtomicBool,
    cfg: &BoxConfig,
    report: &mut RunReport,
    waiting: usize,
) -> bool {
    disk_low.store(guard.is_paused(), Ordering::SeqCst);
    let mib = |b: u64| b >> 20;
    match intake {
        Intake::Open => true,
        Intake::StillPaused => false,
        Intake::Paused { free } => {
            report.intake_pauses += 1;
            log(format_args!(
                "the output disk ({}) has {} MiB free, under the {} MiB reserve \
                 ([limits] min_free_mb): taking no scan and refusing the shutter until \
                 space returns (nothing is lost: inputs wait in the inbox; {waiting} settling)",
                cfg.output.dir.display(),
                mib(free),
                mib(guard.min_free()),
            ));
            false
        }
        Intake::Resumed { free } => {
            log(format_args!(
                "the output disk has {} MiB free again: resuming",
                mib(free)
            ));
            true
        }
    }
}

fn capture_name(n: u64, sequence: u32) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "capture-{}{:03}-{n:05}-{sequence}.png",
        t.as_secs(),
        t.subsec_millis()
    )
}

/// [`Worker::stage`] as `colorize files` would (PNG at the input's depth),
/// with a thumbnail-sized preview when the web page wants one.
fn stage(
    worker: &mut Worker,
    colorizer: &mut dyn Colorize,
    frame: &Frame,
    path: &Path,
    monitor: &mut Monitor,
) -> Result<Staged> {
    match monitor.preview_side() {
        Some(side) => worker.stage_previewed(
            colorizer,
            frame,
            path,
            OutputSpec::PNG,
            side,
            monitor.preview_mut(),
        ),
        None => worker.stage(colorizer, frame, path, OutputSpec::PNG),
    }
}

/// Decodes an inbox file, colourizes it and writes the output as
/// `colorize files` would ([`Worker::stage`], PNG at the input's depth);
/// only then moves the input to the done folder.
fn process_file(
    cfg: &BoxConfig,
    budget: &Budget,
    colorizer: &mut dyn Colorize,
    worker: &mut Worker,
    path: &Path,
    monitor: &mut Monitor,
) -> Result<PathBuf> {
    output::phase("read", path);
    let limits = cfg.limits.decode();
    // One scan at a time: it fits if its estimate fits the whole budget.
    // A header that can not be read fails the decode below, in its words.
    if let Ok(header) = colorize_io::memory::probe(path, &limits) {
        let need = colorize_io::memory::estimate(&header, OutputSpec::PNG);
        if need > budget.images {
            anyhow::bail!(budget.refusal(need, &header.describe()));
        }
    }
    let (img, meta) = colorize_io::images::decode_file_with_metadata(path, &limits)?;
    let frame = worker.load(img, meta)?;
    if let Some(note) = &frame.note {
        log(format_args!("note: {}: {note}", path.display()));
    }
    // Its hints, from its sidecar: dropped into the inbox first, they are
    // there when the image settles.
    let hints = ImageHints::of(path, None, worker.l_plane(), frame.width, frame.height)?;
    if let Some(note) = hints.note() {
        log(format_args!("note: {}: {note}", path.display()));
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let out = cfg.output.dir.join(format!("{stem}.png"));
    colorizer.set_hints(&hints.grid)?;
    let staged = stage(worker, colorizer, &frame, &out, monitor);
    colorizer.set_hints(&[])?;
    let staged = staged?;
    let record = hints.record(path, &out);
    record.write()?;
    let out = staged.commit()?;
    // The scan is done: a stale record that will not go is for the log.
    if let Err(e) = record.remove_stale() {
        log(format_args!("{e:#}"));
    }
    let moved = output::move_into(path, &cfg.inbox.done_path())?;
    move_sidecar(path, &moved);
    output::phase("moved", &moved);
    log(format_args!(
        "{} -> {} (input now {})",
        path.display(),
        out.display(),
        moved.display()
    ));
    Ok(out)
}

/// The memory a scan may take: the budget the machine (or `[limits]
/// memory_mb`) gives one worker, less what the camera's frames may hold.
pub fn scan_budget(cfg: &BoxConfig) -> Budget {
    let mut budget = Budget::for_this_process(cfg.limits.memory_mb, Source::Config, 1);
    budget.camera = cfg.camera_frame_bytes();
    budget.images = budget.images.saturating_sub(budget.camera);
    budget
}

/// Moves an inbox image's hints sidecar, if it has one, beside the image
/// where it went (`moved`), named for the name it got there. Not being
/// able to is logged, not a failure of the scan: the scan is done.
fn move_sidecar(image: &Path, moved: &Path) {
    let sidecar = colorize_io::hints::sidecar_path(image);
    if !sidecar.is_file() {
        return;
    }
    let to = colorize_io::hints::sidecar_path(moved);
    let result = if to.exists() {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "already there",
        ))
    } else {
        std::fs::rename(&sidecar, &to)
    };
    if let Err(e) = result {
        log(format_args!(
            "{}: can not move it to {}: {e}; it stays in the inbox",
            sidecar.display(),
            to.display()
        ));
    }
}

fn fail_input(cfg: &BoxConfig, path: &Path) -> Result<()> {
    let moved = output::move_into(path, &cfg.inbox.failed_path())?;
    move_sidecar(path, &moved);
    log(format_args!(
        "moved {} to {}",
        path.display(),
        moved.display()
    ));
    Ok(())
}
