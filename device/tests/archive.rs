//! Issue 16, an archivist's batch: a tree whose boxes repeat file names, a
//! 16-bit gray TIFF master with a Gray Gamma 2.2 profile and EXIF, a JPEG
//! with EXIF orientation 6 and a 16-bit PNG, through the real
//! `colorize files`; checked with a decoder and with exiftool (an
//! independent reader; `scripts/setup.sh` installs it).

mod cli_common;

use std::fs;
use std::path::Path;
use std::process::Command;

use cli_common::*;
use colorize_device::shared::lab16;
use image::{DynamicImage, ImageBuffer, Luma, Rgb};

/// exiftool's values (`-n`: numbers, not prose) of `tags`, one per line.
fn exiftool(path: &Path, tags: &[&str]) -> Vec<String> {
    let o = Command::new("exiftool")
        .args(["-n", "-s3", "-f"])
        .args(tags.iter().map(|t| format!("-{t}")))
        .arg(path)
        .output()
        .expect("exiftool (Debian libimage-exiftool-perl; scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout).lines().map(str::to_string).collect()
}

fn exiftool_write(path: &Path, args: &[&str]) {
    let o = Command::new("exiftool")
        .args(["-q", "-overwrite_original"])
        .args(args)
        .arg(path)
        .output()
        .expect("exiftool");
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// Mean L* of a decoded output, through the 16-bit path.
fn mean_l(img: &DynamicImage) -> f64 {
    let rgb = img.to_rgb16();
    let mut l = vec![0u16; (rgb.width() * rgb.height()) as usize];
    lab16::rgb16_to_l_plane(rgb.as_raw(), &mut l);
    l.iter().map(|&v| v as f64 / 256.0).sum::<f64>() / l.len() as f64
}

#[test]
fn an_archive_tree_keeps_its_paths_depth_metadata_and_declares_machine_colour() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("scans");
    let out = tmp.path().join("colorized");
    for b in ["box1", "box2"] {
        fs::create_dir_all(input.join(b)).unwrap();
    }

    // box1/0001.tif: a 16-bit gray master at 10 % of full scale, tagged
    // Gray Gamma 2.2: Y = 0.1^2.2, L* 5.7 (read as sRGB it would be 9.0).
    let gray22 = moxcms::ColorProfile::new_gray_with_gamma(2.2)
        .encode()
        .unwrap();
    let master = input.join("box1/0001.tif");
    gray16_tiff(&master, 48, 32, &[6554; 48 * 32], &gray22);
    exiftool_write(
        &master,
        &[
            "-ImageDescription=Box 1, print 1: wedding, 1921",
            "-DateTimeOriginal=1921:05:04 10:00:00",
        ],
    );
    // box2/0001.tif: the same name, 8 bits.
    let img8: ImageBuffer<Luma<u8>, Vec<u8>> =
        ImageBuffer::from_raw(40, 30, gray_pixels(40, 30, 3)).unwrap();
    img8.save(input.join("box2/0001.tif")).unwrap();
    // box2/portrait.jpg: stored 60 wide, 40 high, shown rotated (orientation 6).
    let jpeg = input.join("box2/portrait.jpg");
    ImageBuffer::from_fn(60, 40, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 90u8]))
        .save(&jpeg)
        .unwrap();
    exiftool_write(&jpeg, &["-Orientation#=6", "-Artist=A. Photographer"]);
    // box1/deep.png: a 16-bit gray PNG.
    let deep: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(30, 20, |x, y| Luma([(x * 2000 + y * 300) as u16]));
    deep.save(input.join("box1/deep.png")).unwrap();

    let o = colorize()
        .args(["files", "--threads", "2", "--format", "tiff", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("4 ok, 0 failed"),
        "{}",
        text(&o.stdout)
    );

    // Mirrored paths, names repeated across boxes.
    assert_eq!(listing(&out), ["box1", "box2"]);
    assert_eq!(listing(&out.join("box1")), ["0001.tiff", "deep.tiff"]);
    assert_eq!(listing(&out.join("box2")), ["0001.tiff", "portrait.tiff"]);

    // Bit depth follows the input.
    let open = |p: &str| image::open(out.join(p)).unwrap();
    let master_out = open("box1/0001.tiff");
    assert!(
        matches!(master_out, DynamicImage::ImageRgb16(_)),
        "{:?}",
        master_out.color()
    );
    assert!(matches!(
        open("box1/deep.tiff"),
        DynamicImage::ImageRgb16(_)
    ));
    assert!(matches!(open("box2/0001.tiff"), DynamicImage::ImageRgb8(_)));
    assert!(matches!(
        open("box2/portrait.tiff"),
        DynamicImage::ImageRgb8(_)
    ));

    // L* through the Gray Gamma 2.2 profile, not sRGB's reading of the codes.
    let y: f64 = (6554f64 / 65535.0).powf(2.2);
    let want = 116.0 * y.cbrt() - 16.0;
    let got = mean_l(&master_out);
    assert!(
        (got - want).abs() < 0.5,
        "L* {got:.2}, the profile says {want:.2} (sRGB would be 9.0)"
    );

    // The master's EXIF is kept; its gray profile became sRGB (the output
    // is RGB); machine colour is declared.
    let m = exiftool(
        &out.join("box1/0001.tiff"),
        &[
            "ImageDescription",
            "DateTimeOriginal",
            "ICC_Profile:ColorSpaceData",
            "XMP-iptcExt:DigitalSourceType",
            "XMP-xmp:CreatorTool",
            "BitsPerSample",
            "Compression",
        ],
    );
    assert_eq!(m[0], "Box 1, print 1: wedding, 1921");
    assert_eq!(m[1], "1921:05:04 10:00:00");
    assert_eq!(m[2].trim(), "RGB");
    assert_eq!(
        m[3],
        "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    );
    assert!(m[4].starts_with("colorize "), "{}", m[4]);
    assert_eq!(m[5], "16 16 16");
    assert_eq!(m[6], "5", "LZW");

    // Orientation: the tag is kept and the pixels are not rotated, so
    // viewers turn the output as they turned the input.
    let p = exiftool(
        &out.join("box2/portrait.tiff"),
        &[
            "Orientation",
            "Artist",
            "ImageWidth",
            "ImageHeight",
            "XMP-iptcExt:DigitalSourceType",
        ],
    );
    assert_eq!(&p[..4], ["6", "A. Photographer", "60", "40"]);
    assert!(p[4].ends_with("compositeWithTrainedAlgorithmicMedia"));

    // Every output declares itself, and `colorize info` reads it back.
    for f in ["box1/deep.tiff", "box2/0001.tiff"] {
        let d = exiftool(
            &out.join(f),
            &["XMP-iptcExt:DigitalSourceType", "XMP-xmp:CreatorTool"],
        );
        assert!(
            d[0].ends_with("compositeWithTrainedAlgorithmicMedia"),
            "{f}: {d:?}"
        );
        let o = colorize().arg("info").arg(out.join(f)).output().unwrap();
        assert!(o.status.success(), "{f}: {}", text(&o.stdout));
        assert!(text(&o.stdout).contains(&format!("CreatorTool: {}", d[1])));
    }

    // The same tree as PNG: 16-bit stays 16-bit; as JPEG: 8-bit, and
    // --depth 16 is refused for JPEG before any work.
    let png_out = tmp.path().join("png");
    let o = colorize()
        .args(["files", "--out"])
        .arg(&png_out)
        .arg(&input)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let png_master = image::open(png_out.join("box1/0001.png")).unwrap();
    assert!(matches!(png_master, DynamicImage::ImageRgb16(_)));
    assert_eq!(
        exiftool(&png_out.join("box2/portrait.png"), &["Orientation"]),
        ["6"]
    );
    let o = colorize()
        .args(["files", "--format", "jpeg", "--depth", "16", "--out"])
        .arg(tmp.path().join("jpeg"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("JPEG holds 8-bit samples only"),
        "{}",
        text(&o.stderr)
    );
    assert!(!tmp.path().join("jpeg").exists());
}
