//! What the box is doing, for its web page (`[web]`, feature `web`):
//! counters, queue, disk, camera and button, the last error and the last
//! scans with their thumbnails.
//!
//! The colourizer reports events here; the web server only ever reads a
//! copy of [`Status`]. The lock is held for a counter update or a clone of
//! a few hundred bytes, never across I/O, so no client (slow or hostile)
//! can hold up a scan. Without `[web]` the monitor keeps its counters and
//! makes no thumbnails.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use colorize_io::pipeline::Preview;
use serde::{Deserialize, Serialize};

use super::config::BoxConfig;

/// The folder under the output folder that holds the thumbnails and their
/// records (a dot name: `colorize files` and the download route skip it).
pub const THUMBS_DIR: &str = ".thumbs";

/// The model, as the page shows it.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ModelInfo {
    /// The card's model id (or arch).
    pub id: String,
    /// A few card entries: arch, training data, validation metrics.
    pub card: Vec<(String, String)>,
    /// Whether the model has a vividness control (a distribution head).
    pub has_vividness: bool,
}

impl ModelInfo {
    /// What the page shows of `model`: its id and a few card entries, cut
    /// to what fits a phone's line.
    pub fn of(model: &crate::runtime::Model) -> Self {
        use colorize_shared::contract::meta;
        let mut card = Vec::new();
        if let Some(arch) = model.meta(meta::ARCH) {
            card.push(("arch".to_string(), arch.to_string()));
        }
        if let Some(data) = model.meta(meta::TRAINING_DATA) {
            card.push(("trained on".to_string(), training_data(data)));
        }
        if let Some(m) = model.meta(meta::VAL_METRICS) {
            let v: serde_json::Value = serde_json::from_str(m).unwrap_or_default();
            let shown = match (v["val_psnr"].as_f64(), v["val_auc"].as_f64()) {
                (Some(p), Some(a)) => format!("PSNR {p:.2} dB, AUC {a:.3}"),
                _ => m.chars().take(80).collect(),
            };
            card.push(("validation".to_string(), shown));
        }
        if let Some(q) = model.meta(meta::QUANTIZATION) {
            card.push(("weights".to_string(), q.to_string()));
        }
        ModelInfo {
            id: model.id().to_string(),
            card,
            has_vividness: model.vividness().is_some(),
        }
    }
}

/// A card's training data (a list of archive paths) as a dataset's name:
/// the folder they share and how many files, `tiny-imagenet (4 files)`.
fn training_data(paths: &str) -> String {
    let paths: Vec<&std::path::Path> = paths.split(',').map(|p| Path::new(p.trim())).collect();
    let folder = |p: &Path| {
        p.parent()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
    };
    match (folder(paths[0]), paths.len()) {
        (Some(f), n) if n > 1 && paths.iter().all(|p| folder(p).as_ref() == Some(&f)) => {
            format!("{f} ({n} files)")
        }
        _ => paths
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// One scan on the page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Scan {
    /// The output's file name, in the output folder.
    pub output: String,
    /// The thumbnail's file name in [`THUMBS_DIR`].
    pub thumb: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// `inbox` or `camera`.
    pub source: String,
    /// The vividness it was made at (distribution heads only).
    pub vividness: Option<f32>,
}

/// What `/api/status` returns and the page shows.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Status {
    pub model: ModelInfo,
    /// The vividness the next scan uses.
    pub vividness: Option<f32>,
    pub scans_today: u64,
    pub failed_today: u64,
    pub scans_total: u64,
    pub failed_total: u64,
    /// Inbox files seen but not yet done, and frames waiting.
    pub queue: usize,
    pub free_disk_bytes: Option<u64>,
    /// Intake paused for want of disk space.
    pub disk_low: bool,
    pub uptime_s: u64,
    pub last_error: Option<String>,
    /// When, in seconds since the Unix epoch.
    pub last_error_time: Option<u64>,
    /// `off`, `ready`, `failing`.
    pub camera: &'static str,
    /// `off`, `ready`, `failing`.
    pub button: &'static str,
    /// Newest first.
    pub recent: VecDeque<Scan>,
    #[serde(skip)]
    day: i64,
}

/// A hardware line's state, shared with the shutter thread lock-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LineState {
    Off = 0,
    Ready = 1,
    Failing = 2,
}

impl LineState {
    fn name(v: u8) -> &'static str {
        match v {
            1 => "ready",
            2 => "failing",
            _ => "off",
        }
    }
}

