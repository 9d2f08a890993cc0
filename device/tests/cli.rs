//! End-to-end: the real `colorize` binary on generated images.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use colorize_model::net::{Net, Node, Op, Tensor};
use colorize_model::onnx::to_onnx;
use colorize_shared::contract::OUTPUT_NAME;
use colorize_shared::lab::{gray8_to_l, rgb8_to_lab};
use image::{ImageBuffer, Luma, Rgb};

mod cli_common;
use cli_common::{colorize, listing, text};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = colorize();
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("can not start colorize")
}

/// A gray image with gradients, edges and the extremes 0 and 255.
fn gray_image(w: u32, h: u32, seed: u32) -> ImageBuffer<Luma<u8>, Vec<u8>> {
    ImageBuffer::from_fn(w, h, |x, y| {
        let v = if (x / 7 + y / 5 + seed) % 9 == 0 {
            if (x + y) % 2 == 0 {
                0
            } else {
                255
            }
        } else {
            ((x * 255 / w.max(2) + y * 97 / h.max(2) + seed * 31) % 256) as u8
        };
        Luma([v])
    })
}

fn dims(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Max |L*(output) - L*(input gray)| in Q8.8 over all pixels.
fn max_l_error(gray: &[u8], out: &Path) -> i32 {
    let rgb = image::open(out).unwrap().to_rgb8();
    assert_eq!(rgb.as_raw().len(), 3 * gray.len());
    rgb.as_raw()
        .chunks_exact(3)
        .zip(gray)
        .map(|(px, g)| (rgb8_to_lab(px[0], px[1], px[2]).0 as i32 - gray8_to_l(*g) as i32).abs())
        .max()
        .unwrap()
}

struct Batch {
    _tmp: tempfile::TempDir,
    input: PathBuf,
    out: PathBuf,
}

fn batch() -> Batch {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    fs::create_dir_all(input.join("nested")).unwrap();
    Batch {
        input,
        out,
        _tmp: tmp,
    }
}

#[test]
fn gray_folder_is_colourized_at_full_size_keeping_lightness() {
    let b = batch();
    let sizes = [(37u32, 23u32), (130, 70), (9, 150)];
    let mut grays = Vec::new();
    for (k, (w, h)) in sizes.iter().enumerate() {
        let img = gray_image(*w, *h, k as u32);
        let dir = if k == 2 {
            b.input.join("nested")
        } else {
            b.input.clone()
        };
        img.save(dir.join(format!("g{k}.png"))).unwrap();
        grays.push(img);
    }
    // 16-bit gray TIFF: a 16-bit PNG (--depth same), L* kept.
    let g16: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(50, 40, |x, y| Luma([((x * 1300 + y * 700) % 65536) as u16]));
    g16.save(b.input.join("deep.tiff")).unwrap();
    // A colour JPEG: L* taken from the colour.
    ImageBuffer::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 128u8]))
        .save(b.input.join("colour.jpg"))
        .unwrap();

    let o = run(&[&"files", &b.input, &"--out", &b.out, &"--threads", &"2"]);
    assert!(o.status.success(), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("5 ok, 0 failed"),
        "stdout: {}",
        text(&o.stdout)
    );
    // The folder's tree is mirrored.
    assert_eq!(
        listing(&b.out),
        ["colour.png", "deep.png", "g0.png", "g1.png", "nested"]
    );
    assert_eq!(listing(&b.out.join("nested")), ["g2.png"]);
    for (k, (w, h)) in sizes.iter().enumerate() {
        let sub = if k == 2 { "nested/" } else { "" };
        let out = b.out.join(format!("{sub}g{k}.png"));
        assert_eq!(dims(&out), (*w, *h));
        let err = max_l_error(grays[k].as_raw(), &out);
        assert!(
            err <= 256,
            "g{k}: L* off by {} at worst",
            err as f32 / 256.0
        );
    }
    assert_eq!(dims(&b.out.join("deep.png")), (50, 40));
    assert!(matches!(
        image::open(b.out.join("deep.png")).unwrap(),
        image::DynamicImage::ImageRgb16(_)
    ));
    let deep8: Vec<u8> = g16
        .as_raw()
        .iter()
        .map(|v| ((*v as u32 + 128) / 257) as u8)
        .collect();
    let err = max_l_error(&deep8, &b.out.join("deep.png"));
    assert!(err <= 256, "16-bit: L* off by {}", err as f32 / 256.0);
    assert_eq!(dims(&b.out.join("colour.png")), (64, 48));
    // Provenance in the PNG.
    let png = fs::read(b.out.join("g0.png")).unwrap();
    assert!(
        png.windows(24).any(|w| w == b"colourized by colorize 0"),
        "no provenance text in the PNG"
    );
}

