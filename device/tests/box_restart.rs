//! Crash in the middle of a batch, then restart: whatever was left in the
//! inbox is finished, nothing is lost, nothing is half-written.

mod box_common;
use box_common::*;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;

use colorize_device::boxd::{self, Hardware, RunMode};

fn no_hw() -> Hardware {
    Hardware {
        camera: None,
        button: None,
        led: None,
    }
}

#[test]
fn crash_then_restart_finishes_pending_inputs() {
    let d = dirs();
    let cfg = config(&d);
    for (name, w, h) in [("a.png", 40, 30), ("b.png", 33, 17), ("c.png", 20, 20)] {
        write_gray_png(&d.inbox.join(name), w, h);
    }
    let b_bytes = std::fs::read(d.inbox.join("b.png")).unwrap();
    std::fs::write(d.inbox.join("d.png.part"), b"still being scanned").unwrap();
    let stop = AtomicBool::new(false);

    // First run dies (a panic stands in for a kill or power cut) while
    // colourizing the second file.
    let mut crashing = TintColorizer::new(|n| {
        if n == 2 {
            panic!("simulated crash while colourizing");
        }
    });
    let r = catch_unwind(AssertUnwindSafe(|| {
        boxd::run(&cfg, &mut crashing, no_hw(), &stop, RunMode::UntilIdle)
    }));
    assert!(r.is_err(), "the first run should have crashed");
    // A temp file a crash during the write would leave behind: the writer's
    // pid is in its name (pid_max is at most 2^22, so this one is dead).
    let stale = ".b.png.4194305-0.colorize-tmp";
    std::fs::write(d.out.join(stale), b"half a png").unwrap();

    assert_eq!(files(&d.out), vec![stale, "a.png"]);
    assert_eq!(
        files(&d.inbox.join("done")),
        vec!["a.png"],
        "a was finished before the crash"
    );
    assert_eq!(
        files(&d.inbox),
        vec!["b.png", "c.png", "d.png.part"],
        "b and c are still pending"
    );
    assert_eq!(
        std::fs::read(d.inbox.join("b.png")).unwrap(),
        b_bytes,
        "input untouched"
    );

    // Restart: finishes b and c, removes the stale temp, leaves the .part alone.
    let mut good = tint();
    let summary = boxd::run(&cfg, &mut good, no_hw(), &stop, RunMode::UntilIdle).unwrap();
    assert_eq!(summary.files_done, 2, "{summary:?}");
    assert_eq!(files(&d.out), vec!["a.png", "b.png", "c.png"]);
    assert_colour_png(&d.out.join("a.png"), 40, 30);
    assert_colour_png(&d.out.join("b.png"), 33, 17);
    assert_colour_png(&d.out.join("c.png"), 20, 20);
    assert_eq!(
        files(&d.inbox.join("done")),
        vec!["a.png", "b.png", "c.png"]
    );
    assert_eq!(
        std::fs::read(d.inbox.join("done/b.png")).unwrap(),
        b_bytes,
        "input moved, not changed"
    );
    assert_eq!(files(&d.inbox), vec!["d.png.part"]);
}

#[test]
fn undecodable_input_moves_to_failed_not_deleted() {
    let d = dirs();
    let cfg = config(&d);
    std::fs::write(d.inbox.join("junk.jpg"), b"this is not a jpeg").unwrap();
    write_gray_png(&d.inbox.join("ok.png"), 8, 8);
    let stop = AtomicBool::new(false);
    let summary = boxd::run(&cfg, &mut tint(), no_hw(), &stop, RunMode::UntilIdle).unwrap();
    assert_eq!(
        (summary.files_done, summary.files_failed),
        (1, 1),
        "{summary:?}"
    );
    assert_eq!(files(&d.out), vec!["ok.png"]);
    assert_eq!(
        std::fs::read(d.inbox.join("failed/junk.jpg")).unwrap(),
        b"this is not a jpeg"
    );
    assert!(files(&d.inbox).is_empty());
}