/// What the colourizer and the web server share.
pub struct Shared {
    status: Mutex<Status>,
    started: Instant,
    /// A vividness the page asked for (f32 bits), [`NO_REQUEST`] when none
    /// waits: the colourizer applies it before its next scan.
    vividness_request: AtomicU32,
    pub camera: AtomicU8,
    pub button: AtomicU8,
}

const NO_REQUEST: u32 = u32::MAX;

impl Shared {
    /// A copy of the status, `uptime_s` and the lines filled in.
    pub fn snapshot(&self) -> Status {
        let mut s = lock(&self.status).clone();
        s.uptime_s = self.started.elapsed().as_secs();
        s.camera = LineState::name(self.camera.load(Ordering::Relaxed));
        s.button = LineState::name(self.button.load(Ordering::Relaxed));
        s
    }

    /// Records an error for the page (the log has it already).
    pub fn error(&self, what: &str, counts_as_scan: bool) {
        let now = now_s();
        let mut s = lock(&self.status);
        roll_day(&mut s, now);
        if counts_as_scan {
            s.failed_today += 1;
            s.failed_total += 1;
        }
        s.last_error = Some(what.chars().take(500).collect());
        s.last_error_time = Some(now);
    }

    /// Adds a scan whose thumbnail is written, newest first (one entry per
    /// output name), keeping `keep`; then its record, for the next start;
    /// then removes what fell off, outside the lock.
    fn add_scan(&self, dir: &Path, scan: Scan, keep: usize) {
        let mut dropped = Vec::new();
        {
            let mut s = lock(&self.status);
            // The same output name again (a.jpg, then a.tif): one entry,
            // the new one, whose thumbnail replaced the old one's.
            s.recent.retain(|r| r.thumb != scan.thumb);
            s.recent.push_front(scan.clone());
            while s.recent.len() > keep {
                dropped.extend(s.recent.pop_back());
            }
        }
        let record = serde_json::to_vec(&scan).unwrap_or_default();
        if let Err(e) = put(dir, &record_name(&scan.thumb), &record) {
            eprintln!("colorize box: thumbnail record: {e:#}");
        }
        for old in dropped {
            let _ = std::fs::remove_file(dir.join(&old.thumb));
            let _ = std::fs::remove_file(dir.join(record_name(&old.thumb)));
        }
    }

    /// Asks for `v` from the next scan on.
    pub fn request_vividness(&self, v: f32) {
        self.vividness_request.store(v.to_bits(), Ordering::SeqCst);
    }
}

fn lock(m: &Mutex<Status>) -> MutexGuard<'_, Status> {
    // A panic elsewhere must not take the page down: the status is plain data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The colourizer's side.
pub struct Monitor {
    shared: Arc<Shared>,
    /// `[web]` on: the thread that writes thumbnails.
    thumbs: Option<Thumbnailer>,
    preview: Preview,
}