#[test]
fn a_corrupt_file_fails_alone() {
    let b = batch();
    gray_image(20, 10, 1).save(b.input.join("a.png")).unwrap();
    gray_image(11, 30, 2).save(b.input.join("c.png")).unwrap();
    // A PNG signature followed by garbage: decoding starts, then fails.
    let mut bad = b"\x89PNG\r\n\x1a\n".to_vec();
    bad.extend(std::iter::repeat_n(0x42u8, 300));
    fs::write(b.input.join("b.png"), bad).unwrap();

    let o = run(&[&"files", &b.input, &"--out", &b.out]);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "a failed input must fail the run");
    assert!(
        text(&o.stdout).contains("2 ok, 1 failed"),
        "stdout: {}",
        text(&o.stdout)
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    assert!(
        lines[0].contains("b.png"),
        "the error names the file: {err}"
    );
    // The good ones are written; nothing partial or temporary is left.
    assert_eq!(listing(&b.out), ["a.png", "c.png"]);
    assert_eq!(dims(&b.out.join("c.png")), (11, 30));
}

#[test]
fn a_missing_input_is_reported_and_the_rest_goes_on() {
    let b = batch();
    let good = b.input.join("a.png");
    gray_image(8, 8, 0).save(&good).unwrap();
    let o = run(&[&"files", &b.input.join("nope.png"), &good, &"--out", &b.out]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("nope.png"), "{}", text(&o.stderr));
    assert_eq!(listing(&b.out), ["a.png"]);
}

