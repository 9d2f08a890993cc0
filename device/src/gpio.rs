//! GPIO lines for the scanner box: one button in, one status LED out.
//!
//! The daemon only sees the two small traits below, so tests drive it with
//! [`FakeInput`] / [`FakeOutput`] and the board uses [`CdevInput`] /
//! [`CdevOutput`] (the Linux GPIO character device through
//! linux-embedded-hal's `CdevPin`). Levels are *logical*: `true` means
//! "pressed" / "lit", whatever the wiring; active-low lines are inverted by
//! the kernel when the line is requested.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A digital input (the button).
pub trait InputLine: Send {
    /// `true` while the line is logically active (button held).
    fn is_active(&mut self) -> io::Result<bool>;
}

/// A digital output (the LED).
pub trait OutputLine: Send {
    fn set_active(&mut self, on: bool) -> io::Result<()>;
}

impl<T: InputLine + ?Sized> InputLine for Box<T> {
    fn is_active(&mut self) -> io::Result<bool> {
        (**self).is_active()
    }
}

impl<T: OutputLine + ?Sized> OutputLine for Box<T> {
    fn set_active(&mut self, on: bool) -> io::Result<()> {
        (**self).set_active(on)
    }
}

/// Turns a bouncing raw level into clean press events: a level change only
/// counts once it has held for `debounce_ms`, and only the released ->
/// pressed edge is reported.
#[derive(Clone, Debug)]
pub struct Debouncer {
    debounce_ms: u64,
    stable: bool,
    candidate: bool,
    since_ms: u64,
}

impl Debouncer {
    pub fn new(debounce_ms: u64) -> Self {
        Debouncer {
            debounce_ms,
            stable: false,
            candidate: false,
            since_ms: 0,
        }
    }

    /// Feeds one sample taken at `now_ms`; returns `true` exactly once per
    /// debounced press.
    pub fn update(&mut self, level: bool, now_ms: u64) -> bool {
        if level != self.candidate {
            self.candidate = level;
            self.since_ms = now_ms;
        }
        if self.candidate != self.stable && now_ms.saturating_sub(self.since_ms) >= self.debounce_ms
        {
            self.stable = self.candidate;
            return self.stable;
        }
        false
    }

    /// The debounced level.
    pub fn is_pressed(&self) -> bool {
        self.stable
    }
}

/// Shared, scriptable state behind a fake line; clone it to keep a handle in
/// the test while the daemon owns the line.
#[derive(Clone, Default)]
pub struct FakeLine(Arc<Mutex<FakeState>>);

#[derive(Default)]
struct FakeState {
    level: bool,
    history: Vec<(Instant, bool)>,
    fail: bool,
}

impl FakeLine {
    pub fn new() -> Self {
        FakeLine::default()
    }

    /// Sets what the input reads from now on.
    pub fn set(&self, level: bool) {
        self.0.lock().unwrap().level = level;
    }

    /// Makes every access fail (a line that was released or a chip that went away).
    pub fn set_failing(&self, fail: bool) {
        self.0.lock().unwrap().fail = fail;
    }

    pub fn level(&self) -> bool {
        self.0.lock().unwrap().level
    }

    /// Every level written to an output, in order, with when.
    pub fn history(&self) -> Vec<(Instant, bool)> {
        self.0.lock().unwrap().history.clone()
    }

    /// The written levels with repeats collapsed: the visible blink pattern.
    pub fn transitions(&self) -> Vec<bool> {
        let mut out: Vec<bool> = Vec::new();
        for (_, v) in self.0.lock().unwrap().history.iter() {
            if out.last() != Some(v) {
                out.push(*v);
            }
        }
        out
    }

    pub fn input(&self) -> FakeInput {
        FakeInput(self.clone())
    }

    pub fn output(&self) -> FakeOutput {
        FakeOutput(self.clone())
    }
}

pub struct FakeInput(FakeLine);
pub struct FakeOutput(FakeLine);

fn fake_err() -> io::Error {
    io::Error::other("fake GPIO line failure")
}

