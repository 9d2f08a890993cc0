//! Reading images from folders, single files, `.tar` / `.tar.gz` shards and
//! mosaics, filtered by class and grayness as they are decoded.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::imageops::FilterType;

use super::classes::wnid_of;
use super::mosaic::mosaic_tile_size;
use super::{decode_resized, Sample};

/// What to keep while loading.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The model's input size; images are resized so their shorter side is this.
    pub size: usize,
    /// Only these wnids, when set.
    pub classes: Option<HashSet<String>>,
    /// Images whose mean a*b* chroma is below this are skipped as gray.
    pub gray_threshold: f32,
    /// Stop after this many kept images.
    pub max_images: Option<usize>,
    /// Replace each image by a crop of random aspect ratio up to this,
    /// squashed back to its size ([`super::squashed_crop`], seeded by the
    /// image's name).
    pub squash_crops: Option<f32>,
    pub progress: bool,
}

/// Counts reported after loading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub kept: usize,
    pub skipped_gray: usize,
    pub skipped_class: usize,
    pub failed: usize,
}

const IMAGE_EXTS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff"];

fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    IMAGE_EXTS
        .iter()
        .any(|e| lower.ends_with(e) && lower[..lower.len() - e.len()].ends_with('.'))
}

fn is_shard(path: &Path) -> bool {
    let lower = path.to_string_lossy().to_ascii_lowercase();
    lower.ends_with(".tar") || lower.ends_with(".tar.gz") || lower.ends_with(".tgz")
}

struct Loader<'a> {
    opts: &'a LoadOptions,
    samples: Vec<Sample>,
    report: LoadReport,
    bar: indicatif::ProgressBar,
}

