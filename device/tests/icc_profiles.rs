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

/// D50, the PCS's white.
const D50: lcms2::CIExyY = lcms2::CIExyY {
    x: 0.3457,
    y: 0.3585,
    Y: 1.0,
};

fn s15(v: f64) -> [u8; 4] {
    ((v * 65536.0).round() as i32).to_be_bytes()
}

/// A v2 `lut16Type` of `n`^3 grid points, 3 channels in and out, linear
/// input and output tables and an identity matrix around `clut`.
fn lut16(n: usize, clut: &[u16]) -> Vec<u8> {
    assert_eq!(clut.len(), 3 * n * n * n);
    let mut t = b"mft2\0\0\0\0".to_vec();
    t.extend([3, 3, n as u8, 0]);
    for (i, _) in (0..9).enumerate() {
        t.extend(s15(if i % 4 == 0 { 1.0 } else { 0.0 }));
    }
    t.extend(2u16.to_be_bytes());
    t.extend(2u16.to_be_bytes());
    let ramp = || [0u16, 65535].into_iter().flat_map(u16::to_be_bytes);
    (0..3).for_each(|_| t.extend(ramp()));
    t.extend(clut.iter().flat_map(|v| v.to_be_bytes()));
    (0..3).for_each(|_| t.extend(ramp()));
    t
}

/// A display RGB profile whose PCS is Lab, not XYZ: sRGB's colours as two
/// 33-point lut16 tables (A2B0 RGB -> Lab, B2A0 Lab -> RGB) sampled through
/// Little CMS, in the legacy 16-bit Lab encoding of v2 lut16 tables.
fn lab_pcs_rgb_profile() -> Vec<u8> {
    use lcms2::{Intent, PixelFormat, Profile, Transform};
    const N: usize = 33;
    let srgb = Profile::new_srgb();
    let lab = Profile::new_lab2_context(lcms2::GlobalContext::new(), &D50).unwrap();
    let to_lab: Transform<[f64; 3], [f64; 3]> = Transform::new(
        &srgb,
        PixelFormat::RGB_DBL,
        &lab,
        PixelFormat::Lab_DBL,
        Intent::Perceptual,
    )
    .unwrap();
    let to_rgb: Transform<[f64; 3], [f64; 3]> = Transform::new(
        &lab,
        PixelFormat::Lab_DBL,
        &srgb,
        PixelFormat::RGB_DBL,
        Intent::Perceptual,
    )
    .unwrap();
    let grid = |i: usize| i as f64 / (N - 1) as f64;
    // The first channel varies slowest.
    let points: Vec<[f64; 3]> = (0..N * N * N)
        .map(|i| [grid(i / (N * N)), grid(i / N % N), grid(i % N)])
        .collect();
    let enc = |v: f64| (v.clamp(0.0, 65535.0)).round() as u16;
    let mut lab_values = vec![[0.0; 3]; points.len()];
    to_lab.transform_pixels(&points, &mut lab_values);
    let a2b: Vec<u16> = lab_values
        .iter()
        .flat_map(|[l, a, b]| {
            [
                enc(l / 100.0 * 65280.0),
                enc((a + 128.0) * 256.0),
                enc((b + 128.0) * 256.0),
            ]
        })
        .collect();
    let lab_points: Vec<[f64; 3]> = points
        .iter()
        .map(|g| {
            let v = g.map(|c| c * 65535.0);
            [
                v[0] / 65280.0 * 100.0,
                v[1] / 256.0 - 128.0,
                v[2] / 256.0 - 128.0,
            ]
        })
        .collect();
    let mut rgb_values = vec![[0.0; 3]; points.len()];
    to_rgb.transform_pixels(&lab_points, &mut rgb_values);
    let b2a: Vec<u16> = rgb_values
        .iter()
        .flat_map(|c| c.map(|v| enc(v * 65535.0)))
        .collect();

    let name = b"RGB with a Lab PCS (colorize test)\0";
    let mut desc = b"desc\0\0\0\0".to_vec();
    desc.extend((name.len() as u32).to_be_bytes());
    desc.extend(name);
    desc.extend([0u8; 4 + 4 + 2 + 1 + 67]);
    let mut wtpt = b"XYZ \0\0\0\0".to_vec();
    [0.9642, 1.0, 0.8249]
        .iter()
        .for_each(|&v| wtpt.extend(s15(v)));
    let tags: Vec<(&[u8; 4], Vec<u8>)> = vec![
        (b"desc", desc),
        (b"wtpt", wtpt),
        (b"A2B0", lut16(N, &a2b)),
        (b"B2A0", lut16(N, &b2a)),
    ];
    let mut offset = 128 + 4 + 12 * tags.len();
    let mut table = (tags.len() as u32).to_be_bytes().to_vec();
    let mut data = Vec::new();
    for (sig, body) in &tags {
        table.extend(*sig);
        table.extend((offset as u32).to_be_bytes());
        table.extend((body.len() as u32).to_be_bytes());
        data.extend(body);
        while data.len() % 4 != 0 {
            data.push(0);
        }
        offset = 128 + table.len().max(4 + 12 * tags.len()) + data.len();
    }
    let size = 128 + table.len() + data.len();
    let mut header = Vec::with_capacity(128);
    header.extend((size as u32).to_be_bytes());
    header.extend([0u8; 4]);
    header.extend(0x0210_0000u32.to_be_bytes());
    header.extend(b"mntrRGB Lab ");
    header.extend([0u8; 12]);
    header.extend(b"acsp");
    header.extend([0u8; 4 + 4 + 4 + 4 + 8 + 4]);
    [0.9642, 1.0, 0.8249]
        .iter()
        .for_each(|&v| header.extend(s15(v)));
    header.resize(128, 0);
    [header, table, data].concat()
}

