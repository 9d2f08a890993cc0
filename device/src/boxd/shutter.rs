//! The shutter thread: samples the GPIO button, debounces it and, on a
//! press, captures one full-resolution frame into a preallocated slot for
//! the colourizer (see the module above for the queues).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::config;
use super::monitor::{LineState, Shared};
use super::{log, now_ms, CameraOpener};
use crate::camera::FrameSource;
use crate::gpio::{Debouncer, InputLine};

/// One captured frame in flight.
pub(super) struct Slot {
    pub l: Vec<u16>,
    pub width: usize,
    pub height: usize,
    pub sequence: u32,
}

/// What the shutter thread shares with the main thread.
pub(super) struct ShutterFlags<'a> {
    /// Counts capture failures and refused presses (the LED's error blink).
    pub errors: &'a AtomicU32,
    pub stop: &'a AtomicBool,
    pub halt: &'a AtomicBool,
    /// The output disk is below its reserve: refuse presses.
    pub disk_low: &'a AtomicBool,
    /// The page's view of the camera and the button, and its last error.
    pub shared: &'a Shared,
}

pub(super) fn shutter_loop(
    mut opener: CameraOpener,
    mut button: Box<dyn InputLine>,
    cfg: &config::ButtonConfig,
    mut free: heapless::spsc::Consumer<'_, Slot>,
    mut filled: heapless::spsc::Producer<'_, Slot>,
    flags: ShutterFlags<'_>,
) {
    let ShutterFlags {
        errors,
        stop,
        halt,
        disk_low,
        shared,
    } = flags;
    let line = |l: &AtomicU8, s: LineState| l.store(s as u8, Ordering::Relaxed);
    line(&shared.button, LineState::Ready);
    line(&shared.camera, LineState::Ready);
    let start = Instant::now();
    let mut debounce = Debouncer::new(cfg.debounce_ms);
    let mut camera: Option<Box<dyn FrameSource + Send>> = None;
    let mut button_warned = false;
    // A slot whose capture failed stays here for the next press: this end of
    // the free queue can only take, not give back.
    let mut spare: Option<Slot> = None;
    let fail = |msg: std::fmt::Arguments<'_>| {
        let msg = msg.to_string();
        log(format_args!("{msg}"));
        shared.error(&msg, false);
        errors.fetch_add(1, Ordering::SeqCst);
    };
    while !stop.load(Ordering::SeqCst) && !halt.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(cfg.poll_ms));
        let level = match button.is_active() {
            Ok(v) => {
                if button_warned {
                    line(&shared.button, LineState::Ready);
                }
                button_warned = false;
                v
            }
            Err(e) => {
                if !button_warned {
                    fail(format_args!("button: {e}"));
                    line(&shared.button, LineState::Failing);
                    button_warned = true;
                }
                false
            }
        };
        if !debounce.update(level, now_ms(start)) {
            continue;
        }
        if disk_low.load(Ordering::SeqCst) {
            fail(format_args!(
                "press refused: the output disk is under its free-space reserve"
            ));
            continue;
        }
        let Some(mut slot) = spare.take().or_else(|| free.dequeue()) else {
            fail(format_args!(
                "press ignored: every frame slot is waiting for the colourizer"
            ));
            continue;
        };
        if camera.is_none() {
            match opener() {
                Ok(c) => camera = Some(c),
                Err(e) => {
                    fail(format_args!("cannot open the camera: {e:#}"));
                    line(&shared.camera, LineState::Failing);
                    spare = Some(slot);
                    continue;
                }
            }
        }
        let cam = camera.as_mut().expect("opened above");
        let (w, h) = cam.size();
        if slot.l.len() != w * h {
            // First use of this slot (or the camera renegotiated): the one
            // allocation a slot ever makes.
            slot.l = vec![0; w * h];
        }
        // A corrupt frame is worth retrying at once; the press still counts.
        let mut res = cam.capture_l(&mut slot.l);
        for _ in 0..3 {
            match &res {
                Err(e) if e.is_transient() => res = cam.capture_l(&mut slot.l),
                _ => break,
            }
        }
        match res {
            Ok(info) => {
                line(&shared.camera, LineState::Ready);
                slot.width = info.width;
                slot.height = info.height;
                slot.sequence = info.sequence;
                if let Err(slot) = filled.enqueue(slot) {
                    // Cannot happen (as many queue places as slots); keep the
                    // buffer rather than drop it.
                    spare = Some(slot);
                }
            }
            Err(e) => {
                fail(format_args!("capture failed: {e}"));
                line(&shared.camera, LineState::Failing);
                if !e.is_transient() {
                    camera = None; // reopen at the next press
                }
                spare = Some(slot);
            }
        }
    }
}