/// Encodes and writes thumbnails on a thread of its own, at the web page's
/// low priority: the colourizer only makes the small preview (from the
/// prediction it has anyway) and hands it over, never waiting (a JPEG
/// encode costs more than the preview).
struct Thumbnailer {
    side: usize,
    tx: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

enum Job {
    Thumb {
        preview: Preview,
        output: PathBuf,
        source: String,
        vividness: Option<f32>,
        time: u64,
    },
    /// Answered once every job before it is done.
    Flush(SyncSender<()>),
}

/// Previews waiting for the thumbnailer, at most; more are dropped (their
/// scans are safe, only their thumbnails are missing).
const THUMB_QUEUE: usize = 8;

impl Thumbnailer {
    fn start(dir: PathBuf, side: usize, keep: usize, shared: Arc<Shared>) -> Self {
        let (tx, rx) = sync_channel::<Job>(THUMB_QUEUE);
        let thread = std::thread::Builder::new()
            .name("thumbnails".into())
            .spawn(move || {
                lower_priority();
                for job in rx {
                    match job {
                        Job::Thumb {
                            preview,
                            output,
                            source,
                            vividness,
                            time,
                        } => match write_thumb(&dir, &output, &preview) {
                            Ok((name, thumb)) => {
                                let scan = Scan {
                                    output: name,
                                    thumb,
                                    time,
                                    source,
                                    vividness,
                                };
                                shared.add_scan(&dir, scan, keep);
                            }
                            Err(e) => {
                                eprintln!("colorize box: thumbnail for {}: {e:#}", output.display())
                            }
                        },
                        Job::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .ok();
        Thumbnailer {
            side,
            tx: Some(tx),
            thread,
        }
    }
}

impl Drop for Thumbnailer {
    fn drop(&mut self) {
        self.tx.take(); // ends the thread's loop once it has written what waits
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lowers the calling thread's priority to nice 10 (per thread on Linux,
/// inherited by the threads it spawns): the web page's threads and the
/// thumbnailer yield the CPU to the colourizer.
pub fn lower_priority() {
    // SAFETY: plain system calls on this thread's own id.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

impl Monitor {
    /// A monitor for `cfg`'s box; with `[web]` on it makes thumbnails and
    /// loads the records of the last scans from an earlier run.
    pub fn new(cfg: &BoxConfig, model: ModelInfo, vividness: Option<f32>) -> Self {
        let mut status = Status {
            model,
            vividness,
            camera: "off",
            button: "off",
            day: local_day(now_s()),
            ..Status::default()
        };
        let dir = cfg.output.dir.join(THUMBS_DIR);
        if cfg.web.enabled {
            status.recent = load_recent(&dir, cfg.web.recent);
        }
        let shared = Arc::new(Shared {
            status: Mutex::new(status),
            started: Instant::now(),
            vividness_request: AtomicU32::new(NO_REQUEST),
            camera: AtomicU8::new(LineState::Off as u8),
            button: AtomicU8::new(LineState::Off as u8),
        });
        let thumbs = cfg
            .web
            .enabled
            .then(|| Thumbnailer::start(dir, cfg.web.thumbnail_px, cfg.web.recent, shared.clone()));
        Monitor {
            shared,
            thumbs,
            preview: Preview::default(),
        }
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The preview size to make with each output, when thumbnails are on.
    pub fn preview_side(&self) -> Option<usize> {
        self.thumbs.as_ref().map(|t| t.side)
    }

    /// The buffer [`colorize_io::pipeline::Worker::stage_previewed`] fills.
    pub fn preview_mut(&mut self) -> &mut Preview {
        &mut self.preview
    }

    /// A vividness the page asked for since the last call.
    pub fn take_vividness_request(&self) -> Option<f32> {
        let bits = self
            .shared
            .vividness_request
            .swap(NO_REQUEST, Ordering::SeqCst);
        (bits != NO_REQUEST).then(|| f32::from_bits(bits))
    }

    /// The vividness now in use (after a request was applied, or refused).
    pub fn vividness_now(&self, v: Option<f32>) {
        lock(&self.shared.status).vividness = v;
    }

    pub fn queue(&self, waiting: usize) {
        lock(&self.shared.status).queue = waiting;
    }

    pub fn disk(&self, free: Option<u64>, low: bool) {
        let mut s = lock(&self.shared.status);
        s.free_disk_bytes = free;
        s.disk_low = low;
    }

    /// A scan written to `output`; its thumbnail from the preview the
    /// output was staged with (when thumbnails are on), handed to the
    /// thumbnailer. A thumbnail that cannot be made is logged and skipped:
    /// the scan itself is safe.
    pub fn scan_done(&mut self, output: &Path, source: &str, vividness: Option<f32>) {
        let time = now_s();
        {
            let mut s = lock(&self.shared.status);
            roll_day(&mut s, time);
            s.scans_today += 1;
            s.scans_total += 1;
        }
        if let Some(tx) = self.thumbs.as_ref().and_then(|t| t.tx.as_ref()) {
            let job = Job::Thumb {
                preview: std::mem::take(&mut self.preview),
                output: output.to_path_buf(),
                source: source.to_string(),
                vividness,
                time,
            };
            if let Err(TrySendError::Full(_)) = tx.try_send(job) {
                eprintln!(
                    "colorize box: no thumbnail for {}: the thumbnailer is behind",
                    output.display()
                );
            }
        }
    }

    /// Waits until every thumbnail handed over so far is written (tests).
    pub fn flush(&self) {
        if let Some(tx) = self.thumbs.as_ref().and_then(|t| t.tx.as_ref()) {
            let (done_tx, done_rx) = sync_channel(1);
            if tx.send(Job::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
    }

    /// A scan that failed (`counts_as_scan`), or any error worth showing.
    pub fn failed(&self, what: &str, counts_as_scan: bool) {
        self.shared.error(what, counts_as_scan);
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Today's counters start at local midnight.
fn roll_day(s: &mut Status, now: u64) {
    let day = local_day(now);
    if day != s.day {
        s.day = day;
        s.scans_today = 0;
        s.failed_today = 0;
    }
}

/// Days since the epoch in the box's local time zone (the archivist's
/// "today").
fn local_day(t: u64) -> i64 {
    (t as i64 + utc_offset(t)).div_euclid(86_400)
}

/// The box's local time zone's offset from UTC at `t`, in seconds, from
/// the C library's idea of the zone (0 when it has none).
pub fn utc_offset(t: u64) -> i64 {
    let secs = t as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r writes only into `tm`, which outlives the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        0
    } else {
        tm.tm_gmtoff as i64
    }
}

fn record_name(thumb: &str) -> String {
    format!("{thumb}.json")
}

/// Writes the preview as `<output name>.jpg` (temp file and rename: a
/// reader never sees half a thumbnail; no fsync: a thumbnail lost to a
/// power cut costs nothing); the output's name and the thumbnail's.
fn write_thumb(dir: &Path, output: &Path, preview: &Preview) -> Result<(String, String)> {
    anyhow::ensure!(preview.width > 0, "no preview was made");
    let name = output
        .file_name()
        .context("output has no file name")?
        .to_string_lossy()
        .into_owned();
    anyhow::ensure!(plain_name(&name), "{name:?} is not a plain file name");
    thumbs_dir(dir)?;
    let thumb = format!("{name}.jpg");
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&preview.side_by_side())
        .context("cannot encode the thumbnail")?;
    put(dir, &thumb, &jpeg)?;
    Ok((name, thumb))
}

/// Whether `name` is one plain, visible path component: what the page
/// serves (web/routes.rs) and what a thumbnail record may name.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// Makes sure `dir` is a real folder, not a link: someone who can write the
/// output folder (a scanner's share) must not point the thumbnails, their
/// pruning and their temp-file sweep elsewhere.
fn thumbs_dir(dir: &Path) -> Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!("{} is not a folder (a link?): no thumbnails", dir.display()),
        Err(_) => {
            std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))
        }
    }
}

/// Writes `dir/name` through a temp file created anew (never through a
/// link planted under the temp name) and renamed over it (a link under
/// `name` is replaced, not followed).
fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.join(format!(".{name}.part"));
    let _ = std::fs::remove_file(&tmp);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(name))
        .with_context(|| format!("cannot rename {}", tmp.display()))
}

/// The records of an earlier run, newest first, at most `keep` (older
/// thumbnails are removed); records without their thumbnail, or naming
/// anything but a plain file in this folder, are ignored.
fn load_recent(dir: &Path, keep: usize) -> VecDeque<Scan> {
    if thumbs_dir(dir).is_err() {
        return VecDeque::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return VecDeque::new();
    };
    let mut scans: Vec<Scan> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jpg.json"))
        .filter_map(|e| serde_json::from_slice::<Scan>(&std::fs::read(e.path()).ok()?).ok())
        .filter(|s| {
            plain_name(&s.output)
                && s.thumb == format!("{}.jpg", s.output)
                && std::fs::symlink_metadata(dir.join(&s.thumb)).is_ok_and(|m| m.is_file())
        })
        .collect();
    scans.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.output.cmp(&a.output)));
    for old in scans.iter().skip(keep) {
        let _ = std::fs::remove_file(dir.join(&old.thumb));
        let _ = std::fs::remove_file(dir.join(record_name(&old.thumb)));
    }
    scans.truncate(keep);
    // Unfinished temp files of a run that was cut off.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".part") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    scans.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_cfg(out: &Path, keep: usize) -> BoxConfig {
        let mut cfg = BoxConfig::default();
        cfg.output.dir = out.to_path_buf();
        cfg.web.enabled = true;
        cfg.web.recent = keep;
        cfg
    }

    fn preview() -> Preview {
        Preview {
            width: 4,
            height: 2,
            gray: vec![128; 24],
            colour: vec![200; 24],
        }
    }

    #[test]
    fn keeps_the_newest_scans_and_reloads_them_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = web_cfg(dir.path(), 2);
        let mut m = Monitor::new(&cfg, ModelInfo::default(), Some(0.5));
        for i in 0..3 {
            *m.preview_mut() = preview();
            m.scan_done(&dir.path().join(format!("s{i}.png")), "inbox", Some(0.5));
        }
        m.flush();
        let s = m.shared().snapshot();
        assert_eq!(s.scans_total, 3);
        let names: Vec<_> = s.recent.iter().map(|r| r.output.as_str()).collect();
        assert_eq!(names, ["s2.png", "s1.png"]);
        let thumbs = dir.path().join(THUMBS_DIR);
        assert!(
            !thumbs.join("s0.png.jpg").exists(),
            "the oldest thumbnail is pruned"
        );
        let img = image::open(thumbs.join("s2.png.jpg")).unwrap();
        assert_eq!(
            (img.width(), img.height()),
            (8, 2),
            "gray | colour side by side"
        );

        let again = Monitor::new(&cfg, ModelInfo::default(), None);
        assert_eq!(again.shared().snapshot().recent, s.recent);
    }

