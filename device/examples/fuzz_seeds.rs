//! Writes the seed corpora of the cargo-fuzz targets (`fuzz/seeds/<target>/`):
//! tiny images, tiny generated ONNX models, box configs, camera frames and
//! colour hints.
//! Everything is generated here; no dataset file is copied.
//!
//! ```text
//! cargo run -p colorize-device --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! The camera-frame seeds start with the 13-byte geometry header the
//! `convert_*` targets parse (documented in `fuzz/src/lib.rs`).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use colorize_device::boxd::config::BoxConfig;
use colorize_model::onnx::{to_onnx, to_onnx_int8};
use colorize_model::pb::ModelProto;
use colorize_model::synthetic::{conv_net, mlp_net};
use colorize_model::Message;
use colorize_shared::contract::meta;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage, Rgba, RgbaImage};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("{}: can not write", path.display()))?;
    println!("{}: {} bytes", path.display(), bytes.len());
    Ok(())
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

fn gray(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageLuma8(GrayImage::from_fn(w, h, |x, y| {
        Luma([(x * 29 + y * 17) as u8])
    }))
}

fn rgb(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 40) as u8, (y * 60) as u8, ((x + y) * 20) as u8])
    }))
}

/// `model` without the card's initializers hash.
fn unstamped(model: &[u8]) -> Result<Vec<u8>> {
    let mut proto = ModelProto::decode(model)?;
    proto
        .metadata_props
        .retain(|e| e.key != meta::INITIALIZERS_SHA256);
    Ok(proto.encode_to_vec())
}

/// The `convert_*` targets' header: width, height, stride, bytesused, flags.
fn frame(w: u16, h: u16, stride: u32, bytesused: u32, flags: u8, buf: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&w.to_le_bytes());
    v.extend_from_slice(&h.to_le_bytes());
    v.extend_from_slice(&stride.to_le_bytes());
    v.extend_from_slice(&bytesused.to_le_bytes());
    v.push(flags);
    v.extend_from_slice(buf);
    v
}

