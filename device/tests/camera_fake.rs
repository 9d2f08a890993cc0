//! The `colorize camera` loop against scripted fake cameras: corrupt and
//! truncated frames are skipped, a disconnect is survived by reopening, and
//! a camera that never comes back fails clearly without touching the
//! frames already written.

mod box_common;
use box_common::*;

use std::sync::atomic::AtomicBool;

use colorize_device::camera::capture::{capture_to_dir, CaptureOptions};
use colorize_device::camera::{FakeFrame, FakeSource, FrameSource, PixelFormat};

const W: usize = 20;
const H: usize = 10;
const STRIDE: usize = 2 * W + 8;

/// A YUYV frame with padded rows and garbage chroma.
fn yuyv_frame(shift: u8) -> Vec<u8> {
    let mut b = vec![0xEE; STRIDE * H];
    for y in 0..H {
        for x in 0..W {
            b[y * STRIDE + 2 * x] = (x as u8 * 12).wrapping_add(shift);
            b[y * STRIDE + 2 * x + 1] = 0x10;
        }
    }
    b
}

fn data(bytes: Vec<u8>) -> FakeFrame {
    let n = bytes.len();
    FakeFrame::Data {
        bytes,
        bytesused: n,
    }
}

#[test]
fn faults_are_skipped_and_disconnect_reopens() {
    let d = dirs();
    let mut opens = 0;
    let mut open = || -> anyhow::Result<Box<dyn FrameSource>> {
        opens += 1;
        let script = if opens == 1 {
            vec![
                data(yuyv_frame(0)),
                FakeFrame::Corrupt,
                // bytesused says the driver only filled half the buffer.
                FakeFrame::Data {
                    bytes: yuyv_frame(1),
                    bytesused: STRIDE * H / 2,
                },
                data(yuyv_frame(2)),
                FakeFrame::Disconnect,
            ]
        } else {
            vec![data(yuyv_frame(3))]
        };
        Ok(Box::new(
            FakeSource::new(PixelFormat::Yuyv, W, H, STRIDE, script).repeating(),
        ))
    };
    let mut opts = CaptureOptions::new(&d.out);
    opts.frames = Some(4);
    let stop = AtomicBool::new(false);
    let report = capture_to_dir(&mut open, &mut tint(), &opts, &stop).unwrap();
    assert_eq!(report.written.len(), 4);
    assert_eq!(report.skipped, 2, "{report:?}");
    assert_eq!(report.reopened, 1, "{report:?}");
    assert_eq!(report.size, (W, H));
    assert_eq!(
        files(&d.out),
        vec![
            "frame-00001.png",
            "frame-00002.png",
            "frame-00003.png",
            "frame-00004.png"
        ]
    );
    for f in files(&d.out) {
        assert_colour_png(&d.out.join(f), W as u32, H as u32);
    }

    // A second run continues the numbering: earlier results are never overwritten.
    opts.frames = Some(1);
    let report = capture_to_dir(&mut open, &mut tint(), &opts, &stop).unwrap();
    assert!(report.written[0].ends_with("frame-00005.png"), "{report:?}");
}

#[test]
fn camera_that_never_returns_fails_clearly_and_keeps_results() {
    let d = dirs();
    let mut opens = 0;
    let mut open = || -> anyhow::Result<Box<dyn FrameSource>> {
        opens += 1;
        if opens > 1 {
            anyhow::bail!("/dev/video0: No such device");
        }
        Ok(Box::new(FakeSource::new(
            PixelFormat::Grey,
            W,
            H,
            W,
            vec![
                data(vec![128; W * H]),
                data(vec![64; W * H]),
                FakeFrame::Disconnect,
            ],
        )))
    };
    let mut opts = CaptureOptions::new(&d.out);
    opts.frames = Some(5);
    opts.max_reopens = 1;
    let stop = AtomicBool::new(false);
    let err = capture_to_dir(&mut open, &mut tint(), &opts, &stop).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("2 frame(s) were written"), "{msg}");
    assert!(msg.contains("No such device"), "{msg}");
    assert_eq!(files(&d.out), vec!["frame-00001.png", "frame-00002.png"]);
    for f in files(&d.out) {
        assert_colour_png(&d.out.join(f), W as u32, H as u32);
    }
}