    #[test]
    fn training_data_reads_as_a_dataset() {
        let four = "/d/tiny-imagenet/train-0.tar.gz, /d/tiny-imagenet/train-1.tar.gz, /d/tiny-imagenet/train-2.tar.gz, /d/tiny-imagenet/train-3.tar.gz";
        assert_eq!(training_data(four), "tiny-imagenet (4 files)");
        assert_eq!(training_data("/a/x.tar, /b/y.tar"), "x.tar, y.tar");
        assert_eq!(training_data("imagenet-subset"), "imagenet-subset");
    }

    #[test]
    fn records_naming_files_elsewhere_are_ignored_and_nothing_outside_is_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let thumbs = out.join(THUMBS_DIR);
        std::fs::create_dir_all(&thumbs).unwrap();
        let victim = dir.path().join("scan.jpg");
        std::fs::write(&victim, b"an input").unwrap();
        let evil = Scan {
            output: victim.with_extension("").display().to_string(),
            thumb: victim.display().to_string(),
            time: 0,
            source: "inbox".into(),
            vividness: None,
        };
        std::fs::write(
            thumbs.join("evil.jpg.json"),
            serde_json::to_vec(&evil).unwrap(),
        )
        .unwrap();
        let cfg = web_cfg(&out, 1);
        let mut m = Monitor::new(&cfg, ModelInfo::default(), None);
        assert!(m.shared().snapshot().recent.is_empty());
        for i in 0..3 {
            *m.preview_mut() = preview();
            m.scan_done(&out.join(format!("s{i}.png")), "inbox", None);
        }
        m.flush();
        drop(Monitor::new(&cfg, ModelInfo::default(), None));
        assert!(
            victim.exists(),
            "a record made the box delete a file outside its folder"
        );
    }

