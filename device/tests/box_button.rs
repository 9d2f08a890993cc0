//! Button press -> one frame captured -> colourized result written, with
//! the LED busy while working and dark again once the file is durable.

mod box_common;
use box_common::*;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use colorize_device::boxd::{self, Hardware, RunMode};
use colorize_device::camera::{FakeSource, FrameSource};
use colorize_device::gpio::FakeLine;

#[test]
fn bouncy_press_captures_one_frame_and_led_shows_busy_then_idle() {
    let d = dirs();
    let mut cfg = config(&d);
    cfg.inbox.enabled = false;
    cfg.camera.enabled = true;
    cfg.button.enabled = true;
    cfg.led.enabled = true;
    cfg.validate().unwrap();

    let button = FakeLine::new();
    let led = FakeLine::new();
    // What the LED showed while the colourizer ran, and whether the result
    // already existed then (it must not: LED busy covers the whole job).
    let seen: Arc<Mutex<Vec<(bool, usize)>>> = Arc::default();
    let (led2, seen2, out2) = (led.clone(), seen.clone(), d.out.clone());
    let mut colorizer = TintColorizer::new(move |_| {
        seen2
            .lock()
            .unwrap()
            .push((led2.level(), files(&out2).len()))
    });
    let opens = Arc::new(Mutex::new(0));
    let opens2 = opens.clone();
    let hw = Hardware {
        camera: Some(Box::new(move || {
            *opens2.lock().unwrap() += 1;
            Ok(Box::new(FakeSource::gradient(48, 32, 5)) as Box<dyn FrameSource + Send>)
        })),
        button: Some(Box::new(button.input())),
        led: Some(Box::new(led.output())),
    };
    let stop = AtomicBool::new(false);

    std::thread::scope(|s| {
        let daemon = s.spawn(|| boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever));
        std::thread::sleep(Duration::from_millis(50));
        // Contact bounce, each level shorter than the 20 ms debounce...
        for lvl in [true, false, true, false, true, false] {
            button.set(lvl);
            std::thread::sleep(Duration::from_millis(3));
        }
        // ...then a real press, held, and released.
        button.set(true);
        std::thread::sleep(Duration::from_millis(150));
        button.set(false);
        let written = wait_for(Duration::from_secs(20), || files(&d.out).len() == 1);
        // Let the LED settle back to idle after the write.
        wait_for(Duration::from_secs(5), || !led.level());
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::SeqCst);
        let summary = daemon.join().unwrap().unwrap();
        assert!(written, "no result after the press");
        assert_eq!(summary.frames_done, 1, "{summary:?}");
        assert_eq!(summary.capture_errors, 0, "{summary:?}");
    });

    let out = files(&d.out);
    assert_eq!(
        out.len(),
        1,
        "exactly one capture for one bouncy press: {out:?}"
    );
    assert!(
        out[0].starts_with("capture-") && out[0].ends_with(".png"),
        "{out:?}"
    );
    assert_colour_png(&d.out.join(&out[0]), 48, 32);
    assert_eq!(
        *opens.lock().unwrap(),
        1,
        "camera opened once, at the first press"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![(true, 0)],
        "LED must be on (busy) while colourizing, before the result exists"
    );
    // Dark at start (idle), on while busy, dark again once written; off at exit.
    assert_eq!(led.transitions(), vec![false, true, false]);
}

#[test]
fn press_with_broken_camera_blinks_error_and_keeps_running() {
    let d = dirs();
    let mut cfg = config(&d);
    cfg.inbox.enabled = false;
    cfg.camera.enabled = true;
    cfg.button.enabled = true;
    cfg.led.enabled = true;
    let button = FakeLine::new();
    let led = FakeLine::new();
    let mut colorizer = tint();
    let hw = Hardware {
        camera: Some(Box::new(|| anyhow::bail!("/dev/video0: no such device"))),
        button: Some(Box::new(button.input())),
        led: Some(Box::new(led.output())),
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let daemon = s.spawn(|| boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever));
        std::thread::sleep(Duration::from_millis(30));
        button.set(true);
        let blinked = wait_for(Duration::from_secs(10), || led.transitions().len() >= 4);
        button.set(false);
        stop.store(true, Ordering::SeqCst);
        let summary = daemon.join().unwrap().unwrap();
        assert!(blinked, "LED did not blink: {:?}", led.transitions());
        assert!(summary.capture_errors >= 1, "{summary:?}");
        assert_eq!(summary.frames_done, 0);
    });
    assert!(files(&d.out).is_empty());
    // off (idle), then the error blink: on, off, on, ...
    assert_eq!(&led.transitions()[..4], &[false, true, false, true]);
}
