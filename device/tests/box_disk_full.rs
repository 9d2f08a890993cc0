//! A full output disk stops intake without losing a scan: on a real, small
//! file system (a tmpfs of a few MiB mounted in this test thread's own mount
//! namespace), the box pauses below `[limits] min_free_mb`, refuses the
//! shutter with the LED's error blink, resumes by itself when space returns,
//! and a write that runs out of space midway leaves no partial file and the
//! input in the inbox.
//!
//! Mounting needs CAP_SYS_ADMIN: root (as in CI), or run the tests inside
//! `unshare --map-root-user --mount`.

mod box_common;
use box_common::*;

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use colorize_device::boxd::{self, Hardware, RunMode};
use colorize_device::camera::{FakeFrame, FakeSource, FrameSource, PixelFormat};
use colorize_device::gpio::FakeLine;

const MIB: u64 = 1 << 20;

/// A tmpfs of `size` bytes on `dir`, seen by this thread (and the threads
/// it starts) only; unmounted when dropped.
struct SmallDisk {
    dir: CString,
}

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

impl SmallDisk {
    fn mount(dir: &Path, size: u64) -> SmallDisk {
        // SAFETY: plain syscalls on valid C strings.
        unsafe {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWNS),
                0,
                "cannot enter a private mount namespace ({}): this test needs \
                 CAP_SYS_ADMIN (root, or `unshare --map-root-user --mount cargo test`)",
                std::io::Error::last_os_error()
            );
            // Nothing mounted here may show in the host's namespace.
            let root = c(Path::new("/"));
            assert_eq!(
                libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null()
                ),
                0
            );
        }
        let disk = SmallDisk { dir: c(dir) };
        disk.set_size(size, 0);
        disk
    }

    fn set_size(&self, size: u64, flags: libc::c_ulong) {
        let tmpfs = c(Path::new("tmpfs"));
        let opts = CString::new(format!("size={size}")).unwrap();
        // SAFETY: valid C strings; `opts` is tmpfs's text options.
        let rc = unsafe {
            libc::mount(
                tmpfs.as_ptr(),
                self.dir.as_ptr(),
                tmpfs.as_ptr(),
                flags,
                opts.as_ptr().cast(),
            )
        };
        assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
    }

    /// Gives the file system more room (a remount keeps its files).
    fn grow(&self, size: u64) {
        self.set_size(size, libc::MS_REMOUNT);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // SAFETY: a valid C string.
        unsafe { libc::umount2(self.dir.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Every name in `dir`, temp files (dotfiles) included.
fn everything(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn under_the_reserve_intake_pauses_presses_are_refused_and_space_resumes_both() {
    let d = dirs();
    let disk = SmallDisk::mount(&d.out, 8 * MIB);
    let mut cfg = config(&d);
    cfg.limits.min_free_mb = Some(4);
    cfg.camera.enabled = true;
    cfg.button.enabled = true;
    cfg.led.enabled = true;
    cfg.validate().unwrap();
    // 5 of the 8 MiB taken by something else: 3 MiB free, under the 4 MiB reserve.
    let filler = d.out.join("other-program.bin");
    std::fs::write(&filler, vec![0u8; 5 * MIB as usize]).unwrap();
    for i in 0..3 {
        write_gray_png(&d.inbox.join(format!("scan-{i}.png")), 64, 48);
    }

    let button = FakeLine::new();
    let led = FakeLine::new();
    let hw = Hardware {
        camera: Some(Box::new(|| {
            Ok(Box::new(FakeSource::gradient(48, 32, 0)) as Box<dyn FrameSource + Send>)
        })),
        button: Some(Box::new(button.input())),
        led: Some(Box::new(led.output())),
    };
    let mut colorizer = tint();
    let stop = AtomicBool::new(false);
    let press = || {
        button.set(true);
        std::thread::sleep(Duration::from_millis(80));
        button.set(false);
        std::thread::sleep(Duration::from_millis(40));
    };
    std::thread::scope(|s| {
        let daemon = s.spawn(|| boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever));
        // Several inbox polls (20 ms each) and a press, all while low.
        std::thread::sleep(Duration::from_millis(400));
        press();
        let blinked = wait_for(Duration::from_secs(10), || led.transitions().len() >= 4);
        std::thread::sleep(Duration::from_millis(300));
        let out_while_low = files(&d.out);
        let inbox_while_low = files(&d.inbox);

        std::fs::remove_file(&filler).unwrap();
        let resumed = wait_for(Duration::from_secs(30), || files(&d.out).len() == 3);
        press();
        let captured = wait_for(Duration::from_secs(30), || files(&d.out).len() == 4);
        stop.store(true, Ordering::SeqCst);
        let summary = daemon.join().unwrap().unwrap();

        assert!(blinked, "no error blink: {:?}", led.transitions());
        assert_eq!(
            out_while_low,
            vec!["other-program.bin"],
            "nothing may be written under the reserve"
        );
        assert_eq!(inbox_while_low.len(), 3, "every scan waits in the inbox");
        assert!(resumed, "intake did not resume: {:?}", files(&d.out));
        assert!(captured, "the shutter did not resume: {:?}", files(&d.out));
        assert_eq!(summary.intake_pauses, 1, "said once: {summary:?}");
        assert_eq!(summary.files_done, 3, "{summary:?}");
        assert_eq!(summary.files_failed, 0, "{summary:?}");
        assert_eq!(summary.frames_done, 1, "{summary:?}");
        assert!(
            summary.capture_errors >= 1,
            "the press under the reserve must count as refused: {summary:?}"
        );
    });
    assert!(files(&d.inbox).is_empty());
    assert_eq!(files(&d.inbox.join("done")).len(), 3);
    drop(disk);
}

#[test]
fn running_out_of_space_midway_leaves_no_partial_file_and_the_input_waits() {
    let d = dirs();
    let disk = SmallDisk::mount(&d.out, MIB);
    let mut cfg = config(&d);
    // No reserve: the write itself must hit ENOSPC.
    cfg.limits.min_free_mb = Some(0);
    // 1200x900 of noise: an output PNG of about 3 MiB, into 1 MiB.
    write_noise_png(&d.inbox.join("big.png"), 1200, 900, 7);
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let mut colorizer = TintColorizer::new(move |n| calls2.store(n, Ordering::SeqCst));
    let stop = AtomicBool::new(false);
    let led = FakeLine::new();
    cfg.led.enabled = true;
    let hw = Hardware {
        camera: None,
        button: None,
        led: Some(Box::new(led.output())),
    };
    std::thread::scope(|s| {
        let daemon = s.spawn(|| boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever));
        // The failed write pauses intake, and the LED blinks its error
        // (under qemu-user the encoding alone takes seconds).
        let tried = wait_for(Duration::from_secs(120), || {
            calls.load(Ordering::SeqCst) >= 1 && led.transitions().len() >= 4
        });
        // Several polls after it: no retry while nothing was freed.
        std::thread::sleep(Duration::from_millis(500));
        let out_after_failure = everything(&d.out);
        let inbox_after_failure = files(&d.inbox);
        let failed_dir = d.inbox.join("failed");
        let tries = calls.load(Ordering::SeqCst);

        disk.grow(16 * MIB);
        let written = wait_for(Duration::from_secs(60), || files(&d.out).len() == 1);
        stop.store(true, Ordering::SeqCst);
        let summary = daemon.join().unwrap().unwrap();

        assert!(
            tried,
            "the write did not fail and pause: {:?}",
            led.transitions()
        );
        assert_eq!(
            out_after_failure,
            Vec::<String>::new(),
            "no temp file, no partial output"
        );
        assert_eq!(inbox_after_failure, vec!["big.png"], "the input stays");
        assert!(!failed_dir.exists() || files(&failed_dir).is_empty());
        assert_eq!(tries, 1, "not retried while nothing changed");
        assert!(written, "not written once space returned");
        assert_eq!(summary.files_done, 1, "{summary:?}");
        assert_eq!(summary.files_failed, 0, "{summary:?}");
        assert_eq!(summary.intake_pauses, 1, "{summary:?}");
    });
    assert_colour_png(&d.out.join("big.png"), 1200, 900);
    assert_eq!(files(&d.inbox.join("done")), vec!["big.png"]);
    drop(disk);
}

#[test]
fn a_frame_that_meets_a_full_disk_is_kept_and_written_when_space_returns() {
    let d = dirs();
    let disk = SmallDisk::mount(&d.out, MIB);
    let mut cfg = config(&d);
    cfg.limits.min_free_mb = Some(0);
    cfg.inbox.enabled = false;
    cfg.camera.enabled = true;
    cfg.button.enabled = true;
    cfg.led.enabled = true;
    cfg.validate().unwrap();
    let (w, h) = (1200, 900);
    let button = FakeLine::new();
    let led = FakeLine::new();
    let hw = Hardware {
        camera: Some(Box::new(move || {
            let frame = FakeFrame::Data {
                bytes: noise(w * h, 3),
                bytesused: w * h,
            };
            Ok(
                Box::new(FakeSource::new(PixelFormat::Grey, w, h, w, vec![frame]).repeating())
                    as Box<dyn FrameSource + Send>,
            )
        })),
        button: Some(Box::new(button.input())),
        led: Some(Box::new(led.output())),
    };
    let mut colorizer = tint();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let daemon = s.spawn(|| boxd::run(&cfg, &mut colorizer, hw, &stop, RunMode::Forever));
        std::thread::sleep(Duration::from_millis(50));
        button.set(true);
        std::thread::sleep(Duration::from_millis(80));
        button.set(false);
        // Busy (on, off), then the error blink once the write failed.
        let failed = wait_for(Duration::from_secs(120), || led.transitions().len() >= 6);
        let out_while_full = everything(&d.out);
        assert!(
            failed,
            "the write did not fail and pause: {:?}",
            led.transitions()
        );
        disk.grow(16 * MIB);
        let written = wait_for(Duration::from_secs(60), || files(&d.out).len() == 1);
        stop.store(true, Ordering::SeqCst);
        let summary = daemon.join().unwrap().unwrap();
        assert_eq!(out_while_full, Vec::<String>::new(), "no partial file");
        assert!(written, "the frame was lost");
        assert_eq!(summary.frames_done, 1, "{summary:?}");
        assert_eq!(summary.intake_pauses, 1, "{summary:?}");
    });
    let out = files(&d.out);
    assert_colour_png(&d.out.join(&out[0]), w as u32, h as u32);
    drop(disk);
}
