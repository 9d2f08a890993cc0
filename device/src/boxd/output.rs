//! Durable, atomic result files.
//!
//! A result is either absent or complete, never half-written, even across
//! power loss: write to a hidden temp file in the same directory, fsync it,
//! rename over the final name, then fsync the directory so the rename itself
//! is on disk. Only after that may the caller touch the input.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Temp files are `.<name>.<pid>-<n>.colorize-tmp`: dotfiles, so the inbox
/// and the user's file browser skip them, unique per writer, so parallel
/// workers never share one, and recognisable, so a restart removes what a
/// crash left behind.
pub const TMP_SUFFIX: &str = ".colorize-tmp";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}-{n}{TMP_SUFFIX}", std::process::id()))
}

/// fsyncs a directory, so renames into or out of it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = tmp_path(dir, name);
    let dst = dir.join(name);
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &dst)?;
        sync_dir(dir)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", dst.display()));
    }
    Ok(dst)
}

/// Removes temp files a crash left in `dir`; returns how many.
pub fn remove_stale_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(TMP_SUFFIX) {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    if n > 0 {
        sync_dir(dir)?;
    }
    Ok(n)
}

/// Encodes interleaved RGB8 as PNG into `out` (cleared first; its capacity
/// is kept, so a loop reuses one buffer).
pub fn encode_png(rgb: &[u8], width: usize, height: usize, out: &mut Vec<u8>) -> Result<()> {
    anyhow::ensure!(
        rgb.len() == 3 * width * height,
        "RGB buffer has {} bytes, {width}x{height} needs {}",
        rgb.len(),
        3 * width * height
    );
    out.clear();
    let mut enc = png::Encoder::new(&mut *out, width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Fast: a Pi Zero spends longer deflating than colourizing otherwise.
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header()?;
    w.write_image_data(rgb)?;
    w.finish()?;
    Ok(())
}

/// Moves `src` into `dir` without overwriting anything there (a second
/// `scan.png` becomes `scan.1.png`), then fsyncs both directories.
pub fn move_into(src: &Path, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = src
        .file_name()
        .with_context(|| format!("{} has no file name", src.display()))?;
    let mut dst = dir.join(name);
    let stem = Path::new(name)
        .file_stem()
        .unwrap_or(name)
        .to_string_lossy()
        .into_owned();
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().into_owned());
    let mut i = 1;
    while dst.exists() {
        let n = match &ext {
            Some(e) => format!("{stem}.{i}.{e}"),
            None => format!("{stem}.{i}"),
        };
        dst = dir.join(n);
        i += 1;
    }
    fs::rename(src, &dst)
        .with_context(|| format!("cannot move {} to {}", src.display(), dst.display()))?;
    sync_dir(dir)?;
    if let Some(parent) = src.parent() {
        sync_dir(parent)?;
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temp_and_move_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let p = write_atomic(d.path(), "a.png", b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");

        fs::write(d.path().join(".x.png.colorize-tmp"), b"half").unwrap();
        assert_eq!(remove_stale_temps(d.path()).unwrap(), 1);

        let done = d.path().join("done");
        fs::write(d.path().join("s.jpg"), b"1").unwrap();
        move_into(&d.path().join("s.jpg"), &done).unwrap();
        fs::write(d.path().join("s.jpg"), b"2").unwrap();
        let second = move_into(&d.path().join("s.jpg"), &done).unwrap();
        assert_eq!(second.file_name().unwrap(), "s.1.jpg");
        assert_eq!(fs::read(done.join("s.jpg")).unwrap(), b"1");
    }

    #[test]
    fn png_round_trips() {
        let rgb: Vec<u8> = (0..3 * 5 * 4).map(|i| i as u8).collect();
        let mut out = Vec::new();
        encode_png(&rgb, 5, 4, &mut out).unwrap();
        let img = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (5, 4));
        assert_eq!(img.into_raw(), rgb);
        assert!(encode_png(&rgb, 5, 5, &mut out).is_err());
    }
}
