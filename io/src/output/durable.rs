//! The atomic, durable writer and the sweep of what crashed writers left.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

/// Temp files are `.<name>.<host>-<pid>-<n>.colorize-tmp`: dotfiles, so the
/// inbox and the user's file browser skip them, unique per writer (and per
/// machine, for shards sharing a folder), so parallel workers never share
/// one, and recognisable, so a restart removes what a crash left behind.
pub const TMP_SUFFIX: &str = ".colorize-tmp";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{name}.{}-{}-{n}{TMP_SUFFIX}",
        host_tag(),
        std::process::id()
    ))
}

/// This machine's short host name, reduced to `[A-Za-z0-9-]`: in temp
/// names, so that shards on other machines (Slurm nodes, Kubernetes pods,
/// where every process may be pid 1) sharing an output folder never take
/// each other's temp files for a dead process's.
fn host_tag() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let raw = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let short = raw.trim().split('.').next().unwrap_or("");
        let tag: String = short
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(63)
            .collect();
        if tag.is_empty() {
            "localhost".into()
        } else {
            tag
        }
    })
}

/// fsyncs a directory, so renames into or out of it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dir/name` atomically and durably.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    write_atomic_with(dir, name, |f| write_in_halves(f, bytes, &dir.join(name)))
}

/// Writes `bytes` in two halves, so that the power-cut test can cut with
/// the temp file of `path` half on disk ([`phase`] "write").
pub(crate) fn write_in_halves(f: &mut impl Write, bytes: &[u8], path: &Path) -> Result<()> {
    let (a, b) = bytes.split_at(bytes.len() / 2);
    f.write_all(a)?;
    if phase_tracing() {
        f.flush()?;
        phase("write", path);
    }
    Ok(f.write_all(b)?)
}

/// Whether the power-cut test's hook is on ([`phase_pause`]).
pub(crate) fn phase_tracing() -> bool {
    phase_pause().is_some()
}

/// `COLORIZE_PHASE_TRACE=<ms>`: the power-cut test's hook
/// (`scripts/power-test.sh`). Each step of a durable write then prints
/// `phase: <step> <path>` on stderr and waits that many milliseconds, so
/// the test can cut the power inside a chosen step: `read` (the input is
/// being read and colourized), `write` (the temp file is half written),
/// `synced` (fsynced, not yet renamed), `renamed` (in place, the input not
/// yet moved), `moved` (the input is in `done/`). Unset: nothing happens.
fn phase_pause() -> Option<std::time::Duration> {
    static PAUSE: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    *PAUSE.get_or_init(|| {
        let ms = std::env::var("COLORIZE_PHASE_TRACE").ok()?;
        Some(std::time::Duration::from_millis(ms.trim().parse().ok()?))
    })
}

/// Marks a step of a durable write for the power-cut test ([`phase_pause`]).
pub fn phase(step: &str, path: &Path) {
    if let Some(pause) = phase_pause() {
        eprintln!("phase: {step} {}", path.display());
        std::thread::sleep(pause);
    }
}

/// Writes `dir/name` atomically and durably, its content streamed by
/// `write` into the temp file: nothing of it needs to be in memory at once.
/// If `write` fails, the temp file is removed and `dir/name` is untouched.
pub fn write_atomic_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut io::BufWriter<File>) -> Result<()>,
) -> Result<PathBuf> {
    stage_with(dir, name, write)?.commit()
}

/// A file written under its temp name in its folder, not yet in place:
/// [`Staged::commit`] makes it durable and gives it its name; dropped
/// uncommitted, the temp file is removed. Splitting the two lets a batch
/// wait for the disk (fsync) while it computes the next image.
#[derive(Debug)]
pub struct Staged {
    file: Option<File>,
    tmp: PathBuf,
    dst: PathBuf,
    dir: PathBuf,
}

impl Staged {
    /// fsyncs the file, renames it over its name and fsyncs the folder, so
    /// that the name holds either its old state or the whole new file, even
    /// across power loss.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take().expect("committed once");
        let res = (|| -> io::Result<()> {
            file.sync_all()?;
            drop(file);
            phase("synced", &self.dst);
            fs::rename(&self.tmp, &self.dst)?;
            sync_dir(&self.dir)?;
            phase("renamed", &self.dst);
            Ok(())
        })();
        if let Err(e) = res {
            let _ = fs::remove_file(&self.tmp);
            return Err(e).with_context(|| format!("cannot write {}", self.dst.display()));
        }
        Ok(std::mem::take(&mut self.dst))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `dir/name`'s content to its temp file through `write` (buffered),
/// for [`Staged::commit`]. If `write` fails, the temp file is removed.
pub fn stage_with(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut io::BufWriter<File>) -> Result<()>,
) -> Result<Staged> {
    let tmp = tmp_path(dir, name);
    let dst = dir.join(name);
    let res = (|| -> Result<File> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = io::BufWriter::with_capacity(1 << 16, f);
        write(&mut w)?;
        Ok(w.into_inner().map_err(|e| e.into_error())?)
    })();
    match res {
        Ok(file) => Ok(Staged {
            file: Some(file),
            tmp,
            dst,
            dir: dir.to_path_buf(),
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e).with_context(|| format!("cannot write {}", dst.display()))
        }
    }
}

