//! Colour hints through the real `colorize files` and `colorize eval`, with
//! a small model that takes hints (`colorize_model::synthetic::hinted_net`):
//! given hints and sidecars are followed and recorded, and each bad hint
//! costs one error line naming its file, nothing written for that image,
//! while the batch goes on.

mod cli_common;

use std::fs;
use std::path::Path;

use cli_common::*;
use colorize_model::synthetic::hinted_net;

fn hinted_model(tmp: &Path) -> std::path::PathBuf {
    let path = tmp.join("hinted.onnx");
    fs::write(
        &path,
        colorize_model::onnx::to_onnx(&hinted_net(16, 4, 7)).unwrap(),
    )
    .unwrap();
    path
}

fn gray_png(path: &Path, w: u32, h: u32, seed: u32) {
    image::GrayImage::from_raw(w, h, gray_pixels(w, h, seed))
        .unwrap()
        .save(path)
        .unwrap();
}

fn files(tmp: &Path) -> std::process::Command {
    let mut cmd = colorize();
    cmd.arg("files").arg("--model").arg(hinted_model(tmp));
    cmd
}

#[test]
fn given_hints_are_followed_and_recorded_beside_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("door.png");
    gray_png(&input, 40, 30, 1);
    let out = tmp.path().join("out");
    let plain = tmp.path().join("plain");
    let run = files(tmp.path())
        .arg(&input)
        .arg("--out")
        .arg(&plain)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let run = files(tmp.path())
        .arg(&input)
        .args([
            "--out",
            out.to_str().unwrap(),
            "--hint",
            "10,10=#c0392b",
            "--hint",
            "50%,50%=60,-40,30/12.5%",
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(listing(&out), ["door.hints.json", "door.png"]);
    let kept = fs::read_to_string(out.join("door.hints.json")).unwrap();
    let placed = colorize_device::io::hints::parse_json(kept.as_bytes()).unwrap();
    assert_eq!(placed.len(), 2);
    assert_eq!(
        (placed[1].x, placed[1].y, placed[1].radius),
        (20.0, 15.0, Some(5.0))
    );
    let png = fs::read(out.join("door.png")).unwrap();
    let xmp = colorize_device::io::xmp::read(&png).expect("an XMP packet");
    let tool = xmp.creator_tool.unwrap();
    assert!(
        tool.ends_with("with 2 colour hints from the user"),
        "{tool}"
    );
    // The hints changed the colours; without them the output is the
    // model's automatic one.
    assert_ne!(png, fs::read(plain.join("door.png")).unwrap());
    let plain_xmp =
        colorize_device::io::xmp::read(&fs::read(plain.join("door.png")).unwrap()).unwrap();
    assert!(!plain_xmp.creator_tool.unwrap().contains("colour hint"));
    // Made again without hints, the output loses its hints record too.
    let run = files(tmp.path())
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(listing(&out), ["door.png"]);
}

#[test]
fn sidecars_apply_in_batches_and_bad_hints_cost_one_line_each() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("scans");
    fs::create_dir(&dir).unwrap();
    for (i, name) in ["good", "outside", "colour", "json", "many", "none"]
        .iter()
        .enumerate()
    {
        gray_png(&dir.join(format!("{name}.png")), 32, 24, i as u32);
    }
    let point = |x: u32| format!(r##"{{"x": {x}, "y": 3, "colour": "#2e7d32"}}"##);
    let sidecar =
        |name: &str, body: String| fs::write(dir.join(format!("{name}.hints.json")), body).unwrap();
    sidecar("good", format!(r#"{{"points": [{}]}}"#, point(5)));
    sidecar("outside", format!(r#"{{"points": [{}]}}"#, point(32)));
    sidecar(
        "colour",
        r##"{"points": [{"x": 1, "y": 1, "colour": "#2e7d3"}]}"##.into(),
    );
    sidecar("json", r#"{"points": [ {"x": 1, "y": 1,"#.into());
    let many: Vec<String> = (0..257).map(|i| point(i % 32)).collect();
    sidecar("many", format!(r#"{{"points": [{}]}}"#, many.join(",")));
    sidecar("lost", format!(r#"{{"points": [{}]}}"#, point(1)));
    let out = tmp.path().join("out");
    let run = files(tmp.path())
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 5, "{errors:#?}");
    let has = |name: &str, what: &str| {
        assert!(
            errors.iter().any(|e| e.contains(name) && e.contains(what)),
            "no error naming {name} with {what:?}: {errors:#?}"
        )
    };
    has("outside.hints.json", "outside the 32x24 image");
    has("colour.hints.json", "#RRGGBB");
    has("json.hints.json", "malformed JSON");
    has("many.hints.json", "257 hints: at most 256");
    has("lost.hints.json", "not there");
    assert_eq!(listing(&out), ["good.hints.json", "good.png", "none.png"]);
    assert!(
        text(&run.stdout).starts_with("2 ok, 5 failed"),
        "{}",
        text(&run.stdout)
    );
}

#[test]
fn hints_are_refused_where_they_cannot_apply() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("a.png");
    gray_png(&input, 16, 16, 3);
    let out = tmp.path().join("out");
    // A model without a hints input: one line, before any work.
    let tiny = tmp.path().join("tiny.onnx");
    fs::write(&tiny, tiny_model()).unwrap();
    let run = colorize()
        .args([
            "files",
            "--model",
            tiny.to_str().unwrap(),
            "--hint",
            "1,1=#ff0000",
            "--out",
        ])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let errors = error_lines(&run.stderr);
    assert!(
        errors.len() == 1 && errors[0].contains("takes no colour hints"),
        "{errors:?}"
    );
    assert!(!out.exists());
    // A malformed --hint, and --hint for a folder.
    for (arg, input, what) in [
        ("1,1=red", &input, "colour must be"),
        ("1,1=#ff0000", &tmp.path().to_path_buf(), "one input image"),
    ] {
        let run = files(tmp.path())
            .args(["--hint", arg, "--out"])
            .arg(&out)
            .arg(input)
            .output()
            .unwrap();
        let errors = error_lines(&run.stderr);
        assert!(
            !run.status.success() && errors.len() == 1 && errors[0].contains(what),
            "{errors:?}"
        );
    }
}

#[test]
fn eval_draws_hints_from_the_truth_and_reports_them() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = tmp.path().join("truth");
    fs::create_dir(&truth).unwrap();
    let rgb: Vec<u8> = (0..48 * 32)
        .flat_map(|i| [(i % 48 * 5) as u8, 120, (i / 48 * 7) as u8])
        .collect();
    image::RgbImage::from_raw(48, 32, rgb)
        .unwrap()
        .save(truth.join("t.png"))
        .unwrap();
    let run = colorize()
        .args([
            "eval",
            "--model",
            hinted_model(tmp.path()).to_str().unwrap(),
            "--hints",
            "random:4",
            "--truth",
        ])
        .arg(&truth)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&run.stdout).trim()).unwrap();
    assert_eq!(
        (v["hints_per_image"].as_u64(), v["hints"].as_u64()),
        (Some(4), Some(4))
    );
    let f = v["hint_fidelity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&f), "{v}");
    let run = colorize()
        .args(["eval", "--hints", "random:0", "--truth"])
        .arg(&truth)
        .output()
        .unwrap();
    assert!(!run.status.success() && text(&run.stderr).contains("random:N"));
}

/// The box's inbox reads an image's sidecar with it, keeps the placed
/// hints beside the output and moves the sidecar where the image goes;
/// a bad sidecar fails its image alone.
#[test]
fn the_box_inbox_picks_up_sidecars() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let inbox = root.join("inbox");
    fs::create_dir(&inbox).unwrap();
    gray_png(&inbox.join("good.png"), 32, 24, 1);
    gray_png(&inbox.join("bad.png"), 32, 24, 2);
    gray_png(&inbox.join("plain.png"), 32, 24, 3);
    let side = |n: &str, x: u32| {
        let body = format!(r##"{{"points": [{{"x": {x}, "y": 3, "colour": "#2e7d32"}}]}}"##);
        fs::write(inbox.join(format!("{n}.hints.json")), body).unwrap();
    };
    side("good", 4);
    side("bad", 99);
    let out = root.join("out");
    let cfg = root.join("box.toml");
    fs::write(
        &cfg,
        format!(
            "[model]\npath = {:?}\n[output]\ndir = {:?}\n[inbox]\ndir = {:?}\npoll_ms = 20\n[limits]\nmin_free_mb = 1\n",
            hinted_model(root),
            out,
            inbox,
        ),
    )
    .unwrap();
    let o = colorize()
        .args(["box", "--config"])
        .arg(&cfg)
        .arg("--drain")
        .output()
        .unwrap();
    let log = text(&o.stderr);
    assert!(
        log.contains("bad.png") && log.contains("outside the 32x24 image"),
        "{log}"
    );
    assert_eq!(listing(&out), ["good.hints.json", "good.png", "plain.png"]);
    assert_eq!(
        listing(&inbox.join("done")),
        ["good.hints.json", "good.png", "plain.png"]
    );
    assert_eq!(
        listing(&inbox.join("failed")),
        ["bad.hints.json", "bad.png"]
    );
    let tool = colorize_device::io::xmp::read(&fs::read(out.join("good.png")).unwrap())
        .unwrap()
        .creator_tool
        .unwrap();
    assert!(tool.ends_with("with 1 colour hint from the user"), "{tool}");
}
