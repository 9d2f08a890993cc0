//! The status LED's patterns.
//!
//! Busy is steady on: the colourizer blocks the loop, so a pattern that
//! needs updating while busy could not be drawn. Idle is dark with a short
//! heartbeat blink (the box is alive). Error is a fast 5 Hz blink for a
//! while after a failure, then back to idle.

use crate::gpio::OutputLine;

const HEARTBEAT_ON_MS: u64 = 60;
const ERROR_HALF_PERIOD_MS: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedState {
    Idle,
    Busy,
    Error,
}

pub struct StatusLed {
    line: Option<Box<dyn OutputLine>>,
    state: LedState,
    error_since: u64,
    heartbeat_ms: u64,
    error_ms: u64,
    level: Option<bool>,
    warned: bool,
}

impl StatusLed {
    pub fn new(line: Option<Box<dyn OutputLine>>, heartbeat_ms: u64, error_ms: u64) -> Self {
        StatusLed {
            line,
            state: LedState::Idle,
            error_since: 0,
            heartbeat_ms,
            error_ms,
            level: None,
            warned: false,
        }
    }

    pub fn state(&self) -> LedState {
        self.state
    }

    /// Switches state and draws it at `now_ms`.
    pub fn set(&mut self, state: LedState, now_ms: u64) {
        if state == LedState::Error {
            self.error_since = now_ms;
        }
        self.state = state;
        self.tick(now_ms);
    }

    /// Keeps the error blink going while a fault lasts (a full disk):
    /// restarts it only once it has run its course, so it keeps blinking.
    pub fn hold_error(&mut self, now_ms: u64) {
        if self.state != LedState::Error {
            self.set(LedState::Error, now_ms);
        }
    }

    /// The level the pattern wants at `now_ms`.
    pub fn level_at(&mut self, now_ms: u64) -> bool {
        match self.state {
            LedState::Busy => true,
            LedState::Error => {
                let t = now_ms.saturating_sub(self.error_since);
                if t >= self.error_ms {
                    self.state = LedState::Idle;
                    return self.level_at(now_ms);
                }
                (t / ERROR_HALF_PERIOD_MS) % 2 == 0
            }
            LedState::Idle => self.heartbeat_ms > 0 && now_ms % self.heartbeat_ms < HEARTBEAT_ON_MS,
        }
    }

    /// Redraws; call often while idle or in error. Only level changes reach
    /// the GPIO line. A broken LED never stops the box: it is reported once.
    pub fn tick(&mut self, now_ms: u64) {
        let level = self.level_at(now_ms);
        if self.level == Some(level) {
            return;
        }
        self.level = Some(level);
        if let Some(line) = &mut self.line {
            if let Err(e) = line.set_active(level) {
                if !self.warned {
                    eprintln!("colorize box: status LED: {e} (continuing without it)");
                    self.warned = true;
                }
            }
        }
    }

    /// Dark, for shutdown.
    pub fn off(&mut self) {
        if let Some(line) = &mut self.line {
            let _ = line.set_active(false);
        }
        self.level = Some(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpio::FakeLine;

    #[test]
    fn patterns() {
        let line = FakeLine::new();
        let mut led = StatusLed::new(Some(Box::new(line.output())), 1000, 500);
        led.set(LedState::Idle, 10);
        assert_eq!(
            line.transitions(),
            vec![true],
            "heartbeat blink at the top of the period"
        );
        led.tick(100);
        led.set(LedState::Busy, 200);
        led.tick(300);
        assert_eq!(line.transitions(), vec![true, false, true]);
        led.set(LedState::Error, 1000);
        for t in (1000..1600).step_by(50) {
            led.tick(t);
        }
        // 5 half-periods of blinking, then idle (dark at t=1550).
        assert_eq!(
            line.transitions(),
            vec![true, false, true, false, true, false, true, false]
        );
        assert_eq!(led.state(), LedState::Idle);
    }
}
