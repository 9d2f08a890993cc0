//! Helpers shared by the box and camera tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use colorize_device::shared::recombine::AbPlanes;
use colorize_device::Colorize;

/// a*, b* the fake colourizer paints (Q8.8): a warm tint, far from gray.
pub const TINT: (i16, i16) = (20 * 256, 30 * 256);

/// Stands in for the model: predicts a fixed tint everywhere, and lets a test
/// hook into the moment of colourization.
pub struct TintColorizer<F: FnMut(usize)> {
    pub calls: usize,
    pub hook: F,
}

impl<F: FnMut(usize)> TintColorizer<F> {
    pub fn new(hook: F) -> Self {
        TintColorizer { calls: 0, hook }
    }
}

pub fn tint() -> TintColorizer<fn(usize)> {
    TintColorizer::new(|_| {})
}

impl<F: FnMut(usize)> Colorize for TintColorizer<F> {
    fn predict(&mut self, l: &[u16], width: usize, height: usize) -> anyhow::Result<AbPlanes<'_>> {
        anyhow::ensure!(l.len() == width * height, "bad buffers");
        self.calls += 1;
        (self.hook)(self.calls);
        Ok(AbPlanes {
            width: 1,
            height: 1,
            a: &[TINT.0],
            b: &[TINT.1],
        })
    }

    fn provenance(&self) -> String {
        "tinted by a test colorizer".into()
    }
}

/// Writes a gray gradient PNG of the given size.
pub fn write_gray_png(path: &Path, w: u32, h: u32) {
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 7 + y * 3) % 256) as u8]));
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

/// Decodes a result and checks it is a complete, coloured image of `w x h`.
pub fn assert_colour_png(path: &Path, w: u32, h: u32) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (w, h), "{}", path.display());
    let coloured = img
        .pixels()
        .filter(|p| p[0] != p[1] || p[1] != p[2])
        .count();
    assert!(
        coloured > (w * h / 2) as usize,
        "{} is not colourized",
        path.display()
    );
}

/// Files in `dir` (names), sorted; no folders.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Polls `cond` until it holds or `timeout` passes (qemu-user is slow:
/// generous timeouts, early exit).
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

pub struct Dirs {
    pub _tmp: tempfile::TempDir,
    pub inbox: PathBuf,
    pub out: PathBuf,
}

pub fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    Dirs {
        _tmp: tmp,
        inbox,
        out,
    }
}

/// A config for tests: fast polling, dark idle LED (no heartbeat), short
/// error blink.
pub fn config(d: &Dirs) -> colorize_device::boxd::config::BoxConfig {
    let mut c = colorize_device::boxd::config::BoxConfig::default();
    c.output.dir = d.out.clone();
    c.inbox.dir = d.inbox.clone();
    c.inbox.poll_ms = 20;
    c.button.poll_ms = 2;
    c.button.debounce_ms = 20;
    c.led.heartbeat_ms = 0;
    c.led.error_ms = 300;
    // The default reserve (room for the largest output that fits) would make these
    // tests depend on the free space of the machine's /tmp.
    c.limits.min_free_mb = Some(1);
    c
}

/// Deterministic noise: images that do not compress, so their outputs are
/// as large as a real scan's for their size.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Writes a gray noise PNG of the given size.
pub fn write_noise_png(path: &Path, w: u32, h: u32, seed: u64) {
    let img = image::GrayImage::from_raw(w, h, noise((w * h) as usize, seed)).unwrap();
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}