    #[test]
    fn the_same_output_name_again_is_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Monitor::new(&web_cfg(dir.path(), 2), ModelInfo::default(), None);
        for name in ["a.png", "b.png", "a.png"] {
            *m.preview_mut() = preview();
            m.scan_done(&dir.path().join(name), "inbox", None);
        }
        m.flush();
        let s = m.shared().snapshot();
        let names: Vec<_> = s.recent.iter().map(|r| r.output.as_str()).collect();
        assert_eq!(names, ["a.png", "b.png"]);
        assert!(dir.path().join(THUMBS_DIR).join("a.png.jpg").exists());
    }

    #[test]
    fn a_linked_thumbnail_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (out, elsewhere) = (dir.path().join("out"), dir.path().join("elsewhere"));
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join(THUMBS_DIR)).unwrap();
        let mut m = Monitor::new(&web_cfg(&out, 2), ModelInfo::default(), None);
        *m.preview_mut() = preview();
        m.scan_done(&out.join("a.png"), "inbox", None);
        m.flush();
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        assert_eq!(
            m.shared().snapshot().scans_total,
            1,
            "the scan still counts"
        );
    }

    #[test]
    fn counts_failures_and_applies_a_request_once() {
        let dir = tempfile::tempdir().unwrap();
        let m = Monitor::new(&web_cfg(dir.path(), 4), ModelInfo::default(), None);
        m.failed("x.png: not an image", true);
        m.failed("capture failed", false);
        let s = m.shared().snapshot();
        assert_eq!((s.failed_today, s.failed_total), (1, 1));
        assert_eq!(s.last_error.as_deref(), Some("capture failed"));
        assert_eq!(m.take_vividness_request(), None);
        m.shared().request_vividness(0.25);
        assert_eq!(m.take_vividness_request(), Some(0.25));
        assert_eq!(m.take_vividness_request(), None);
    }
}
