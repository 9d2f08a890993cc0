//! `box.toml`: the scanner box's configuration.
//!
//! Every key has a default, so an empty file is a valid config (inbox only,
//! no camera, no GPIO). Unknown keys are errors: a typo must not silently
//! fall back to a default. `colorize box --check-config` prints the
//! effective config, defaults filled in. `deploy/box.toml` lists every key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::camera::PixelFormat;
use colorize_io::images::DecodeLimits;

/// Most frames that can wait between the capture thread and the colourizer;
/// the queues are `heapless` with this fixed capacity.
pub const MAX_FRAME_SLOTS: usize = 8;

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BoxConfig {
    pub model: ModelConfig,
    pub output: OutputConfig,
    pub inbox: InboxConfig,
    /// Caps on the inbox images' size, checked before decoding, and the
    /// free space the output disk must keep (see `docs/robustness.md`).
    pub limits: LimitsConfig,
    pub camera: CameraConfig,
    pub button: ButtonConfig,
    pub led: LedConfig,
    pub web: WebConfig,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// The ONNX colourization model. Unset (the default): the model built
    /// into the `colorize` binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Vividness 0..1 of a distribution-head model (0: faithful, 1: vivid),
    /// as `colorize files --vividness`. Unset: the model card's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vividness: Option<f32>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Where colourized PNGs are written (atomically: temp file, fsync,
    /// rename, fsync of the directory). Default: `/var/lib/colorize/out`.
    pub dir: PathBuf,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: "/var/lib/colorize/out".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InboxConfig {
    /// Watch the inbox at all. Default: true.
    pub enabled: bool,
    /// The folder a scanner (or a person) drops images into.
    /// Default: `/var/lib/colorize/inbox`.
    pub dir: PathBuf,
    /// Where an input moves once its output is durably written. Relative
    /// paths are inside `dir`. Default: `done`.
    pub done_dir: PathBuf,
    /// Where an input that cannot be decoded moves (it is never deleted).
    /// Relative paths are inside `dir`. Default: `failed`.
    pub failed_dir: PathBuf,
    /// How often the folder is listed, in milliseconds. A file is only taken
    /// once its size and mtime held still over two listings, so a scanner
    /// still writing it is left alone. Default: 1000.
    pub poll_ms: u64,
}

impl Default for InboxConfig {
    fn default() -> Self {
        InboxConfig {
            enabled: true,
            dir: "/var/lib/colorize/inbox".into(),
            done_dir: "done".into(),
            failed_dir: "failed".into(),
            poll_ms: 1000,
        }
    }
}

impl InboxConfig {
    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// `done_dir`, resolved against `dir`.
    pub fn done_path(&self) -> PathBuf {
        self.resolve(&self.done_dir)
    }

    /// `failed_dir`, resolved against `dir`.
    pub fn failed_path(&self) -> PathBuf {
        self.resolve(&self.failed_dir)
    }
}

/// `[limits]`: the decoder's caps (as `colorize files`' flags) and the
/// output disk's reserve. The decoder's keys are repeated here rather than
/// flattened in: serde cannot refuse unknown keys through a flatten.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Widest image accepted, in pixels. Default 65535.
    pub max_width: u32,
    /// Tallest image accepted, in pixels. Default 65535.
    pub max_height: u32,
    /// Most pixels (width x height) accepted. Default 1,000,000,000: a
    /// bomb guard; what fits is the memory budget's decision.
    pub max_pixels: u64,
    /// Most bytes the decoder may allocate. Default 8 GiB.
    pub max_decoded_bytes: u64,
    /// Memory the box may use in all, in MiB, as `colorize files
    /// --memory`: a scan whose estimated need does not fit beside the
    /// camera's frames is refused (moved to the failed folder, the journal
    /// saying why). Unset: the cgroup's limit (systemd's `MemoryMax=`), else
    /// the memory available at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Below this much free space (MiB, 1,048,576 bytes) on the output
    /// folder's file system the box takes no new inbox file and refuses the
    /// shutter, until space returns. Unset: room for the largest output the
    /// limits above and the memory budget allow
    /// ([`LimitsConfig::largest_output_bytes`]): 3 bytes a pixel of the
    /// largest scan that fits, about the budget itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_free_mb: Option<u64>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let d = DecodeLimits::DEFAULT;
        LimitsConfig {
            max_width: d.max_width,
            max_height: d.max_height,
            max_pixels: d.max_pixels,
            max_decoded_bytes: d.max_decoded_bytes,
            memory_mb: None,
            min_free_mb: None,
        }
    }
}