/// Before a batch or at the box's start: removes the temp files that killed
/// runs left in `out` (only `.<name>.<host>-<pid>-<n>.colorize-tmp` of this
/// machine's processes that no longer run, so a second process writing to
/// the same folder, here or on another machine, is left alone), then checks that `out` takes a new file, so an unwritable
/// folder is one clear error instead of one per image. Returns how many temp
/// files it removed.
pub fn prepare_folder(out: &Path) -> Result<usize> {
    let mut removed = 0;
    let list_error = || format!("{}: can not list the output folder", out.display());
    for entry in std::fs::read_dir(out).with_context(list_error)? {
        let entry = entry.with_context(list_error)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some((host, pid)) = temp_writer(&name) else {
            continue;
        };
        if host.is_some_and(|h| h != host_tag()) || writer_alive(pid) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            // Another run's sweep got there first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "{}: can not remove a stale temp file",
                        entry.path().display()
                    )
                })
            }
        }
    }
    if removed > 0 {
        sync_dir(out).with_context(|| format!("{}: can not sync the folder", out.display()))?;
    }
    // The probe has a temp file's name: a kill right here leaves nothing
    // that could pass for an output, and the next run removes it.
    let probe = out.join(format!(
        ".write-check.{}-{}-0{TMP_SUFFIX}",
        host_tag(),
        std::process::id(),
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .and_then(|mut f| f.write_all(b"colorize"));
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        bail!("{}: the output folder is not writable: {e}", out.display());
    }
    Ok(removed)
}

/// Whether the process whose pid names a temp file may still be writing it:
/// this process once it has written temp files of its own (before that,
/// a file with its pid is a leftover of an earlier process that had the
/// same pid, as a box that boots the same way every time gets), or another
/// running process of the same program. A pid that now belongs to some
/// other program does not keep a temp file.
fn writer_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return TMP_COUNTER.load(Ordering::Relaxed) > 0;
    }
    let comm = |p: &str| fs::read(Path::new("/proc").join(p).join("comm")).ok();
    match (comm(&pid.to_string()), comm("self")) {
        (None, _) => false,
        (Some(theirs), Some(ours)) => theirs == ours,
        // Our own name unreadable: keep what might be live.
        (Some(_), None) => true,
    }
}

/// The writer's host and pid, if `name` is one of [`write_atomic`]'s temp
/// names (`.<name>.<host>-<pid>-<n>.colorize-tmp`; the host is `None` in
/// the names of versions before it was added, `.<name>.<pid>-<n>...`,
/// which count as this machine's).
pub fn temp_writer(name: &str) -> Option<(Option<&str>, u32)> {
    let rest = name.strip_prefix('.')?.strip_suffix(TMP_SUFFIX)?;
    let (_, tag) = rest.rsplit_once('.')?;
    let (head, n) = tag.rsplit_once('-')?;
    n.parse::<u64>().ok()?;
    match head.rsplit_once('-') {
        Some((host, pid)) if !host.is_empty() => Some((Some(host), pid.parse().ok()?)),
        _ => Some((None, head.parse().ok()?)),
    }
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

        // pid_max is at most 2^22, so this writer can not be running.
        let dead = d.path().join(".x.png.4194305-0.colorize-tmp");
        fs::write(&dead, b"half").unwrap();
        let live = d.path().join(format!(
            ".y.png.{}-{}-7.colorize-tmp",
            host_tag(),
            std::process::id()
        ));
        fs::write(&live, b"in flight").unwrap();
        // pid 1 runs, but it is another program: its pid was reused.
        let reused = d
            .path()
            .join(format!(".z.png.{}-1-0.colorize-tmp", host_tag()));
        fs::write(&reused, b"half").unwrap();
        // Another machine's writer (a shard on another node, or another
        // pod whose colorize is its pid 1): not ours to judge.
        let remote = d.path().join(".w.png.other-node-7-1-0.colorize-tmp");
        fs::write(&remote, b"in flight elsewhere").unwrap();
        assert_eq!(prepare_folder(d.path()).unwrap(), 2);
        assert!(!dead.exists() && !reused.exists() && live.exists() && remote.exists());
        fs::remove_file(&live).unwrap();
        fs::remove_file(&remote).unwrap();

        let done = d.path().join("done");
        fs::write(d.path().join("s.jpg"), b"1").unwrap();
        move_into(&d.path().join("s.jpg"), &done).unwrap();
        fs::write(d.path().join("s.jpg"), b"2").unwrap();
        let second = move_into(&d.path().join("s.jpg"), &done).unwrap();
        assert_eq!(second.file_name().unwrap(), "s.1.jpg");
        assert_eq!(fs::read(done.join("s.jpg")).unwrap(), b"1");
    }

    #[test]
    fn temp_names_say_which_machine_and_process_wrote_them() {
        assert_eq!(
            temp_writer(".a.png.4194305-0.colorize-tmp"),
            Some((None, 4194305))
        );
        assert_eq!(
            temp_writer(".scan.2.png.colorize-archive-3-x7k2p-1-12.colorize-tmp"),
            Some((Some("colorize-archive-3-x7k2p"), 1))
        );
        assert_eq!(temp_writer("a.png"), None);
        assert_eq!(temp_writer(".a.png.x-y.colorize-tmp"), None);
        let t = tmp_path(Path::new("/out"), "b.png");
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            temp_writer(&name),
            Some((Some(host_tag()), std::process::id()))
        );
    }
}
