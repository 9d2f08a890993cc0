//! SIGTERM while a scan is being colourized: the scan in flight is finished
//! and durable, nothing else is started, nothing is half-written, no input
//! is lost. Its own test binary: the signal handler is process-wide.

mod box_common;
use box_common::*;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use colorize_device::boxd::{self, Hardware, RunMode};

#[test]
fn sigterm_during_processing_is_graceful() {
    let d = dirs();
    let cfg = config(&d);
    let names = ["s1.png", "s2.png", "s3.png"];
    for n in names {
        write_gray_png(&d.inbox.join(n), 24, 16);
    }
    let originals: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(d.inbox.join(n)).unwrap())
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone()).unwrap();
    // The signal lands in the middle of the first colourization.
    let mut colorizer = TintColorizer::new(|n| {
        if n == 1 {
            signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let hw = Hardware {
        camera: None,
        button: None,
        led: None,
    };
    let t = Instant::now();
    let summary = boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "did not stop promptly"
    );
    assert_eq!(colorizer.calls, 1, "no new work after SIGTERM");
    assert_eq!(summary.files_done, 1, "{summary:?}");

    // The one in flight is complete and its input is in done/, unchanged.
    assert_eq!(files(&d.out), vec!["s1.png"], "no temp or partial files");
    assert_colour_png(&d.out.join("s1.png"), 24, 16);
    assert_eq!(
        std::fs::read(d.inbox.join("done/s1.png")).unwrap(),
        originals[0]
    );
    // The others were never touched.
    assert_eq!(files(&d.inbox), vec!["s2.png", "s3.png"]);
    for (n, orig) in names.iter().zip(&originals).skip(1) {
        assert_eq!(&std::fs::read(d.inbox.join(n)).unwrap(), orig);
    }
}
