//! Issue 8, malformed inputs: the real `colorize files` on broken, odd and
//! huge inputs, an unwritable output folder and a full disk. Each bad input
//! costs exactly one error line naming it, the rest of the batch is written,
//! the exit status is non-zero and no partial or temp file is left.

mod cli_common;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Instant;

use cli_common::*;
use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};

fn save_png<P: image::PixelWithColorType>(img: &ImageBuffer<P, Vec<P::Subpixel>>, path: &Path)
where
    [P::Subpixel]: image::EncodableLayout,
{
    img.save(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn encoded(img: &image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

/// `colorize files --model <tiny>`: these tests are about files, so a
/// one-convolution model keeps them fast under qemu-user (the default model
/// runs end to end in tests/cli.rs).
fn files(tmp: &Path) -> std::process::Command {
    let model = tmp.join("tiny.onnx");
    if !model.exists() {
        fs::write(&model, tiny_model()).unwrap();
    }
    let mut cmd = colorize();
    cmd.arg("files").arg("--model").arg(model);
    cmd
}

/// The expected L* of 16-bit samples: rounded to 8 bits first.
fn to8(v: u16) -> u8 {
    ((v as u32 + 128) / 257) as u8
}

#[test]
fn broken_and_odd_inputs_each_fail_alone_or_are_colourized() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    fs::create_dir_all(&input).unwrap();

    // --- Bad inputs, with what their one error line must say. ---
    let mut bad: Vec<(&str, &str)> = Vec::new();
    fs::write(input.join("empty.png"), b"").unwrap();
    bad.push(("empty.png", "not a PNG, JPEG or TIFF"));
    fs::write(input.join("notes.jpg"), b"shopping list: milk, eggs\n").unwrap();
    bad.push(("notes.jpg", "not a PNG, JPEG or TIFF"));

    let photo = image::DynamicImage::ImageRgb8(ImageBuffer::from_fn(64, 48, |x, y| {
        Rgb([(x * 4) as u8, (y * 5) as u8, 128u8])
    }));
    let jpeg = encoded(&photo, image::ImageFormat::Jpeg);
    // Cut in the scan data: the decoder would fill the rest with gray.
    fs::write(input.join("cut-tail.jpg"), &jpeg[..jpeg.len() - 10]).unwrap();
    bad.push(("cut-tail.jpg", "truncated"));
    fs::write(input.join("cut-half.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    bad.push(("cut-half.jpg", "truncated"));

    let gray = image::DynamicImage::ImageLuma8(
        ImageBuffer::from_raw(40, 30, gray_pixels(40, 30, 7)).unwrap(),
    );
    let png = encoded(&gray, image::ImageFormat::Png);
    // Bad CRCs: IHDR's data changed, IDAT's checksum itself changed (a
    // change in IDAT's data trips the inflater before the CRC is reached).
    let mut broken = png.clone();
    broken[png_chunk_data_offset(&png, b"IHDR") + 5] ^= 0x10;
    fs::write(input.join("crc-ihdr.png"), broken).unwrap();
    bad.push(("crc-ihdr.png", "CRC error"));
    let mut broken = png.clone();
    let (at, len) = png_chunk_data(&png, b"IDAT");
    broken[at + len + 1] ^= 0x10;
    fs::write(input.join("crc-idat.png"), broken).unwrap();
    bad.push(("crc-idat.png", "CRC error"));
    let mut broken = png.clone();
    broken[at + 5] ^= 0x10;
    fs::write(input.join("bits.png"), broken).unwrap();
    bad.push(("bits.png", "not a readable PNG"));
    fs::write(input.join("cut.png"), &png[..png.len() * 2 / 3]).unwrap();
    bad.push(("cut.png", "truncated"));
    fs::write(input.join("bomb.png"), png_bomb(100_000, 100_000)).unwrap();
    bad.push(("bomb.png", "100000x100000 is over the 1 Gpixel limit"));
    // Unreadable: permission bits where they apply; as root (CI) a dangling
    // link, which no permission lets anyone open.
    let unreadable = input.join("unreadable.png");
    if permissions_apply(tmp.path()) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(&unreadable, &png).unwrap();
        fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o000)).unwrap();
    } else {
        std::os::unix::fs::symlink(tmp.path().join("gone.png"), &unreadable).unwrap();
    }
    bad.push(("unreadable.png", "can not open"));

    // --- Odd but valid inputs, with the L* their output must keep. ---
    let mut good: Vec<(&str, (u32, u32), Vec<u16>)> = Vec::new();
    save_png(
        &ImageBuffer::from_pixel(1, 1, Luma([100u8])),
        &input.join("one.png"),
    );
    good.push(("one.png", (1, 1), gray_l(&[100])));
    let rgb16: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(23, 17, |x, y| {
        Rgb([(x * 2800) as u16, (y * 3900) as u16, 40000])
    });
    save_png(&rgb16, &input.join("rgb16.png"));
    let rgb8: Vec<u8> = rgb16.as_raw().iter().map(|&v| to8(v)).collect();
    good.push(("rgb16.png", (23, 17), rgb_l(&rgb8)));
    let g = gray_pixels(19, 11, 3);
    let la8: ImageBuffer<LumaA<u8>, Vec<u8>> = ImageBuffer::from_fn(19, 11, |x, y| {
        LumaA([g[(y * 19 + x) as usize], (x * 13) as u8])
    });
    save_png(&la8, &input.join("la8.png"));
    good.push(("la8.png", (19, 11), gray_l(&g)));
    let rgba16: ImageBuffer<Rgba<u16>, Vec<u16>> = ImageBuffer::from_fn(13, 21, |x, y| {
        Rgba([
            (y * 3000) as u16,
            20000,
            (x * 5000) as u16,
            (x * y * 300) as u16,
        ])
    });
    save_png(&rgba16, &input.join("rgba16.png"));
    let rgb8: Vec<u8> = rgba16
        .pixels()
        .flat_map(|p| [to8(p[0]), to8(p[1]), to8(p[2])])
        .collect();
    good.push(("rgba16.png", (13, 21), rgb_l(&rgb8)));
    // CMYK JPEG: decoded to RGB (R = C * K / 255 in Adobe's inverted CMYK).
    let cmyk = [200u8, 30, 60, 100];
    fs::write(input.join("cmyk.jpg"), cmyk_jpeg(20, 13, cmyk)).unwrap();
    let px: Vec<u8> = cmyk[..3]
        .iter()
        .map(|&c| ((c as u32 * cmyk[3] as u32 * 2 + 255) / 510) as u8)
        .collect();
    good.push(("cmyk.png", (20, 13), rgb_l(&px.repeat(20 * 13))));

    let o = files(tmp.path())
        .args(["--threads", "2", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    eprintln!("{stderr}");
    assert!(!o.status.success(), "failed inputs must fail the run");
    assert!(
        text(&o.stdout).contains(&format!("{} ok, {} failed", good.len(), bad.len())),
        "stdout: {}",
        text(&o.stdout)
    );
    let lines = error_lines(&o.stderr);
    assert_eq!(
        lines.len(),
        bad.len(),
        "one error line per bad input: {stderr}"
    );
    for (name, says) in &bad {
        let mine: Vec<_> = lines.iter().filter(|l| l.contains(name)).collect();
        assert_eq!(mine.len(), 1, "{name}: one line naming it: {stderr}");
        assert!(
            mine[0].contains(says),
            "{name}: should say {says:?}: {}",
            mine[0]
        );
    }
    // Exactly the good outputs: nothing partial, no temp files.
    let mut names: Vec<String> = good
        .iter()
        .map(|(n, _, _)| n.replace(".jpg", ".png"))
        .collect();
    names.sort();
    assert_eq!(listing(&out), names);
    for (name, size, l) in &good {
        let path = out.join(name.replace(".jpg", ".png"));
        assert_eq!(image::image_dimensions(&path).unwrap(), *size, "{name}");
        let tolerance = if name.starts_with("cmyk") { 1.5 } else { 1.0 };
        let err = max_l_error(&path, l);
        assert!(err <= tolerance, "{name}: L* off by {err}");
    }
}

#[test]
fn a_bomb_is_refused_fast_and_limits_are_configurable() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    fs::create_dir_all(&input).unwrap();
    // Bigger than the default width limit too: the pixel count speaks first.
    fs::write(input.join("bomb.png"), png_bomb(100_000, 100_000)).unwrap();
    fs::write(input.join("wide.png"), png_bomb(70_000, 10)).unwrap();
    save_png(
        &ImageBuffer::from_raw(30, 20, gray_pixels(30, 20, 1)).unwrap()
            as &ImageBuffer<Luma<u8>, _>,
        &input.join("ok.png"),
    );
    let start = Instant::now();
    let o = files(tmp.path())
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    eprintln!(
        "bomb run (model load included): {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let lines = error_lines(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(lines.len(), 2, "{}", text(&o.stderr));
    // Workers run in parallel: find each file's line.
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}: {lines:?}"))
            .clone()
    };
    assert!(
        line("bomb.png")
            .contains("bomb.png: 100000x100000 is over the 1 Gpixel limit (--max-pixels"),
        "{lines:?}"
    );
    assert!(
        line("wide.png")
            .contains("wide.png: 70000x10 is over the width limit of 65535 pixels (--max-width)"),
        "{lines:?}"
    );
    assert_eq!(listing(&out), ["ok.png"]);

    // Lower limits refuse the small image too, each with its own flag.
    for (flag, value, says) in [
        (
            "--max-pixels",
            "599",
            "over the 599 pixel limit (--max-pixels 599)",
        ),
        ("--max-width", "29", "over the width limit of 29 pixels"),
        ("--max-height", "19", "over the height limit of 19 pixels"),
    ] {
        let o = files(tmp.path())
            .args([flag, value, "--out"])
            .arg(tmp.path().join("out2"))
            .arg(input.join("ok.png"))
            .output()
            .unwrap();
        assert!(!o.status.success(), "{flag}");
        let lines = error_lines(&o.stderr);
        assert_eq!(lines.len(), 1, "{}", text(&o.stderr));
        assert!(
            lines[0].contains("ok.png: 30x20 is") && lines[0].contains(says),
            "{}",
            lines[0]
        );
    }
    // --help documents the limits and their defaults.
    let help = text(
        &colorize()
            .args(["files", "--help"])
            .output()
            .unwrap()
            .stdout,
    );
    for s in [
        "--max-pixels",
        "[default: 1000000000]",
        "--max-decoded-mib",
        "[default: 8192]",
    ] {
        assert!(help.contains(s), "{s} not in --help: {help}");
    }
}

#[test]
fn a_huge_valid_image_is_colourized_in_full() {
    // 4.4 Mpixel, 27 recombination bands of 64 rows: larger than a
    // 2560x1600 scan, small enough for qemu-user.
    let (w, h) = (2600u32, 1700u32);
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    fs::create_dir_all(&input).unwrap();
    let gray = gray_pixels(w, h, 5);
    let img: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_raw(w, h, gray.clone()).unwrap();
    save_png(&img, &input.join("huge.png"));
    // At exactly the pixel limit it is taken.
    let o = files(tmp.path())
        .args(["--max-pixels", &(w * h).to_string(), "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let path = out.join("huge.png");
    let rgb = image::open(&path).unwrap().to_rgb8();
    assert_eq!(rgb.dimensions(), (w, h));
    // L* kept everywhere, sampled across every band.
    let l = gray_l(&gray);
    let worst = (0..(w * h) as usize)
        .step_by(101)
        .map(|i| {
            let p = &rgb.as_raw()[3 * i..3 * i + 3];
            let got = colorize_device::shared::lab::rgb8_to_lab(p[0], p[1], p[2]).0;
            (got as i32 - l[i] as i32).unsigned_abs()
        })
        .max()
        .unwrap();
    assert!(worst <= 256, "L* off by {}", worst as f32 / 256.0);
    assert_eq!(listing(&out), ["huge.png"]);
}

#[test]
fn an_unwritable_output_folder_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir_all(&input).unwrap();
    for k in 0..3 {
        save_png(
            &ImageBuffer::from_raw(9, 7, gray_pixels(9, 7, k)).unwrap()
                as &ImageBuffer<Luma<u8>, _>,
            &input.join(format!("p{k}.png")),
        );
    }
    // An existing folder that takes no new file: read-only permissions, or
    // (root ignores those) /proc/self, where no one creates files.
    let locked = tmp.path().join("locked");
    let unwritable = if permissions_apply(tmp.path()) {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
        locked.clone()
    } else {
        Path::new("/proc/self").to_path_buf()
    };
    // And an output "folder" that is a file.
    let file = tmp.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    for (out, says) in [
        (&unwritable, "the output folder is not writable"),
        (&file, "can not create the output folder"),
    ] {
        let o = files(tmp.path())
            .arg("--out")
            .arg(out)
            .arg(&input)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{}", out.display());
        let lines = error_lines(&o.stderr);
        assert_eq!(lines.len(), 1, "{}", text(&o.stderr));
        assert!(
            lines[0].contains(&out.display().to_string()) && lines[0].contains(says),
            "{}",
            lines[0]
        );
    }
    assert_eq!(fs::read(&file).unwrap(), b"x");
    if locked.exists() {
        assert!(listing(&locked).is_empty());
    }
}

#[test]
fn a_full_disk_fails_that_file_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    fs::create_dir_all(&input).unwrap();
    // Outputs: tiny.png a few hundred bytes, noisy.png some 30 KB.
    save_png(
        &ImageBuffer::from_pixel(2, 2, Luma([90u8])) as &ImageBuffer<Luma<u8>, _>,
        &input.join("tiny.png"),
    );
    save_png(
        &ImageBuffer::from_raw(100, 100, gray_pixels(100, 100, 9)).unwrap()
            as &ImageBuffer<Luma<u8>, _>,
        &input.join("noisy.png"),
    );
    const LIMIT: libc::rlim_t = 4096;
    let mut cmd = files(tmp.path());
    cmd.args(["--threads", "1", "--out"]).arg(&out).arg(&input);
    // Every write past 4 KiB fails with EFBIG, as on a full disk (ENOSPC):
    // RLIMIT_FSIZE, with SIGXFSZ ignored so the write returns an error
    // instead of killing the process. Both survive exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0
                || libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    let stderr = text(&o.stderr);
    assert!(!o.status.success(), "{stderr}");
    assert!(
        text(&o.stdout).contains("1 ok, 1 failed"),
        "{}",
        text(&o.stdout)
    );
    let lines = error_lines(&o.stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("noisy.png") && lines[0].contains("File too large"),
        "{}",
        lines[0]
    );
    // No temp file, no partial noisy.png; tiny.png complete.
    assert_eq!(listing(&out), ["tiny.png"]);
    assert_eq!(
        image::image_dimensions(out.join("tiny.png")).unwrap(),
        (2, 2)
    );
}
