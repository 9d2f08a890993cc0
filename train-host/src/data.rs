//! Training data: image folders and `.tar` / `.tar.gz` shards, decoded once
//! into compact Lab planes, filtered (classes, grayscale), split and batched.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use colorize_shared::{contract, lab};
use image::imageops::FilterType;

/// One decoded image, stored as Lab in the fixed-point formats of
/// `colorize_shared::lab` (6 bytes a pixel instead of 12 for f32 a,b + 4 for L).
#[derive(Clone, Debug)]
pub struct Sample {
    pub width: usize,
    pub height: usize,
    pub l: Vec<u16>,
    pub a: Vec<i16>,
    pub b: Vec<i16>,
}

impl Sample {
    /// Builds the Lab planes of an interleaved sRGB8 image.
    pub fn from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Self {
        let n = width * height;
        let (mut l, mut a, mut b) = (vec![0u16; n], vec![0i16; n], vec![0i16; n]);
        lab::rgb8_to_lab_planes(rgb, &mut l, &mut a, &mut b);
        Sample {
            width,
            height,
            l,
            a,
            b,
        }
    }

    /// Mean a*b* chroma in Lab units: near zero for gray and near-monochrome
    /// images, whose colours carry nothing to learn.
    pub fn mean_chroma(&self) -> f32 {
        let sum: f64 = self
            .a
            .iter()
            .zip(&self.b)
            .map(|(&a, &b)| {
                let (a, b) = (a as f64 / 256.0, b as f64 / 256.0);
                (a * a + b * b).sqrt()
            })
            .sum();
        (sum / self.a.len().max(1) as f64) as f32
    }

    /// Truth sRGB8 of a `size x size` crop at (x0, y0).
    pub fn crop_rgb8(&self, x0: usize, y0: usize, size: usize) -> Vec<u8> {
        let mut rgb = vec![0u8; 3 * size * size];
        for y in 0..size {
            let row = (y0 + y) * self.width + x0;
            lab::lab_planes_to_rgb8(
                &self.l[row..row + size],
                &self.a[row..row + size],
                &self.b[row..row + size],
                &mut rgb[3 * y * size..3 * (y + 1) * size],
            );
        }
        rgb
    }

    /// Top-left corner of the centred `size x size` crop.
    pub fn centre(&self, size: usize) -> (usize, usize) {
        ((self.width - size) / 2, (self.height - size) / 2)
    }
}

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