#[test]
fn a_model_with_the_wrong_shape_is_refused_clearly() {
    let b = batch();
    gray_image(8, 8, 0).save(b.input.join("a.png")).unwrap();
    // A 6x6 output for a 16x16 input, not 1/1, 1/2 or 1/4 of it: breaks
    // the contract.
    let net = Net {
        arch: "sixth".into(),
        input_height: 16,
        input_width: 16,
        hints: None,
        nodes: vec![Node {
            name: "conv".into(),
            op: Op::Conv2d {
                weight: Tensor::new(vec![2, 1, 3, 3], vec![0.1; 18]),
                bias: vec![0.0; 2],
                stride: 3,
                padding: 1,
                dilation: 1,
                groups: 1,
            },
            inputs: vec!["L".into()],
            output: OUTPUT_NAME.into(),
        }],
        metadata: vec![],
    };
    let model = b.input.join("sixth.onnx");
    fs::write(&model, to_onnx(&net).unwrap()).unwrap();
    let o = run(&[
        &"files",
        &b.input.join("a.png"),
        &"--out",
        &b.out,
        &"--model",
        &model,
    ]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("sixth.onnx"),
        "the error names the model file: {err}"
    );
    assert!(
        err.contains("model output has shape [1, 2, 6, 6]") && err.contains("[1, 1, 16, 16]"),
        "the error says what is wrong: {err}"
    );
    // Not a model at all.
    fs::write(&model, b"not onnx").unwrap();
    let o = run(&[&"info", &"--model", &model]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("sixth.onnx"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn skip_existing_resumes_a_batch() {
    let b = batch();
    for k in 0..3 {
        gray_image(12, 9, k)
            .save(b.input.join(format!("p{k}.png")))
            .unwrap();
    }
    fs::create_dir_all(&b.out).unwrap();
    // p1 is "done" already: its output must stay untouched.
    fs::write(b.out.join("p1.png"), b"done before").unwrap();
    let o = run(&[&"files", &b.input, &"--out", &b.out, &"--skip-existing"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("2 ok, 0 failed, 1 skipped"),
        "{}",
        text(&o.stdout)
    );
    assert_eq!(fs::read(b.out.join("p1.png")).unwrap(), b"done before");
    assert_eq!(dims(&b.out.join("p2.png")), (12, 9));
    // Without the flag everything is redone.
    let o = run(&[&"files", &b.input, &"--out", &b.out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(dims(&b.out.join("p1.png")), (12, 9));
}

#[test]
fn jpeg_and_tiff_outputs() {
    let b = batch();
    gray_image(33, 17, 3).save(b.input.join("x.png")).unwrap();
    for (format, name) in [("jpeg", "x.jpg"), ("tiff", "x.tiff")] {
        let o = run(&[&"files", &b.input, &"--out", &b.out, &"--format", &format]);
        assert!(o.status.success(), "{format}: {}", text(&o.stderr));
        assert_eq!(dims(&b.out.join(name)), (33, 17), "{format}");
    }
    let jpg = fs::read(b.out.join("x.jpg")).unwrap();
    assert!(
        jpg.windows(22).any(|w| w == b"colourized by colorize"),
        "no JPEG comment"
    );
}

/// Two colour gradients, t0.png and t1.png, as eval's truths.
fn write_colour_truths(dir: &Path) {
    for k in 0..2u32 {
        ImageBuffer::from_fn(40, 30, |x, y| {
            Rgb([(x * 6) as u8, (y * 8) as u8, (k * 100) as u8])
        })
        .save(dir.join(format!("t{k}.png")))
        .unwrap();
    }
}

#[test]
fn eval_prints_the_metric_json() {
    let b = batch();
    write_colour_truths(&b.input);
    let o = run(&[&"eval", &"--truth", &b.input]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for key in [
        "\"images\": 2",
        "\"psnr\"",
        "\"psnr_gray\"",
        "\"colourfulness_ratio\"",
        "\"auc\"",
    ] {
        assert!(out.contains(key), "{key} missing from {out}");
    }
}

/// `eval --per-image`: one line per input in input order, whatever the
/// thread count; the gains average to the summary's; an all-green truth is
/// 100 % green; a gray truth is marked skipped; the summary is unchanged.
#[test]
fn eval_per_image_lines() {
    let b = batch();
    write_colour_truths(&b.input);
    ImageBuffer::from_fn(33, 21, |x, _| Rgb([0u8, 120 + (x * 4) as u8, 0]))
        .save(b.input.join("nested/green.png"))
        .unwrap();
    gray_image(25, 19, 3)
        .save(b.input.join("nested/zgray.png"))
        .unwrap();
    let dir = b.input.parent().unwrap();
    let per_image = |threads: &str, name: &str| {
        let file = dir.join(name);
        let o = run(&[
            &"eval",
            &"--truth",
            &b.input,
            &"--threads",
            &threads,
            &"--per-image",
            &file,
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (text(&o.stdout), fs::read_to_string(file).unwrap())
    };
    let (summary, lines) = per_image("1", "one.jsonl");
    let (_, lines3) = per_image("3", "three.jsonl");
    assert_eq!(lines, lines3, "the lines do not depend on the thread count");
    let o = run(&[&"eval", &"--truth", &b.input, &"--threads", &"1"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), summary, "--per-image changes the summary");

    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(
        (summary["images"].as_u64(), summary["skipped_gray"].as_u64()),
        (Some(3), Some(1))
    );
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["file"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["green.png", "zgray.png", "t0.png", "t1.png"],
        "input order"
    );
    assert_eq!(lines[1]["skipped_gray"], true);
    assert!(lines[1].get("psnr").is_none(), "{}", lines[1]);
    let scored: Vec<_> = lines
        .iter()
        .filter(|l| l["skipped_gray"] == false)
        .collect();
    assert_eq!(scored.len(), 3);
    let mean_gain = scored
        .iter()
        .map(|l| l["psnr_gain"].as_f64().unwrap())
        .sum::<f64>()
        / scored.len() as f64;
    let gain = summary["psnr_gain"].as_f64().unwrap();
    assert!((mean_gain - gain).abs() < 1e-3, "{mean_gain} vs {gain}");
    for l in &scored {
        let f = |k: &str| l[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {l}"));
        assert!(
            (f("psnr") - f("psnr_gray") - f("psnr_gain")).abs() < 2e-4,
            "{l}"
        );
        for k in [
            "colourfulness_pred",
            "colourfulness_truth",
            "green_pred_pct",
            "mean_a_pred",
            "mean_b_pred",
        ] {
            f(k);
        }
        assert!((0.0..=100.0).contains(&f("green_truth_pct")), "{l}");
    }
    let green = &lines[0];
    assert_eq!(green["green_truth_pct"].as_f64(), Some(100.0), "{green}");
    assert!(green["mean_a_truth"].as_f64().unwrap() < -40.0, "{green}");
    assert!(green["mean_b_truth"].as_f64().unwrap() > 30.0, "{green}");

    // The prediction's columns are the statistics of what `colorize files`
    // makes of the same photo (one colourize path), not the truth's.
    let o = run(&[&"files", &b.input.join("t1.png"), &"--out", &b.out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let made = image::open(b.out.join("t1.png")).unwrap().to_rgb8();
    // The output scored as a truth: its own green share and mean a*b*.
    let want = colorize_shared::metrics::EvalAccumulator::new()
        .add_scored(made.as_raw(), made.as_raw())
        .unwrap();
    let t1 = &lines[3];
    for (k, v) in [
        ("green_pred_pct", 100.0 * want.green_truth),
        ("mean_a_pred", want.mean_a_truth),
        ("mean_b_pred", want.mean_b_truth),
    ] {
        let got = t1[k].as_f64().unwrap();
        assert!((got - v).abs() < 1e-3, "{k}: {got} vs {v} of the output");
    }
    assert_ne!(t1["mean_b_pred"], t1["mean_b_truth"], "{t1}");

    // A file that cannot be read gets an error line in its place, and
    // the exit status says so.
    fs::write(b.input.join("nested/broken.png"), b"not a png").unwrap();
    let file = dir.join("broken.jsonl");
    let o = run(&[&"eval", &"--truth", &b.input, &"--per-image", &file]);
    assert!(!o.status.success());
    let lines = fs::read_to_string(file).unwrap();
    let names: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(names[0]["file"], "broken.png", "{lines}");
    assert!(names[0]["error"].as_str().is_some(), "{lines}");
    assert_eq!(names.len(), 5, "{lines}");
}

/// Archives repeat file names across boxes: a tree is mirrored, and only two
/// inputs that would still share an output stop the batch, before any work.
#[test]
fn clashing_outputs_stop_the_batch_before_any_work() {
    let b = batch();
    let other = b.input.parent().unwrap().join("other");
    for root in [&b.input, &other] {
        fs::create_dir_all(root.join("box1")).unwrap();
        gray_image(20, 10, 1)
            .save(root.join("box1/0001.png"))
            .unwrap();
    }
    gray_image(20, 10, 2)
        .save(b.input.join("0002.png"))
        .unwrap();
    let o = run(&[&"files", &b.input, &other, &"--out", &b.out]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    let first = b.input.join("box1/0001.png");
    let second = other.join("box1/0001.png");
    assert!(
        err.contains(&first.display().to_string()) && err.contains(&second.display().to_string()),
        "the error names both inputs: {err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        !b.out.exists() || listing(&b.out).is_empty(),
        "{:?}",
        listing(&b.out)
    );
}

/// `--out` onto the input folder in the inputs' own format would replace
/// the masters: refused before any work, inputs untouched.
#[test]
fn outputs_never_replace_their_inputs() {
    let b = batch();
    gray_image(20, 10, 1)
        .save(b.input.join("0001.png"))
        .unwrap();
    let before = fs::read(b.input.join("0001.png")).unwrap();
    let o = run(&[&"files", &b.input, &"--out", &b.input]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("would be overwritten by their own output"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(fs::read(b.input.join("0001.png")).unwrap(), before);
    // Another format into the same folder is fine.
    let o = run(&[&"files", &b.input, &"--out", &b.input, &"--format", &"jpeg"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}