impl InputLine for FakeInput {
    fn is_active(&mut self) -> io::Result<bool> {
        let s = self.0 .0.lock().unwrap();
        if s.fail {
            return Err(fake_err());
        }
        Ok(s.level)
    }
}

impl OutputLine for FakeOutput {
    fn set_active(&mut self, on: bool) -> io::Result<()> {
        let mut s = self.0 .0.lock().unwrap();
        if s.fail {
            return Err(fake_err());
        }
        s.level = on;
        s.history.push((Instant::now(), on));
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod cdev {
    use super::{InputLine, OutputLine};
    use embedded_hal::digital::{InputPin, OutputPin};
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    use linux_embedded_hal::CdevPin;
    use std::io;
    use std::path::Path;

    const CONSUMER: &str = "colorize-box";

    fn gpio_err(what: String, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("{what}: {e}"))
    }

    fn request(
        chip: &Path,
        line: u32,
        mut flags: LineRequestFlags,
        active_low: bool,
    ) -> io::Result<CdevPin> {
        let what = format!("GPIO {} line {line}", chip.display());
        if active_low {
            flags |= LineRequestFlags::ACTIVE_LOW;
        }
        let mut chip = Chip::new(chip).map_err(|e| gpio_err(what.clone(), e))?;
        let handle = chip
            .get_line(line)
            .and_then(|l| l.request(flags, 0, CONSUMER))
            .map_err(|e| gpio_err(what.clone(), e))?;
        CdevPin::new(handle).map_err(|e| gpio_err(what, e))
    }

    /// A button on a GPIO character device line.
    pub struct CdevInput(CdevPin);

    impl CdevInput {
        pub fn open(chip: &Path, line: u32, active_low: bool) -> io::Result<Self> {
            request(chip, line, LineRequestFlags::INPUT, active_low).map(CdevInput)
        }
    }

    impl InputLine for CdevInput {
        fn is_active(&mut self) -> io::Result<bool> {
            self.0
                .is_high()
                .map_err(|e| gpio_err("reading the button".into(), e))
        }
    }

    /// An LED on a GPIO character device line.
    pub struct CdevOutput(CdevPin);

    impl CdevOutput {
        pub fn open(chip: &Path, line: u32, active_low: bool) -> io::Result<Self> {
            request(chip, line, LineRequestFlags::OUTPUT, active_low).map(CdevOutput)
        }
    }

    impl OutputLine for CdevOutput {
        fn set_active(&mut self, on: bool) -> io::Result<()> {
            if on {
                self.0.set_high()
            } else {
                self.0.set_low()
            }
            .map_err(|e| gpio_err("driving the LED".into(), e))
        }
    }
}

#[cfg(target_os = "linux")]
pub use cdev::{CdevInput, CdevOutput};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debouncer_ignores_bounces_and_reports_one_press() {
        let mut d = Debouncer::new(20);
        // Contact bounce: on/off flicker shorter than 20 ms.
        let samples = [(true, 0), (false, 5), (true, 8), (false, 12), (true, 15)];
        for (lvl, t) in samples {
            assert!(!d.update(lvl, t), "bounce at {t} ms counted as a press");
        }
        assert!(!d.update(true, 30), "held only 15 ms");
        assert!(d.update(true, 35), "held 20 ms: a press");
        assert!(!d.update(true, 100), "holding is not a second press");
        assert!(!d.update(false, 110));
        assert!(!d.update(false, 131), "release is never a press");
        assert!(!d.is_pressed());
        assert!(!d.update(true, 140));
        assert!(d.update(true, 160), "second press");
    }

    #[test]
    fn fake_lines_record_and_fail() {
        let line = FakeLine::new();
        let mut out = line.output();
        out.set_active(true).unwrap();
        out.set_active(true).unwrap();
        out.set_active(false).unwrap();
        assert_eq!(line.transitions(), vec![true, false]);
        let mut input = line.input();
        line.set(true);
        assert!(input.is_active().unwrap());
        line.set_failing(true);
        assert!(input.is_active().is_err());
    }
}