fn main() -> Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );

    // decode_image: each format and colour type `colorize files` accepts.
    let rgba = DynamicImage::ImageRgba8(RgbaImage::from_fn(5, 3, |x, y| {
        Rgba([(x * 50) as u8, (y * 80) as u8, 128, (x * y * 30) as u8])
    }));
    let gray16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(4, 4, |x, y| {
        Luma([(x * 16000 + y * 300) as u16])
    }));
    let jpeg = encode(&rgb(16, 8), ImageFormat::Jpeg)?;
    for (name, bytes) in [
        ("gray8.png", encode(&gray(8, 8), ImageFormat::Png)?),
        ("rgb8.png", encode(&rgb(6, 4), ImageFormat::Png)?),
        ("rgba8.png", encode(&rgba, ImageFormat::Png)?),
        ("gray16.png", encode(&gray16, ImageFormat::Png)?),
        ("gray.jpg", encode(&gray(16, 16), ImageFormat::Jpeg)?),
        ("rgb.jpg", jpeg.clone()),
        ("rgb.tiff", encode(&rgb(4, 4), ImageFormat::Tiff)?),
        ("gray16.tiff", encode(&gray16, ImageFormat::Tiff)?),
    ] {
        write(&dir, "decode_image", name, &bytes)?;
    }

    // load_model: tiny valid models covering every op, float and int8.
    let size = 4;
    let calib: Vec<Vec<f32>> = (0..2)
        .map(|k| {
            (0..size * size)
                .map(|i| ((i as f32 * 0.37 + k as f32).sin()).clamp(-1.0, 1.0))
                .collect()
        })
        .collect();
    // The writer stamps the initializers' SHA-256 on the card, so mutated
    // weights fail that check early; the unstamped copies let mutations
    // reach tract's loader and the contract check.
    let conv = conv_net(size, 2, 7);
    let conv_int8 = to_onnx_int8(&conv, &calib)?;
    let mlp = to_onnx(&mlp_net(2, 3, 7))?;
    let models = [
        ("conv4.onnx", to_onnx(&conv)?),
        ("conv4-int8.onnx", conv_int8.clone()),
        ("mlp2.onnx", mlp.clone()),
        ("conv4-int8-nohash.onnx", unstamped(&conv_int8)?),
        ("mlp2-nohash.onnx", unstamped(&mlp)?),
    ];
    for (name, bytes) in models {
        write(&dir, "load_model", name, &bytes)?;
    }

    // box_config: the defaults spelled out, a camera box, decode limits, a typo.
    let camera = "[camera]\nenabled = true\nwidth = 640\nheight = 480\nformat = \"mjpeg\"\n\
                  frame_slots = 3\n[button]\nenabled = true\nline = 17\n\
                  [led]\nenabled = true\nline = 27\nheartbeat_ms = 0\n\
                  [model]\npath = \"/usr/share/colorize/model.onnx\"\n";
    BoxConfig::from_toml(camera).context("camera seed must be valid")?;
    for (name, text) in [
        ("defaults.toml", BoxConfig::default().to_toml()),
        ("camera.toml", camera.to_string()),
        (
            "inbox.toml",
            "[inbox]\ndir = \"/srv/scans\"\ndone_dir = \"/srv/done\"\npoll_ms = 250\n\
             [output]\ndir = \"out\"\n"
                .to_string(),
        ),
        (
            "limits.toml",
            "[limits]\nmax_width = 8000\nmax_height = 6000\nmax_pixels = 40000000\n\
             max_decoded_bytes = 268435456\nmemory_mb = 512\n"
                .to_string(),
        ),
        ("typo.toml", "[inbox]\npol_ms = 5\n".to_string()),
    ] {
        write(&dir, "box_config", name, text.as_bytes())?;
    }

    // convert_grey / convert_yuyv: packed, padded, last row without padding.
    let px: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37)).collect();
    write(
        &dir,
        "convert_grey",
        "packed-4x3",
        &frame(4, 3, 0, 12, 0, &px[..12]),
    )?;
    write(
        &dir,
        "convert_grey",
        "stride-3x2",
        &frame(3, 2, 5, 10, 0, &px[..10]),
    )?;
    write(
        &dir,
        "convert_grey",
        "short-last-row",
        &frame(2, 2, 3, 5, 0, &px[..5]),
    )?;
    write(
        &dir,
        "convert_yuyv",
        "packed-4x2",
        &frame(4, 2, 0, 16, 0, &px[..16]),
    )?;
    write(
        &dir,
        "convert_yuyv",
        "stride-3x3",
        &frame(3, 3, 8, 24, 0, &px[..24]),
    )?;
    write(
        &dir,
        "convert_yuyv",
        "truncated",
        &frame(4, 4, 8, 20, 0, &px[..20]),
    )?;

    // convert_mjpeg: gray and colour JPEGs at their negotiated sizes.
    let gray_jpeg = encode(&gray(8, 8), ImageFormat::Jpeg)?;
    let n = |v: &Vec<u8>| v.len() as u32;
    write(
        &dir,
        "convert_mjpeg",
        "rgb-16x8",
        &frame(16, 8, 0, n(&jpeg), 0, &jpeg),
    )?;
    write(
        &dir,
        "convert_mjpeg",
        "gray-8x8",
        &frame(8, 8, 0, n(&gray_jpeg), 0, &gray_jpeg),
    )?;
    write(
        &dir,
        "convert_mjpeg",
        "size-mismatch",
        &frame(8, 4, 0, n(&jpeg), 0, &jpeg),
    )?;
    // hints: JSON files (pixels, fractions, empty, typos, malformed) and
    // `--hint` arguments; the target reads every seed both ways.
    for (name, text) in [
        ("arg-bad.txt", r##"10,20=#12345"##),
        ("arg-fraction.txt", r##" 50% , 25% = 62,-30.5,41 / 2%"##),
        ("arg-hex.txt", r##"812,640=#3a7d2c/12"##),
        ("empty.json", r##"{"points": []}"##),
        (
            "fraction.json",
            r##"{"units": "fraction", "points": [{"x": 0.5, "y": 0.25, "colour": "#00ff00", "radius": 0.01}, {"x": 0.999, "y": 0, "lab": [100, -128, 127]}]}"##,
        ),
        ("malformed.json", "{\"points\": [\n  {\"x\": 1,, }\n]}\n"),
        (
            "pixels.json",
            r##"{ "units": "pixels", "points": [ { "x": 812, "y": 640, "colour": "#3a7d2c" }, { "x": 100, "y": 40, "lab": [62.0, -30.5, 41.0], "radius": 12 }, { "x": 1, "y": 1, "color": "#FFFFFF" } ] }"##,
        ),
        (
            "typo.json",
            r##"{"points": [{"x": 1, "y": 2, "colr": "#ffffff"}, {"x": 1, "y": 2, "colour": "#ffffff", "lab": [1, 2, 3]}]}"##,
        ),
    ] {
        write(&dir, "hints", name, text.as_bytes())?;
    }
    Ok(())
}
