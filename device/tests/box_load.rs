//! A thousand scans dropped into the inbox at once: the real `colorize box
//! --drain` takes them all, a few names at a time, in memory that does not
//! grow with the queue: its peak RSS with 1,000 waiting stays under twice
//! its peak with one.

mod box_common;
mod cli_common;
use box_common::{files, noise};
use cli_common::{colorize, text, tiny_model};

use std::path::Path;
use std::process::Stdio;

const SCANS: usize = 1000;

/// Runs `colorize box --drain` on `inbox` and returns its peak RSS in KiB
/// (the child's own `ru_maxrss`, from wait4).
// The child is reaped by wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn drain_peak_kib(root: &Path, model: &Path) -> u64 {
    let cfg = root.join("box.toml");
    std::fs::write(
        &cfg,
        format!(
            "[model]\npath = {:?}\n[output]\ndir = {:?}\n[inbox]\ndir = {:?}\npoll_ms = 20\n\
             [limits]\nmin_free_mb = 1\n",
            model,
            root.join("out"),
            root.join("inbox"),
        ),
    )
    .unwrap();
    let child = colorize()
        .args(["box", "--config"])
        .arg(&cfg)
        .arg("--drain")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: rusage is plain data, written by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let log = text(&reader.join().unwrap());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "colorize box --drain failed: {log}"
    );
    usage.ru_maxrss as u64
}

fn inbox_of(root: &Path, n: usize) {
    let inbox = root.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for i in 0..n {
        // Each scan different, so a cache could not hide a leak.
        let img = image::GrayImage::from_raw(96, 64, noise(96 * 64, i as u64 + 1)).unwrap();
        img.save_with_format(
            inbox.join(format!("scan-{i:04}.png")),
            image::ImageFormat::Png,
        )
        .unwrap();
    }
}

#[test]
fn a_thousand_scans_at_once_take_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny.onnx");
    std::fs::write(&model, tiny_model()).unwrap();

    let one = tmp.path().join("one");
    inbox_of(&one, 1);
    let peak_one = drain_peak_kib(&one, &model);
    assert_eq!(files(&one.join("out")).len(), 1);

    let many = tmp.path().join("many");
    inbox_of(&many, SCANS);
    let peak_many = drain_peak_kib(&many, &model);
    let outs = files(&many.join("out"));
    assert_eq!(outs.len(), SCANS, "every scan colourized");
    assert!(files(&many.join("inbox")).is_empty(), "the inbox drained");
    assert_eq!(files(&many.join("inbox/done")).len(), SCANS);

    let ratio = peak_many as f64 / peak_one as f64;
    println!(
        "box peak RSS: {peak_one} KiB for 1 scan, {peak_many} KiB for {SCANS} at once ({ratio:.2}x)"
    );
    assert!(
        ratio < 2.0,
        "{SCANS} waiting scans took {peak_many} KiB against {peak_one} KiB for one ({ratio:.2}x)"
    );
}