impl Loader<'_> {
    fn full(&self) -> bool {
        self.opts
            .max_images
            .is_some_and(|m| self.samples.len() >= m)
    }

    fn class_ok(&self, class: Option<&str>) -> bool {
        match (&self.opts.classes, class) {
            (None, _) => true,
            (Some(set), Some(c)) => set.contains(c),
            (Some(_), None) => false,
        }
    }

    /// Decodes and files one image; `Some(sample)` when it passed the gray test.
    fn decode(&mut self, name: &str, bytes: &[u8]) -> Option<Sample> {
        match decode_resized(bytes, self.opts.size) {
            Ok(s) if s.mean_chroma() < self.opts.gray_threshold => {
                self.report.skipped_gray += 1;
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                self.bar.println(format!("warning: skipping {name}: {e:#}"));
                self.report.failed += 1;
                None
            }
        }
    }

    /// Keeps a sample that passed the filters; `name` seeds its squashed
    /// crop, if asked for.
    fn keep(&mut self, name: &str, s: Sample) {
        if !self.full() {
            // Seeded by the name alone, so the crop is the same in every run
            // and in the decoded-data cache.
            let s = match self.opts.squash_crops {
                Some(max) => {
                    let seed = colorize_shared::hash::fnv1a64(name.as_bytes());
                    super::squashed_crop(&s, max, seed)
                }
                None => s,
            };
            self.samples.push(s);
            self.report.kept += 1;
            self.bar.inc(1);
        }
    }

    fn add(&mut self, name: &str, bytes: &[u8]) {
        if let Some(tile) = mosaic_tile_size(name) {
            self.mosaic(name, bytes, tile);
            return;
        }
        if !self.class_ok(wnid_of(name)) {
            self.report.skipped_class += 1;
            return;
        }
        if let Some(s) = self.decode(name, bytes) {
            self.keep(name, s);
        }
    }

    /// A mosaic written by [`write_mosaics`]: every `tile x tile` cell is
    /// one image. Cells that are unused (black) fall to the gray test.
    fn mosaic(&mut self, name: &str, bytes: &[u8], tile: usize) {
        let img = match image::load_from_memory(bytes) {
            Ok(i) => i.to_rgb8(),
            Err(e) => {
                self.bar.println(format!("warning: skipping {name}: {e:#}"));
                self.report.failed += 1;
                return;
            }
        };
        let (cols, rows) = (img.width() as usize / tile, img.height() as usize / tile);
        for cy in 0..rows {
            for cx in 0..cols {
                if self.full() {
                    return;
                }
                let cell = image::imageops::crop_imm(
                    &img,
                    (cx * tile) as u32,
                    (cy * tile) as u32,
                    tile as u32,
                    tile as u32,
                )
                .to_image();
                let s = if tile == self.opts.size {
                    Sample::from_rgb8(tile, tile, cell.as_raw())
                } else {
                    let r = image::imageops::resize(
                        &cell,
                        self.opts.size as u32,
                        self.opts.size as u32,
                        FilterType::Triangle,
                    );
                    Sample::from_rgb8(self.opts.size, self.opts.size, r.as_raw())
                };
                if s.mean_chroma() < self.opts.gray_threshold {
                    self.report.skipped_gray += 1;
                } else {
                    self.keep(&format!("{name}#{cx},{cy}"), s);
                }
            }
        }
    }

    fn folder(&mut self, dir: &Path) -> Result<()> {
        for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
            if self.full() {
                break;
            }
            let entry = entry.with_context(|| format!("walking {}", dir.display()))?;
            let path = entry.path();
            if !entry.file_type().is_file() {
                continue;
            }
            if is_shard(path) {
                self.shard(path)?;
            } else if is_image(&path.to_string_lossy()) {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                self.add(&path.to_string_lossy(), &bytes);
            }
        }
        Ok(())
    }

    /// Streams a shard. Tiny ImageNet's val images carry their class only in
    /// `val_annotations.txt`, which may come after them: with a class filter,
    /// such images wait until the end of the shard.
    fn shard(&mut self, path: &Path) -> Result<()> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let reader: Box<dyn Read> = if path
            .to_string_lossy()
            .to_ascii_lowercase()
            .ends_with(".tar")
        {
            Box::new(BufReader::new(file))
        } else {
            Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
        };
        let mut archive = tar::Archive::new(reader);
        let mut annotations: HashMap<String, String> = HashMap::new();
        let mut pending: Vec<(String, String, Sample)> = Vec::new();
        let entries = archive
            .entries()
            .with_context(|| format!("reading tar {}", path.display()))?;
        for entry in entries {
            if self.full() {
                break;
            }
            let mut entry = entry.with_context(|| format!("reading tar {}", path.display()))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {name} in {}", path.display()))?;
            if name.ends_with("val_annotations.txt") {
                for line in String::from_utf8_lossy(&bytes).lines() {
                    let mut cols = line.split('\t');
                    if let (Some(file), Some(wnid)) = (cols.next(), cols.next()) {
                        annotations.insert(file.to_string(), wnid.to_string());
                    }
                }
                continue;
            }
            if !is_image(&name) {
                continue;
            }
            if self.opts.classes.is_some() && wnid_of(&name).is_none() {
                let file = name.rsplit('/').next().unwrap_or(&name).to_string();
                if let Some(wnid) = annotations.get(&file).cloned() {
                    if self.class_ok(Some(&wnid)) {
                        if let Some(s) = self.decode(&name, &bytes) {
                            self.keep(&name, s);
                        }
                    } else {
                        self.report.skipped_class += 1;
                    }
                } else if let Some(s) = self.decode(&name, &bytes) {
                    pending.push((file, name, s));
                }
                continue;
            }
            self.add(&name, &bytes);
        }
        for (file, name, s) in pending {
            if self.class_ok(annotations.get(&file).map(String::as_str)) {
                self.keep(&name, s);
            } else {
                self.report.skipped_class += 1;
            }
        }
        Ok(())
    }
}

/// Loads every image under `sources` (folders, shards or single files), in a
/// deterministic order.
pub fn load(sources: &[PathBuf], opts: &LoadOptions) -> Result<(Vec<Sample>, LoadReport)> {
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} decoding {pos} images ({per_sec}) {elapsed_precise} {msg}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut loader = Loader {
        opts,
        samples: Vec::new(),
        report: LoadReport::default(),
        bar,
    };
    for src in sources {
        if loader.full() {
            break;
        }
        loader.bar.set_message(src.display().to_string());
        if src.is_dir() {
            loader.folder(src)?;
        } else if is_shard(src) {
            loader.shard(src)?;
        } else if src.is_file() {
            let bytes = std::fs::read(src).with_context(|| format!("reading {}", src.display()))?;
            loader.add(&src.to_string_lossy(), &bytes);
        } else {
            bail!("--data {}: no such file or folder", src.display());
        }
    }
    loader.bar.finish_and_clear();
    Ok((loader.samples, loader.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_extensions() {
        assert!(is_image("a/b.JPEG"));
        assert!(is_image("x.tif"));
        assert!(!is_image("a/n01443537_boxes.txt"));
        assert!(!is_image("jpeg"));
    }
}
