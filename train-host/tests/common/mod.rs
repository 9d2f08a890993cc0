//! Synthetic images for the train-host tests, with a colour rule a model can
//! learn: the colour is a fixed function of the brightness pattern.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// A smooth random pattern `v` in 0..=255 coloured by the rule
/// (r, g, b) = (v, v / 2 + 40, 255 - v): every L* has one a*b*.
pub fn coloured(seed: u64, w: u32, h: u32) -> image::RgbImage {
    let f = |k: u64| ((seed.wrapping_mul(2654435761).wrapping_add(k * 97)) % 1000) as f32 / 1000.0;
    let (fx, fy, px, py) = (0.05 + 0.3 * f(1), 0.05 + 0.3 * f(2), 6.0 * f(3), 6.0 * f(4));
    image::RgbImage::from_fn(w, h, |x, y| {
        let v = 127.5 + 127.0 * (fx * x as f32 + px).sin() * (fy * y as f32 + py).cos();
        let v = v.clamp(0.0, 255.0) as u8;
        image::Rgb([v, v / 2 + 40, 255 - v])
    })
}

/// The same kind of pattern with three equal channels.
pub fn gray(seed: u64, w: u32, h: u32) -> image::RgbImage {
    let mut img = coloured(seed, w, h);
    for p in img.pixels_mut() {
        p.0 = [p.0[0]; 3];
    }
    img
}

pub fn png_bytes(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Tiny-ImageNet-style entries: `n_col` coloured images split over two
/// classes plus `n_gray` gray ones, as (path inside the dataset, PNG bytes).
pub fn dataset(n_col: usize, n_gray: usize, size: u32) -> Vec<(String, Vec<u8>)> {
    let classes = ["n01443537", "n01629819"];
    let mut v = Vec::new();
    for i in 0..n_col {
        let c = classes[i % 2];
        v.push((
            format!("tiny/train/{c}/images/{c}_{i}.png"),
            png_bytes(&coloured(i as u64, size, size)),
        ));
    }
    for i in 0..n_gray {
        let c = classes[i % 2];
        v.push((
            format!("tiny/train/{c}/images/{c}_g{i}.png"),
            png_bytes(&gray(1000 + i as u64, size, size)),
        ));
    }
    v
}

pub fn write_tar_gz(path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

pub fn write_folder(root: &Path, entries: &[(String, Vec<u8>)]) -> PathBuf {
    for (name, bytes) in entries {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    root.to_path_buf()
}