/// The ImageNet class id (wnid, `n` + 8 digits) found in a path, if any.
pub fn wnid_of(path: &str) -> Option<&str> {
    path.split(['/', '\\', '_', '.'])
        .find(|c| c.len() == 9 && c.starts_with('n') && c[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Decodes and resizes one image so its shorter side is `size` (the longer
/// side keeps the aspect ratio, leaving room for random crops).
pub fn decode_resized(bytes: &[u8], size: usize) -> Result<Sample> {
    let img = image::load_from_memory(bytes).context("decoding image")?;
    let rgb = img.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        bail!("empty image");
    }
    let scale = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as usize).max(size),
        ((h as f64 * scale).round() as usize).max(size),
    );
    let rgb = if (nw, nh) == (w, h) {
        rgb
    } else {
        image::imageops::resize(&rgb, nw as u32, nh as u32, FilterType::Triangle)
    };
    Ok(Sample::from_rgb8(nw, nh, rgb.as_raw()))
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

    fn keep(&mut self, s: Sample) {
        if !self.full() {
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
            self.keep(s);
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
                    self.keep(s);
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
        let mut pending: Vec<(String, Sample)> = Vec::new();
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
                            self.keep(s);
                        }
                    } else {
                        self.report.skipped_class += 1;
                    }
                } else if let Some(s) = self.decode(&name, &bytes) {
                    pending.push((file, s));
                }
                continue;
            }
            self.add(&name, &bytes);
        }
        for (file, s) in pending {
            if self.class_ok(annotations.get(&file).map(String::as_str)) {
                self.keep(s);
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

/// Bumped whenever the cache layout or the decoding changes.
const CACHE_VERSION: &str = "colorize-data-cache-1";

/// What identifies a decoded data set: the sources (path, size and
/// modification time of every file read) and every option that changes
/// which images are kept or how they are decoded.
fn cache_key(sources: &[PathBuf], opts: &LoadOptions) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(CACHE_VERSION);
    let mut stamp = |p: &Path| -> Result<()> {
        let m = std::fs::metadata(p).with_context(|| format!("--data {}", p.display()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        h.update(format!("{}\0{}\0{}\n", p.display(), m.len(), mtime));
        Ok(())
    };
    for src in sources {
        let src =
            std::fs::canonicalize(src).with_context(|| format!("--data {}", src.display()))?;
        if src.is_dir() {
            for e in walkdir::WalkDir::new(&src).sort_by_file_name() {
                let e = e.with_context(|| format!("walking {}", src.display()))?;
                if e.file_type().is_file() {
                    stamp(e.path())?;
                }
            }
        } else {
            stamp(&src)?;
        }
    }
    let mut classes: Vec<&String> = opts.classes.iter().flatten().collect();
    classes.sort();
    h.update(format!(
        "size {} classes {:?} gray {} max {:?}",
        opts.size,
        classes,
        opts.gray_threshold.to_bits(),
        opts.max_images
    ));
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn write_cache(path: &Path, samples: &[Sample], report: &LoadReport) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut w = std::io::BufWriter::new(
            File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
        );
        w.write_all(CACHE_VERSION.as_bytes())?;
        for v in [
            samples.len(),
            report.kept,
            report.skipped_gray,
            report.skipped_class,
            report.failed,
        ] {
            w.write_all(&(v as u64).to_le_bytes())?;
        }
        for s in samples {
            w.write_all(&(s.width as u32).to_le_bytes())?;
            w.write_all(&(s.height as u32).to_le_bytes())?;
            for v in &s.l {
                w.write_all(&v.to_le_bytes())?;
            }
            for v in s.a.iter().chain(&s.b) {
                w.write_all(&v.to_le_bytes())?;
            }
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

fn read_cache(path: &Path) -> Result<(Vec<Sample>, LoadReport)> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = vec![0u8; CACHE_VERSION.len()];
    r.read_exact(&mut magic)?;
    if magic != CACHE_VERSION.as_bytes() {
        bail!("{}: not a {CACHE_VERSION} file", path.display());
    }
    let mut u64s = [0u64; 5];
    for v in &mut u64s {
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        *v = u64::from_le_bytes(b);
    }
    let report = LoadReport {
        kept: u64s[1] as usize,
        skipped_gray: u64s[2] as usize,
        skipped_class: u64s[3] as usize,
        failed: u64s[4] as usize,
    };
    let mut samples = Vec::with_capacity(u64s[0] as usize);
    let mut buf = Vec::new();
    for _ in 0..u64s[0] {
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        let width = u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as usize;
        let height = u32::from_le_bytes(b[4..].try_into().expect("4 bytes")) as usize;
        let n = width * height;
        if n == 0 || n > 1 << 26 {
            bail!("{}: corrupt sample size {width}x{height}", path.display());
        }
        buf.resize(6 * n, 0);
        r.read_exact(&mut buf)?;
        let u16s = |b: &[u8]| -> Vec<u16> {
            b.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        let i16s = |b: &[u8]| -> Vec<i16> {
            b.chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        samples.push(Sample {
            width,
            height,
            l: u16s(&buf[..2 * n]),
            a: i16s(&buf[2 * n..4 * n]),
            b: i16s(&buf[4 * n..]),
        });
    }
    Ok((samples, report))
}

/// [`load`] through a cache of the decoded, filtered Lab planes in `cache`
/// (one file per data set, named by [`cache_key`]): the first run decodes
/// and writes it, later runs read it back in seconds. `None` decodes.
pub fn load_cached(
    sources: &[PathBuf],
    opts: &LoadOptions,
    cache: Option<&Path>,
) -> Result<(Vec<Sample>, LoadReport)> {
    let Some(dir) = cache else {
        return load(sources, opts);
    };
    let path = dir.join(format!("{}.lab", &cache_key(sources, opts)?[..32]));
    if path.exists() {
        let t0 = std::time::Instant::now();
        match read_cache(&path) {
            Ok(r) => {
                eprintln!(
                    "data: {} images from the cache {} in {:.1} s",
                    r.0.len(),
                    path.display(),
                    t0.elapsed().as_secs_f64()
                );
                return Ok(r);
            }
            Err(e) => eprintln!("data: ignoring unreadable cache {}: {e:#}", path.display()),
        }
    }
    let loaded = load(sources, opts)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match write_cache(&path, &loaded.0, &loaded.1) {
        Ok(()) => eprintln!(
            "data: cached {} images in {}",
            loaded.0.len(),
            path.display()
        ),
        Err(e) => eprintln!("data: could not write the cache {}: {e:#}", path.display()),
    }
    Ok(loaded)
}

/// The default cache folder: `$COLORIZE_DATA_CACHE`, else
/// `$XDG_CACHE_HOME/colorize/data`, else `~/.cache/colorize/data`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("COLORIZE_DATA_CACHE") {
        return Some(PathBuf::from(d));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("colorize").join("data"))
}

/// Reads class ids from `--classes` and `--classes-file` (one per line or
/// comma/whitespace separated; `#` starts a comment).
pub fn parse_classes(list: &[String], file: Option<&Path>) -> Result<Option<HashSet<String>>> {
    let mut set = HashSet::new();
    for item in list {
        set.extend(
            item.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading classes file {}", file.display()))?;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            set.extend(
                line.split([',', ' ', '\t'])
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
    }
    Ok(if set.is_empty() { None } else { Some(set) })
}

/// A small deterministic generator (SplitMix64): shuffles, splits and
/// augmentation depend only on the seed, so `--resume` replays them exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The generator's whole state, for checkpoints; [`Rng::from_state`]
    /// continues the same sequence.
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Splits off a deterministic `fraction` of the samples for validation: a
/// seeded shuffle of the indices, so the split does not follow class order.
pub fn split(samples: Vec<Sample>, fraction: f64, seed: u64) -> (Vec<Sample>, Vec<Sample>) {
    let n = samples.len();
    let n_val = ((n as f64 * fraction).round() as usize).min(n.saturating_sub(1));
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut idx);
    let mut is_val = vec![false; n];
    for &i in &idx[..n_val] {
        is_val[i] = true;
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (s, v) in samples.into_iter().zip(is_val) {
        if v {
            val.push(s)
        } else {
            train.push(s)
        }
    }
    (train, val)
}

/// One batch as flat f32 tensors: input `[n, 1, input_size, input_size]`
/// and target `[n, 2, size, size]`, both already in the model contract's
/// units.
pub struct Batch {
    pub n: usize,
    pub size: usize,
    pub input_size: usize,
    pub input: Vec<f32>,
    pub target: Vec<f32>,
}

/// Builds a batch of `size x size` crops. With `rng`, crops are random and
/// half the images are flipped horizontally; without it, crops are centred
/// (validation). The input is the crop's L* resized to `input_size` by
/// [`contract::resize_l_plane`], as the device resizes an image to the
/// model's input: train/serve parity.
pub fn make_batch(
    samples: &[&Sample],
    size: usize,
    input_size: usize,
    mut rng: Option<&mut Rng>,
) -> Batch {
    let px = size * size;
    let ipx = input_size * input_size;
    let n = samples.len();
    let mut input = vec![0f32; n * ipx];
    let mut target = vec![0f32; n * 2 * px];
    let mut l = vec![0u16; px];
    let mut resized = vec![0u16; ipx];
    for (i, s) in samples.iter().enumerate() {
        let (x0, y0, flip) = match rng.as_deref_mut() {
            Some(r) => (
                r.below(s.width - size + 1),
                r.below(s.height - size + 1),
                r.below(2) == 1,
            ),
            None => {
                let (x, y) = s.centre(size);
                (x, y, false)
            }
        };
        let (ta, tb) = target[i * 2 * px..(i + 1) * 2 * px].split_at_mut(px);
        for y in 0..size {
            let row = (y0 + y) * s.width + x0;
            for x in 0..size {
                let src = row + if flip { size - 1 - x } else { x };
                let dst = y * size + x;
                l[dst] = s.l[src];
                ta[dst] = contract::ab_to_target(s.a[src]);
                tb[dst] = contract::ab_to_target(s.b[src]);
            }
        }
        let l_in = if input_size == size {
            &l
        } else {
            contract::resize_l_plane(&l, size, size, &mut resized, input_size, input_size);
            &resized
        };
        contract::l_plane_to_input(l_in, &mut input[i * ipx..(i + 1) * ipx]);
    }
    Batch {
        n,
        size,
        input_size,
        input,
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wnid_from_paths() {
        assert_eq!(
            wnid_of("tiny-imagenet-200/train/n01443537/images/n01443537_0.JPEG"),
            Some("n01443537")
        );
        assert_eq!(wnid_of("val/images/val_0.JPEG"), None);
        assert_eq!(wnid_of("n0144353/x.png"), None);
    }

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

    #[test]
    fn image_extensions() {
        assert!(is_image("a/b.JPEG"));
        assert!(is_image("x.tif"));
        assert!(!is_image("a/n01443537_boxes.txt"));
        assert!(!is_image("jpeg"));
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let mk = |v: u16| Sample {
            width: 1,
            height: 1,
            l: vec![v],
            a: vec![0],
            b: vec![0],
        };
        let samples: Vec<Sample> = (0..100).map(mk).collect();
        let (t1, v1) = split(samples.clone(), 0.1, 7);
        let (t2, v2) = split(samples.clone(), 0.1, 7);
        assert_eq!(t2.len(), 90);
        let (_, v3) = split(samples, 0.1, 8);
        assert_eq!((t1.len(), v1.len()), (90, 10));
        let ids = |v: &[Sample]| v.iter().map(|s| s.l[0]).collect::<Vec<_>>();
        assert_eq!(ids(&v1), ids(&v2));
        assert_ne!(ids(&v1), ids(&v3));
        let mut all: Vec<u16> = ids(&t1).into_iter().chain(ids(&v1)).collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn batch_flip_mirrors_rows() {
        let s = Sample::from_rgb8(2, 1, &[255, 0, 0, 0, 0, 255]);
        let plain = make_batch(&[&s], 1, 1, None);
        assert_eq!(plain.input.len(), 1);
        // Over many draws both crops and both flips appear; a 2x1 image cropped
        // to 1x1 picks either pixel.
        let mut rng = Rng::new(1);
        let mut seen = HashSet::new();
        for _ in 0..32 {
            let b = make_batch(&[&s], 1, 1, Some(&mut rng));
            seen.insert(b.target[0].to_bits());
        }
        assert_eq!(seen.len(), 2);
    }
}
