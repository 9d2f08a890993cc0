//! Mosaics: many small training images packed into one JPEG (the compact
//! data set of `colorize-train pack`), and the names that mark them.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::cache::load_cached;
use super::load::LoadOptions;
use super::Sample;

/// `name.tiles64.jpg` -> 64: a mosaic of 64x64 images (see [`write_mosaics`]).
pub fn mosaic_tile_size(path: &str) -> Option<usize> {
    let lower = path.to_ascii_lowercase();
    let stem = lower.rsplit_once('.')?.0;
    stem.rsplit_once(".tiles")?
        .1
        .parse()
        .ok()
        .filter(|&t| t > 0)
}

/// Packs samples (each at least `tile x tile`, centre-cropped) into JPEG
/// mosaics of `per_side x per_side` tiles named `NNNN.tiles<tile>.jpg` in
/// `dir`: one file header per mosaic instead of one per image, which is
/// most of a 64x64 JPEG's size. Returns the files written.
pub fn write_mosaics(
    samples: &[&Sample],
    tile: usize,
    per_side: usize,
    quality: u8,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    // Full mosaics, then the last one's whole rows, then its last partial
    // row as a one-row mosaic: no cell is ever left empty (an empty cell
    // would be read back as an image).
    let mut chunks: Vec<&[&Sample]> = samples.chunks(per_side * per_side).collect();
    if let Some(last) = chunks.pop() {
        let whole = last.len() / per_side * per_side;
        chunks.extend(
            [&last[..whole], &last[whole..]]
                .into_iter()
                .filter(|c| !c.is_empty()),
        );
    }
    for (k, chunk) in chunks.into_iter().enumerate() {
        let cols = chunk.len().min(per_side);
        let rows = chunk.len().div_ceil(per_side) as u32;
        let side = (tile * cols) as u32;
        let mut img = image::RgbImage::new(side, rows * tile as u32);
        for (i, s) in chunk.iter().enumerate() {
            let (x0, y0) = s.centre(tile);
            let rgb = s.crop_rgb8(x0, y0, tile);
            let cell = image::RgbImage::from_raw(tile as u32, tile as u32, rgb)
                .context("tile buffer size")?;
            let (cx, cy) = ((i % per_side * tile) as i64, (i / per_side * tile) as i64);
            image::imageops::replace(&mut img, &cell, cx, cy);
        }
        let path = dir.join(format!("{k:04}.tiles{tile}.jpg"));
        let mut out = std::io::BufWriter::new(
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(&img)
            .with_context(|| format!("encoding {}", path.display()))?;
        files.push(path);
    }
    Ok(files)
}

/// What [`pack`] did.
pub struct PackReport {
    /// Images decoded and kept.
    pub loaded: usize,
    pub skipped_gray: usize,
    /// Images packed.
    pub packed: usize,
    /// The mosaics written.
    pub files: Vec<PathBuf>,
    /// Their total size.
    pub bytes: u64,
}

/// `colorize-train pack`: loads `sources` (through the decoded-data cache
/// `cache`), keeps `images` of them (default: all) evenly spaced over the
/// sources' order, so every class of class-ordered shards keeps its share,
/// and writes them into `dir` as mosaics of `opts.size` tiles.
pub fn pack(
    sources: &[PathBuf],
    opts: &LoadOptions,
    images: Option<usize>,
    per_side: usize,
    quality: u8,
    dir: &Path,
    cache: Option<&Path>,
) -> Result<PackReport> {
    let (samples, report) = load_cached(sources, opts, cache)?;
    let n = images.unwrap_or(samples.len()).min(samples.len());
    if n == 0 {
        bail!("no images to pack in --data");
    }
    // Evenly spaced indices: i * len / n.
    let picked: Vec<&Sample> = (0..n).map(|i| &samples[i * samples.len() / n]).collect();
    let files = write_mosaics(&picked, opts.size, per_side.max(1), quality, dir)?;
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    Ok(PackReport {
        loaded: samples.len(),
        skipped_gray: report.skipped_gray,
        packed: n,
        files,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::load::load;

    #[test]
    fn mosaic_names() {
        assert_eq!(mosaic_tile_size("pack/0003.tiles64.jpg"), Some(64));
        assert_eq!(mosaic_tile_size("a/b.TILES32.JPG"), Some(32));
        assert_eq!(mosaic_tile_size("a/tiles64.jpg"), None);
        assert_eq!(mosaic_tile_size("a/n01443537_0.JPEG"), None);
    }

    #[test]
    fn mosaics_round_trip_their_tiles() {
        let dir = tempfile::tempdir().unwrap();
        // Five distinct flat colours, 16x16 each (a multiple of the JPEG
        // block, as 64 is); 2x2 tiles per mosaic -> two files. The edge
        // pixels of a tile may blend with its neighbours': compare inside.
        let colours = [
            [200u8, 30, 30],
            [30, 200, 30],
            [30, 30, 200],
            [200, 200, 30],
            [30, 200, 200],
        ];
        let samples: Vec<Sample> = colours
            .iter()
            .map(|c| Sample::from_rgb8(16, 16, &c.repeat(256)))
            .collect();
        let refs: Vec<&Sample> = samples.iter().collect();
        let files = write_mosaics(&refs, 16, 2, 95, dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let opts = LoadOptions {
            size: 16,
            classes: None,
            gray_threshold: 3.0,
            max_images: None,
            squash_crops: None,
            progress: false,
        };
        let (back, report) = load(&[dir.path().to_path_buf()], &opts).unwrap();
        // 2x2, then the fifth alone: no empty cell is read back as an image.
        assert_eq!(back.len(), 5, "{report:?}");
        assert_eq!(report.skipped_gray, 0);
        for (a, b) in samples.iter().zip(&back) {
            let (ra, rb) = (a.crop_rgb8(2, 2, 12), b.crop_rgb8(2, 2, 12));
            let worst = ra
                .iter()
                .zip(&rb)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap();
            assert!(worst <= 12, "tile changed by {worst} levels through JPEG");
        }
    }
}