impl BoxConfig {
    /// Memory the camera's frames may hold while a scan is colourized:
    /// each waiting slot's L* plane and the driver's capture buffers (up to
    /// four), 2 bytes a pixel each at the requested size. 0 without a
    /// camera.
    pub fn camera_frame_bytes(&self) -> u64 {
        if !self.camera.enabled {
            return 0;
        }
        let frame = 2 * self.camera.width as u64 * self.camera.height as u64;
        (self.camera.frame_slots as u64 + 4) * frame
    }
}

impl LimitsConfig {
    /// The decoder's part.
    pub fn decode(&self) -> DecodeLimits {
        DecodeLimits {
            max_width: self.max_width,
            max_height: self.max_height,
            max_pixels: self.max_pixels,
            max_decoded_bytes: self.max_decoded_bytes,
        }
    }

    /// The most bytes one output can take: the box writes 8-bit RGB PNG, so
    /// 3 bytes a pixel for the largest image the limits let in and a
    /// memory budget of `budget` bytes can hold (an 8-bit gray scan, the
    /// cheapest, needs 3 bytes a pixel: its pixels and its L* plane);
    /// stored deflate blocks add 5 bytes per 64 KiB when nothing
    /// compresses, each row one filter byte; plus 4 MiB for the metadata
    /// carried over.
    pub fn largest_output_bytes(&self, budget: u64) -> u64 {
        let max_pixels = self.max_pixels.min(budget / 3);
        let side = |max: u32| (max as u64).min(max_pixels);
        let pixels = max_pixels.min(side(self.max_width) * side(self.max_height));
        let raw = pixels.saturating_mul(3);
        raw.saturating_add(raw / 65_535 * 5 + side(self.max_height))
            .saturating_add(4 << 20)
    }

    /// The free space the output disk must keep, in bytes, for scans
    /// within a memory budget of `budget` bytes.
    pub fn min_free_bytes(&self, budget: u64) -> u64 {
        match self.min_free_mb {
            Some(mb) => mb.saturating_mul(1 << 20),
            None => self.largest_output_bytes(budget).div_ceil(1 << 20) << 20,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// Capture a frame when the button is pressed. Needs `[button]` too.
    /// Default: false.
    pub enabled: bool,
    /// Default: `/dev/video0`.
    pub device: PathBuf,
    /// Requested size; the driver may pick the nearest it supports.
    /// Default: 1280 x 720.
    pub width: u32,
    pub height: u32,
    /// `yuyv`, `grey` or `mjpeg`. Default: `yuyv`.
    pub format: String,
    /// MMAP buffers. Default: 4.
    pub buffers: u32,
    /// Frames captured but not yet colourized, at most; a press while all
    /// are taken is refused (error blink). 1..=8. Default: 2.
    pub frame_slots: usize,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            enabled: false,
            device: "/dev/video0".into(),
            width: 1280,
            height: 720,
            format: "yuyv".into(),
            buffers: 4,
            frame_slots: 2,
        }
    }
}

