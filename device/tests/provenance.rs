//! One output room: `colorize files`, the camera loop and the scanner box
//! all write their PNGs through the same encoder, so every one carries the
//! same provenance note (issue 12), and the same XMP machine-colour
//! declaration, read by an independent reader (`exiftool`, which
//! `scripts/setup.sh` installs) and by `colorize info FILE` (issue 16).

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

/// exiftool's reading of the XMP declaration: (DigitalSourceType,
/// CreatorTool, ModifyDate), as exiftool prints them with `-n`.
fn exiftool_declaration(path: &Path) -> (String, String, String) {
    let o = std::process::Command::new("exiftool")
        .args([
            "-n",
            "-s3",
            "-XMP-iptcExt:DigitalSourceType",
            "-XMP-xmp:CreatorTool",
            "-XMP-xmp:ModifyDate",
        ])
        .arg(path)
        .output()
        .expect("exiftool (Debian libimage-exiftool-perl; scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "{}: exiftool found {text:?}",
        path.display()
    );
    (lines[0].into(), lines[1].into(), lines[2].into())
}

/// Every output declares itself: DigitalSourceType, this tool and model,
/// a date; exiftool reads it from PNG, JPEG and TIFF, and so does
/// `colorize info FILE`.
fn assert_declared(path: &Path, note: &str) {
    let (dst, tool, date) = exiftool_declaration(path);
    assert_eq!(
        dst,
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
        "{}",
        path.display()
    );
    assert_eq!(Some(tool.as_str()), note.strip_prefix("colourized by "));
    // exiftool prints XMP dates as YYYY:MM:DD hh:mm:ssZ.
    assert!(
        date.starts_with("20") && date.len() >= 19,
        "{}: date {date:?}",
        path.display()
    );
    let o = cli_common::colorize()
        .arg("info")
        .arg(path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}: {out}", path.display());
    assert!(out.contains(&format!("CreatorTool: {tool}")), "{out}");
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
    assert_declared(&files_out.join("scan.png"), &want);
    for format in ["jpeg", "tiff"] {
        let status = cli_common::colorize()
            .args(["files", "--threads", "1", "--format", format, "--out"])
            .arg(&files_out)
            .arg(&input)
            .status()
            .unwrap();
        assert!(status.success());
    }
    assert_declared(&files_out.join("scan.jpg"), &want);
    assert_declared(&files_out.join("scan.tiff"), &want);
    // An input that is not ours declares nothing.
    let o = cli_common::colorize()
        .arg("info")
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "a plain scan is not declared as colourized"
    );

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
    assert_declared(&report.written[0], &want);
    assert_declared(&d.out.join("scan.png"), &want);
}
