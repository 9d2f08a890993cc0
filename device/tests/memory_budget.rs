//! The memory budget end to end (docs/robustness.md, "The memory budget"):
//! the real binary refuses an image that cannot fit alone with one line and
//! finishes the rest, runs no more images at once than fit, and the box
//! moves a scan that cannot fit to its failed folder, saying why.

use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use colorize_device::boxd::{self, Hardware, RunMode};

mod box_common;
mod cli_common;
use cli_common::{colorize, text};

/// A 16-bit gray PNG of `w x h` with a gradient: 4 bytes a pixel to
/// colourize (its samples and its L* plane).
fn write_gray16_png(path: &Path, w: u32, h: u32) {
    image::ImageBuffer::<image::Luma<u16>, _>::from_fn(w, h, |x, y| {
        image::Luma([((x * 65535 / w + y * 977) % 65536) as u16])
    })
    .save(path)
    .unwrap();
}

/// `colorize info`'s budget for `--memory MIB --threads N`: (MiB for
/// images, MiB the program's share).
fn budget(memory_mib: u64, threads: usize) -> (u64, u64) {
    let out = colorize()
        .args(["info", "--memory", &memory_mib.to_string()])
        .args(["--threads", &threads.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with("memory budget: "))
        .unwrap_or_else(|| panic!("no budget line: {}", text(&out.stdout)))
        .to_string();
    let number_before = |s: &str, word: &str| -> u64 {
        let at = s
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} not in {s}"));
        s[..at].rsplit(' ').nth(1).unwrap().parse().unwrap()
    };
    (
        number_before(&line, "MiB for images"),
        number_before(&line, "MiB for the program"),
    )
}

/// The `--memory` that leaves about `images` MiB for images beside a
/// program of `program` MiB (the budget takes 32 MiB and 1/32 as margin).
fn memory_for(images: u64, program: u64) -> u64 {
    ((images + program + 32) * 32).div_ceil(31) + 1
}

#[test]
fn an_image_that_cannot_fit_alone_is_refused_in_one_line_and_the_rest_completes() {
    // The program's share differs from one machine (and emulator) to the
    // next: measure it, then ask for 8 MiB for images.
    let (_, program) = budget(256, 1);
    let memory = memory_for(8, program);
    let (images, _) = budget(memory, 1);
    assert!((6..=10).contains(&images), "{images} MiB for images");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    box_common::write_gray_png(&input.join("a.png"), 64, 48);
    // 3 Mpixel of 16-bit gray: about 13 MiB.
    write_gray16_png(&input.join("big.png"), 2000, 1500);
    box_common::write_gray_png(&input.join("c.png"), 80, 60);
    let out = colorize()
        .args(["files"])
        .arg(&input)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .args(["--threads", "1", "--memory", &memory.to_string()])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    // The need is the library's estimate from the header; the budget is
    // the one `info` printed, give or take the program's own memory.
    let header =
        colorize_device::io::memory::probe(&input.join("big.png"), &Default::default()).unwrap();
    let need = colorize_device::io::memory::estimate(
        &header,
        colorize_device::io::pipeline::OutputSpec::PNG,
    );
    let expected = format!(
        "big.png needs about {} MiB, budget ",
        need.div_ceil(1 << 20)
    );
    let line = errors[0];
    assert!(line.contains(&expected), "{line} lacks {expected}");
    let said: u64 = line
        .split("budget ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(said.abs_diff(images) <= 2, "{line}: info said {images} MiB");
    assert!(
        line.ends_with("MiB (set --memory, or [limits] memory_mb in box.toml)"),
        "{line}"
    );
    assert!(stdout.starts_with("2 ok, 1 failed"), "{stdout}");
    assert!(tmp.path().join("out/a.png").is_file() && tmp.path().join("out/c.png").is_file());
    assert!(!tmp.path().join("out/big.png").exists());
}

#[test]
fn no_more_images_run_at_once_than_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir(&input).unwrap();
    // Eight images of about 5 MiB each (1 Mpixel of 16-bit gray and the
    // encoders' bands) under a budget of about 11 MiB: two at once, not
    // four.
    for i in 0..8 {
        write_gray16_png(&input.join(format!("{i}.png")), 1000, 1000 + i);
    }
    let (_, program) = budget(256, 4);
    let memory = memory_for(11, program);
    let run = |out: &str, memory: Option<u64>| {
        let mut cmd = colorize();
        cmd.arg("files")
            .arg(&input)
            .arg("--out")
            .arg(tmp.path().join(out))
            .args(["--threads", "4"])
            .env("SOURCE_DATE_EPOCH", "1764633600");
        if let Some(m) = memory {
            cmd.args(["--memory", &m.to_string()]);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout)
    };
    let free = run("free", None);
    assert!(free.starts_with("8 ok, 0 failed"), "{free}");
    let tight = run("tight", Some(memory));
    assert!(tight.starts_with("8 ok, 0 failed"), "{tight}");
    let at_once: usize = tight
        .split("; at most ")
        .nth(1)
        .unwrap_or_else(|| panic!("the summary does not say memory set the pace: {tight}"))
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&at_once), "{tight}");
    // The budget changes when, never what.
    for i in 0..8 {
        let name = format!("{i}.png");
        assert_eq!(
            fs::read(tmp.path().join("free").join(&name)).unwrap(),
            fs::read(tmp.path().join("tight").join(&name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_box_moves_a_scan_that_cannot_fit_to_failed_and_keeps_running() {
    let d = box_common::dirs();
    let mut cfg = box_common::config(&d);
    // About 8 MiB for scans beside this test process (its resident memory
    // is the program's share).
    let program = colorize_device::memory::resident_bytes() >> 20;
    cfg.limits.memory_mb = Some(memory_for(8, program + 2));
    write_gray16_png(&d.inbox.join("big.png"), 2000, 1500);
    box_common::write_gray_png(&d.inbox.join("small.png"), 64, 48);
    let stop = AtomicBool::new(false);
    let mut colorizer = box_common::tint();
    let report = boxd::run(
        &cfg,
        &mut colorizer,
        Hardware {
            camera: None,
            button: None,
            led: None,
        },
        &stop,
        RunMode::UntilIdle,
    )
    .unwrap();
    assert_eq!((report.files_done, report.files_failed), (1, 1));
    assert!(d.out.join("small.png").is_file());
    assert!(!d.out.join("big.png").exists());
    assert!(d.inbox.join("failed/big.png").is_file(), "the scan is kept");
}
