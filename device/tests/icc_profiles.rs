//! Profiles moxcms cannot connect go through Little CMS, not to sRGB: a
//! 16-bit gray master tagged with Little CMS's "Gray CIE L*" profile (a Lab
//! PCS; Debian's icc-profiles-free, which `scripts/setup.sh` installs), and
//! an RGB profile with a Lab PCS, keep the L* their profile means, through
//! the real `colorize files`, with no `note:` about colour management.

mod cli_common;

use std::fs;
use std::path::Path;

use cli_common::*;
use colorize_device::shared::lab16;

const GRAY_CIE_L: &str = "/usr/share/color/icc/Gray-CIE_L.icc";

fn profile(path: &str) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (Debian's icc-profiles-free; scripts/setup.sh installs it)")
    })
}

/// A 16-bit gray TIFF of `samples` (w x h) carrying `icc`.
fn gray16_tiff(path: &Path, w: u32, h: u32, samples: &[u16], icc: &[u8]) {
    let mut f = fs::File::create(path).unwrap();
    let mut enc = tiff::encoder::TiffEncoder::new(&mut f).unwrap();
    let mut img = enc
        .new_image::<tiff::encoder::colortype::Gray16>(w, h)
        .unwrap();
    img.encoder()
        .write_tag(tiff::tags::Tag::Unknown(34675), icc)
        .unwrap();
    img.write_data(samples).unwrap();
}

/// Runs `colorize files --format tiff` on one input; returns the decoded
/// 16-bit RGB output and stderr.
fn colorize_one(
    input: &Path,
    out: &Path,
) -> (image::ImageBuffer<image::Rgb<u16>, Vec<u16>>, String) {
    let o = colorize()
        .args(["files", "--format", "tiff", "--out"])
        .arg(out)
        .arg(input)
        .output()
        .unwrap();
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let name = input.file_stem().unwrap().to_string_lossy().into_owned() + ".tiff";
    let img = image::open(out.join(name)).unwrap();
    assert!(
        matches!(img, image::DynamicImage::ImageRgb16(_)),
        "a 16-bit master gives a 16-bit output"
    );
    (img.to_rgb16(), stderr)
}

#[test]
fn a_gray_cie_l_master_keeps_the_l_its_profile_means() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, h) = (64u32, 48u32);
    // L* from 5 to 95 across the image: Gray CIE L* stores L* / 100 of
    // full scale, so sample v means L* = 100 v / 65535.
    let samples: Vec<u16> = (0..w * h)
        .map(|i| {
            let l = 5.0 + 90.0 * (i % w) as f64 / (w - 1) as f64;
            (l / 100.0 * 65535.0).round() as u16
        })
        .collect();
    let input = tmp.path().join("master.tif");
    gray16_tiff(&input, w, h, &samples, &profile(GRAY_CIE_L));
    let (rgb, stderr) = colorize_one(&input, &tmp.path().join("out"));
    assert!(
        !stderr.lines().any(|l| l.starts_with("note:")),
        "the profile must be used, not reported: {stderr}"
    );
    // The output is sRGB (a gray profile cannot describe colour).
    let mut l = vec![0u16; (w * h) as usize];
    lab16::rgb16_to_l_plane(rgb.as_raw(), &mut l);
    let err: f64 = l
        .iter()
        .zip(&samples)
        .map(|(&got, &v)| (got as f64 / 256.0 - 100.0 * v as f64 / 65535.0).abs())
        .sum::<f64>()
        / l.len() as f64;
    println!("Gray CIE L*: mean |L* error| {err:.3}");
    assert!(err < 0.5, "mean L* error {err:.3} (limit 0.5)");
}
