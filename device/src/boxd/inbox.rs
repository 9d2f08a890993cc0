//! The watched inbox: which files are complete and ready to take.
//!
//! A flatbed scanner (or an scp from a laptop) writes its file over seconds;
//! taking it early would colourize half an image. A file is ready once its
//! size and mtime are unchanged across two consecutive listings and it is
//! not empty. Dotfiles, `*.part`, `*.tmp`, `*.crdownload` and folders are
//! never taken: those are the names writers use while they are not done.
//! Polling (rather than inotify) works the same on every filesystem,
//! network mounts and FAT-formatted SD cards included.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Most names one listing hands out: a thousand scans dropped at once are
/// taken sixteen at a time (the folder is listed again after each sixteen),
/// so the box never holds a list it does not need yet.
pub const MAX_READY: usize = 16;

/// Suffixes of files still being written.
const IN_PROGRESS: [&str; 4] = [".part", ".tmp", ".crdownload", ".partial"];

/// Whether a name is a candidate at all: not hidden, not still being
/// written, not an image's hints (`NAME.hints.json`, read with its image).
pub fn is_candidate(name: &str) -> bool {
    !name.starts_with('.')
        && !colorize_io::hints::is_sidecar(std::path::Path::new(name))
        && !IN_PROGRESS
            .iter()
            .any(|s| name.to_ascii_lowercase().ends_with(s))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Seen {
    len: u64,
    mtime: Option<SystemTime>,
}

/// Remembers what each listing saw, to tell settled files from growing ones.
#[derive(Debug)]
pub struct Inbox {
    dir: PathBuf,
    last: HashMap<OsString, Seen>,
}

impl Inbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Inbox {
            dir: dir.into(),
            last: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lists the folder once. Returns the files that were already there,
    /// unchanged, at the previous listing: complete, first names first,
    /// at most [`MAX_READY`] of them.
    /// `pending` is set to how many candidates are still settling.
    pub fn poll(&mut self, pending: &mut usize) -> io::Result<Vec<PathBuf>> {
        let mut now = HashMap::new();
        let mut ready = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(s) = name.to_str() else { continue };
            if !is_candidate(s) {
                continue;
            }
            // A file deleted between read_dir and stat is simply gone.
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let seen = Seen {
                len: meta.len(),
                mtime: meta.modified().ok(),
            };
            if seen.len > 0 && self.last.get(&name) == Some(&seen) {
                ready.push(entry.path());
            }
            now.insert(name, seen);
        }
        *pending = now.len() - ready.len();
        self.last = now;
        ready.sort();
        ready.truncate(MAX_READY);
        Ok(ready)
    }

    /// Forgets a file (taken, moved away), so a new file of the same name
    /// has to settle again.
    pub fn forget(&mut self, path: &Path) {
        if let Some(name) = path.file_name() {
            self.last.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_settled_complete_files_are_ready() {
        let d = tempfile::tempdir().unwrap();
        let mut inbox = Inbox::new(d.path());
        let mut pending = 0;
        fs::write(d.path().join("a.png"), b"x").unwrap();
        fs::write(d.path().join(".hidden.png"), b"x").unwrap();
        fs::write(d.path().join("b.png.part"), b"x").unwrap();
        fs::write(d.path().join("empty.png"), b"").unwrap();
        fs::create_dir(d.path().join("done")).unwrap();
        let mut growing = fs::File::create(d.path().join("c.png")).unwrap();
        growing.write_all(b"1").unwrap();

        assert!(
            inbox.poll(&mut pending).unwrap().is_empty(),
            "first sight is never ready"
        );
        assert_eq!(pending, 3);
        growing.write_all(b"23").unwrap();
        let ready = inbox.poll(&mut pending).unwrap();
        assert_eq!(
            ready,
            vec![d.path().join("a.png")],
            "c.png grew, empty.png is empty"
        );
        let ready = inbox.poll(&mut pending).unwrap();
        assert_eq!(ready, vec![d.path().join("a.png"), d.path().join("c.png")]);
        assert_eq!(pending, 1, "empty.png keeps waiting");
    }

    #[test]
    fn a_full_inbox_is_handed_out_a_few_names_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..(3 * MAX_READY + 1) {
            fs::write(d.path().join(format!("scan-{i:03}.png")), b"x").unwrap();
        }
        let mut inbox = Inbox::new(d.path());
        let mut pending = 0;
        inbox.poll(&mut pending).unwrap();
        let mut taken = Vec::new();
        loop {
            let ready = inbox.poll(&mut pending).unwrap();
            assert!(ready.len() <= MAX_READY);
            if ready.is_empty() {
                break;
            }
            for p in ready {
                inbox.forget(&p);
                fs::remove_file(&p).unwrap();
                taken.push(p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        assert_eq!(taken.len(), 3 * MAX_READY + 1);
        assert!(taken.windows(2).all(|w| w[0] < w[1]), "first names first");
    }
}