impl CameraConfig {
    pub fn pixel_format(&self) -> Result<PixelFormat> {
        self.format
            .parse()
            .map_err(|e: String| anyhow::anyhow!("[camera] format: {e}"))
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ButtonConfig {
    /// Default: false.
    pub enabled: bool,
    /// GPIO character device. Default: `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Line offset on that chip (on a Raspberry Pi, the BCM number).
    /// Default: 17.
    pub line: u32,
    /// The button pulls the line to ground when pressed. Default: true.
    pub active_low: bool,
    /// A press counts once the line held for this long. Default: 30.
    pub debounce_ms: u64,
    /// Sampling period. Default: 5.
    pub poll_ms: u64,
}

impl Default for ButtonConfig {
    fn default() -> Self {
        ButtonConfig {
            enabled: false,
            chip: "/dev/gpiochip0".into(),
            line: 17,
            active_low: true,
            debounce_ms: 30,
            poll_ms: 5,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LedConfig {
    /// Default: false.
    pub enabled: bool,
    /// Default: `/dev/gpiochip0`.
    pub chip: PathBuf,
    /// Default: 27.
    pub line: u32,
    /// Default: false.
    pub active_low: bool,
    /// Idle: a short blink every this many ms (0: dark when idle). Busy is
    /// steady on. Default: 2000.
    pub heartbeat_ms: u64,
    /// Error: fast blink (100 ms on/off) for this long after a failure.
    /// Default: 5000.
    pub error_ms: u64,
}

impl Default for LedConfig {
    fn default() -> Self {
        LedConfig {
            enabled: false,
            chip: "/dev/gpiochip0".into(),
            line: 27,
            active_low: false,
            heartbeat_ms: 2000,
            error_ms: 5000,
        }
    }
}

/// `[web]`: the status page for a phone (`docs/deploy.md`, "The web page").
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the page. Default: false.
    pub enabled: bool,
    /// Address and port. Default: `127.0.0.1:8080` (this machine only). Any
    /// other address needs `token`.
    pub bind: String,
    /// The secret a browser logs in with (then kept as a cookie) or a script
    /// sends as `Authorization: Bearer <token>`; at least 16 characters.
    /// Needed when `bind` is not a loopback address. Unset: no login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// How many of the last scans the page shows (their thumbnails are
    /// kept in `<output.dir>/.thumbs`). Default: 24.
    pub recent: usize,
    /// A thumbnail's longer side, in pixels. Default: 240.
    pub thumbnail_px: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: false,
            bind: "127.0.0.1:8080".into(),
            token: None,
            recent: 24,
            thumbnail_px: 240,
        }
    }
}

/// The shortest `[web] token` accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// deploy/box.toml's placeholder, refused as a token.
const EXAMPLE_TOKEN: &str = "use-a-long-random-string-here";

impl WebConfig {
    /// `bind`, parsed.
    pub fn addr(&self) -> Result<core::net::SocketAddr> {
        self.bind.parse().map_err(|e| {
            anyhow::anyhow!(
                "[web] bind = {:?}: {e} (for example 127.0.0.1:8080)",
                self.bind
            )
        })
    }

    fn check(&self, errs: &mut String) {
        if !self.enabled {
            return;
        }
        if !cfg!(feature = "web") {
            let _ = writeln!(
                errs,
                "[web] enabled, but this colorize was built without the `web` feature \
                 (scripts/dist.sh builds it in)"
            );
        }
        match self.addr() {
            Err(e) => {
                let _ = writeln!(errs, "{e}");
            }
            Ok(a) if !a.ip().is_loopback() && self.token.is_none() => {
                let _ = writeln!(
                    errs,
                    "[web] bind = {a} is reachable from other machines: set [web] token \
                     (at least {MIN_TOKEN_LEN} characters) or bind 127.0.0.1"
                );
            }
            Ok(_) => {}
        }
        if let Some(t) = &self.token {
            let bad = |c: char| c.is_whitespace() || c.is_control() || c == ';' || c == ',';
            if t == EXAMPLE_TOKEN {
                let _ = writeln!(
                    errs,
                    "[web] token is the example's: choose your own (e.g. `openssl rand -hex 16`)"
                );
            }
            if t.chars().count() < MIN_TOKEN_LEN || t.chars().any(bad) {
                let _ = writeln!(
                    errs,
                    "[web] token must be at least {MIN_TOKEN_LEN} characters, without spaces, `;` or `,`"
                );
            }
        }
        if !(1..=200).contains(&self.recent) {
            let _ = writeln!(errs, "[web] recent must be 1..=200");
        }
        if !(32..=1024).contains(&self.thumbnail_px) {
            let _ = writeln!(errs, "[web] thumbnail_px must be 32..=1024");
        }
    }
}

impl BoxConfig {
    /// Parses and validates a TOML document.
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg: BoxConfig = toml::from_str(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Checks what serde cannot: ranges and combinations.
    pub fn validate(&self) -> Result<()> {
        let mut errs = String::new();
        if self.camera.enabled {
            if let Err(e) = self.camera.pixel_format() {
                let _ = writeln!(errs, "{e}");
            }
            if !self.button.enabled {
                let _ = writeln!(
                    errs,
                    "[camera] enabled needs [button] enabled: the button is the shutter"
                );
            }
            if self.camera.width == 0 || self.camera.height == 0 {
                let _ = writeln!(errs, "[camera] width and height must be positive");
            }
            if !(1..=MAX_FRAME_SLOTS).contains(&self.camera.frame_slots) {
                let _ = writeln!(errs, "[camera] frame_slots must be 1..={MAX_FRAME_SLOTS}");
            }
        }
        if self.button.enabled && !self.camera.enabled {
            let _ = writeln!(
                errs,
                "[button] enabled needs [camera] enabled: a press captures a frame"
            );
        }
        if self.button.poll_ms == 0 || self.inbox.poll_ms == 0 {
            let _ = writeln!(errs, "poll_ms must be positive");
        }
        if !self.inbox.enabled && !self.camera.enabled {
            let _ = writeln!(errs, "nothing to do: enable [inbox] or [camera]");
        }
        if self.inbox.enabled {
            let dirs = [
                ("output.dir", self.output.dir.clone()),
                ("inbox.done_dir", self.inbox.done_path()),
                ("inbox.failed_dir", self.inbox.failed_path()),
            ];
            for (name, d) in &dirs {
                if *d == self.inbox.dir {
                    let _ = writeln!(
                        errs,
                        "{name} must differ from inbox.dir (outputs would be re-read as inputs)"
                    );
                }
            }
        }
        if self.button.enabled
            && self.led.enabled
            && self.button.chip == self.led.chip
            && self.button.line == self.led.line
        {
            let _ = writeln!(errs, "[button] and [led] use the same GPIO line");
        }
        if let Some(v) = self.model.vividness {
            if !(0.0..=1.0).contains(&v) {
                let _ = writeln!(errs, "[model] vividness must be between 0 and 1, got {v}");
            }
        }
        self.web.check(&mut errs);
        if !errs.is_empty() {
            bail!("{}", errs.trim_end());
        }
        Ok(())
    }

    /// The effective config as TOML, every default spelled out.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        if self.model.path.is_none() {
            s.push_str("# [model] path is unset: the model built into colorize is used.\n");
        }
        if self.limits.min_free_mb.is_none() {
            s.push_str("# [limits] min_free_mb is unset: room for the largest output the limits and the memory budget allow.\n");
        }
        // The secret stays in the file: --check-config's output goes to
        // terminals and logs.
        let mut shown = self.clone();
        if let Some(t) = &mut shown.web.token {
            *t = "(set, not shown)".into();
        }
        s.push_str(&toml::to_string_pretty(&shown).expect("a config always serialises"));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults() {
        let c = BoxConfig::from_toml("").unwrap();
        assert_eq!(c, BoxConfig::default());
        assert_eq!(
            c.inbox.done_path(),
            PathBuf::from("/var/lib/colorize/inbox/done")
        );
    }

    #[test]
    fn round_trips_through_its_own_output() {
        let c = BoxConfig::from_toml(
            "[camera]\nenabled = true\nwidth = 320\n[button]\nenabled = true\nline = 5\n",
        )
        .unwrap();
        assert_eq!(c.camera.width, 320);
        assert_eq!(BoxConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn rejects_typos_and_bad_combinations() {
        let e = BoxConfig::from_toml("[inbox]\npol_ms = 5\n").unwrap_err();
        assert!(format!("{e:#}").contains("pol_ms"), "{e:#}");
        let e = BoxConfig::from_toml("[camera]\nenabled = true\nformat = \"rgb\"\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("unknown pixel format") && msg.contains("[button]"),
            "{msg}"
        );
        let e = BoxConfig::from_toml("[output]\ndir = \"/var/lib/colorize/inbox\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("output.dir"));
        let e = BoxConfig::from_toml("[model]\nvividness = 1.5\n").unwrap_err();
        assert!(format!("{e:#}").contains("vividness"), "{e:#}");
    }

    #[test]
    fn min_free_defaults_to_the_largest_output_the_limits_allow() {
        let c = BoxConfig::from_toml("").unwrap();
        assert_eq!(c.limits.decode(), DecodeLimits::DEFAULT);
        // A 300 MB budget holds 100 Mpixel of 8-bit gray: 100 Mpixel of
        // 8-bit RGB out, stored deflate, row bytes, 4 MiB metadata.
        assert_eq!(c.limits.min_free_bytes(300_000_000), 291 << 20);
        assert!(c
            .to_toml()
            .contains("min_free_mb is unset: room for the largest output"));
        // Without a budget, the pixel cap (1 Gpixel) decides.
        assert_eq!(c.limits.min_free_bytes(u64::MAX), 2866 << 20);
        let c = BoxConfig::from_toml("[limits]\nmax_pixels = 1000000\n").unwrap();
        assert_eq!(c.limits.min_free_bytes(u64::MAX), 7 << 20);
        let c = BoxConfig::from_toml("[limits]\nmin_free_mb = 0\nmemory_mb = 512\n").unwrap();
        assert_eq!(c.limits.min_free_bytes(300_000_000), 0);
        assert_eq!(c.limits.memory_mb, Some(512));
        assert_eq!(BoxConfig::from_toml(&c.to_toml()).unwrap(), c);
        let e = BoxConfig::from_toml("[limits]\nmin_free_gb = 1\n").unwrap_err();
        assert!(format!("{e:#}").contains("min_free_gb"), "{e:#}");
    }

    #[test]
    fn vividness_is_read_and_written() {
        let c = BoxConfig::from_toml("[model]\nvividness = 0.4\n").unwrap();
        assert_eq!(c.model.vividness, Some(0.4));
        assert_eq!(BoxConfig::from_toml(&c.to_toml()).unwrap(), c);
        assert_eq!(BoxConfig::from_toml("").unwrap().model.vividness, None);
    }
}
