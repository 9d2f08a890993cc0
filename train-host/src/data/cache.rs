//! The decoded-data cache: one file of Lab planes per data set and load
//! options, so later runs skip decoding.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::load::{load, LoadOptions, LoadReport};
use super::Sample;

/// Bumped whenever the cache layout or the decoding changes.
const CACHE_VERSION: &str = "colorize-data-cache-2";

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
    // Added later: the key of a data set without squashed crops is unchanged.
    if let Some(max) = opts.squash_crops {
        h.update(format!(" squash {}", max.to_bits()));
    }
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
