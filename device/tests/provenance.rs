//! One output room: `colorize files`, the camera loop and the scanner box
//! all write their PNGs through the same encoder, so every one carries the
//! same provenance note (issue 12).

mod box_common;
use box_common::*;
mod cli_common;

use std::path::Path;
use std::sync::atomic::AtomicBool;

use colorize_device::boxd::{self, Hardware, RunMode};
use colorize_device::camera::capture::{capture_to_dir, CaptureOptions};
use colorize_device::camera::FakeSource;

/// The PNG's `Software` text (iTXt, tEXt or zTXt), read by an independent
/// decoder.
fn software_text(path: &Path) -> String {
    let file = std::fs::File::open(path).unwrap();
    let reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let info = reader.info();
    let itxt = info
        .utf8_text
        .iter()
        .find(|t| t.keyword == "Software")
        .map(|t| t.get_text().unwrap());
    let text = info
        .uncompressed_latin1_text
        .iter()
        .find(|t| t.keyword == "Software")
        .map(|t| t.text.clone());
    itxt.or(text)
        .unwrap_or_else(|| panic!("{}: no Software text", path.display()))
}

#[test]
fn files_camera_and_box_outputs_carry_the_same_provenance() {
    let d = dirs();
    let model = colorize_device::default_model().unwrap();
    let want = model.provenance();
    assert!(want.contains(model.id()), "{want}");

    // colorize files, the real binary.
    let gray: Vec<u8> = (0..40 * 30).map(|i| (i * 7 % 251) as u8).collect();
    let input = d.inbox.parent().unwrap().join("scan.png");
    image::GrayImage::from_raw(40, 30, gray)
        .unwrap()
        .save(&input)
        .unwrap();
    let files_out = d.inbox.parent().unwrap().join("files-out");
    let status = cli_common::colorize()
        .args(["files", "--threads", "1", "--out"])
        .arg(&files_out)
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success());
    let from_files = software_text(&files_out.join("scan.png"));

    // The camera loop, on a fake camera.
    let camera_out = d.inbox.parent().unwrap().join("camera-out");
    let mut open = || -> anyhow::Result<Box<dyn colorize_device::camera::FrameSource>> {
        Ok(Box::new(FakeSource::gradient(32, 16, 0).repeating()))
    };
    let mut opts = CaptureOptions::new(&camera_out);
    opts.frames = Some(1);
    let stop = AtomicBool::new(false);
    let report = capture_to_dir(&mut open, &mut model.session().unwrap(), &opts, &stop).unwrap();
    let from_camera = software_text(&report.written[0]);

    // The box, on an inbox file.
    std::fs::copy(&input, d.inbox.join("scan.png")).unwrap();
    let cfg = config(&d);
    let hw = Hardware {
        camera: None,
        button: None,
        led: None,
    };
    let summary = boxd::run(
        &cfg,
        &mut model.session().unwrap(),
        hw,
        &stop,
        RunMode::UntilIdle,
    )
    .unwrap();
    assert_eq!(summary.files_done, 1, "{summary:?}");
    let from_box = software_text(&d.out.join("scan.png"));

    assert_eq!(from_files, want);
    assert_eq!(from_camera, want);
    assert_eq!(from_box, want);
}