/// L* (D50, the PCS's) of 16-bit RGB pixels through `icc`.
fn l_through(icc: &[u8], rgb: &[u16]) -> Vec<f64> {
    let p = lcms2::Profile::new_icc(icc).unwrap();
    let lab = lcms2::Profile::new_lab4_context(lcms2::GlobalContext::new(), &D50).unwrap();
    let t: lcms2::Transform<[u16; 3], [f64; 3]> = lcms2::Transform::new(
        &p,
        lcms2::PixelFormat::RGB_16,
        &lab,
        lcms2::PixelFormat::Lab_DBL,
        lcms2::Intent::Perceptual,
    )
    .unwrap();
    let px: Vec<[u16; 3]> = rgb.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    let mut out = vec![[0.0; 3]; px.len()];
    t.transform_pixels(&px, &mut out);
    out.iter().map(|l| l[0]).collect()
}

#[test]
fn an_rgb_master_with_a_lab_pcs_keeps_the_l_its_profile_means() {
    let tmp = tempfile::tempdir().unwrap();
    let icc = lab_pcs_rgb_profile();
    assert!(
        moxcms::ColorProfile::new_from_slice(&icc).is_ok(),
        "the test profile must parse"
    );
    let (w, h) = (64u32, 48u32);
    // A warm-toned print: gray levels 5-95 % with a little sepia.
    let samples: Vec<u16> = (0..w * h)
        .flat_map(|i| {
            let v = 0.05 + 0.9 * (i % w) as f64 / (w - 1) as f64;
            [v, v * 0.96, v * 0.9].map(|c| (c * 65535.0).round() as u16)
        })
        .collect();
    let input = tmp.path().join("print.tif");
    {
        let mut f = fs::File::create(&input).unwrap();
        let mut enc = tiff::encoder::TiffEncoder::new(&mut f).unwrap();
        let mut img = enc
            .new_image::<tiff::encoder::colortype::RGB16>(w, h)
            .unwrap();
        img.encoder()
            .write_tag(tiff::tags::Tag::Unknown(34675), &icc[..])
            .unwrap();
        img.write_data(&samples).unwrap();
    }
    let (rgb, stderr) = colorize_one(&input, &tmp.path().join("out"));
    assert!(
        !stderr.lines().any(|l| l.starts_with("note:")),
        "the profile must be used, not reported: {stderr}"
    );
    // The output is in the input's space: both read through its profile.
    let want = l_through(&icc, &samples);
    let got = l_through(&icc, rgb.as_raw());
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .sum::<f64>()
        / want.len() as f64;
    println!("RGB with a Lab PCS: mean |L* error| {err:.3}");
    assert!(err < 0.5, "mean L* error {err:.3} (limit 0.5)");
}
