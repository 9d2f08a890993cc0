//! The output disk's free space: the box stops taking work before the disk
//! is full, rather than failing scans once it is.
//!
//! A full SD card must never cost a scan. Below `[limits] min_free_mb` the
//! box takes no new inbox file and refuses the shutter; a write that still
//! runs out of space (a file larger than the reserve, another program
//! filling the disk) fails as a whole (the atomic writer removes its temp
//! file), its input stays in the inbox, and intake pauses the same way.
//! Intake resumes by itself once space returns.

use std::io;
use std::path::{Path, PathBuf};

/// Free bytes for an unprivileged writer on the file system holding `dir`
/// (`f_bavail`: the box runs as its own user, without the root reserve).
pub fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid C string, `st` is written by the call on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Whether an error is the disk being full (ENOSPC, or EDQUOT for a quota):
/// then the input is fine and must wait, not move to `failed/`.
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
            .is_some_and(|c| c == libc::ENOSPC || c == libc::EDQUOT)
    })
}

/// What the free-space check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Enough space: take work.
    Open,
    /// Intake just paused: say why, once.
    Paused { free: u64 },
    /// Still paused; already said.
    StillPaused,
    /// Space came back: say so, take work again.
    Resumed { free: u64 },
}

/// Decides, before each job, whether the box may take it.
#[derive(Debug)]
pub struct SpaceGuard {
    dir: PathBuf,
    min_free: u64,
    paused: bool,
    /// Free bytes when a write last failed with ENOSPC: intake waits until
    /// more than this (plus a margin) is free, so the same too-large file is
    /// not retried while nothing changed.
    failed_at: Option<u64>,
    /// Free bytes at the last look (`None` before the first, or when
    /// `statvfs` failed).
    last_free: Option<u64>,
}

/// After an ENOSPC, how much more must be free than when it happened.
const RETRY_MARGIN: u64 = 1 << 20;

impl SpaceGuard {
    pub fn new(dir: &Path, min_free: u64) -> Self {
        SpaceGuard {
            dir: dir.to_path_buf(),
            min_free,
            paused: false,
            failed_at: None,
            last_free: None,
        }
    }

    /// The reserve, in bytes.
    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    /// Free bytes at the last check.
    pub fn last_free(&self) -> Option<u64> {
        self.last_free
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Checks the disk. An unreadable `statvfs` counts as enough space: the
    /// write itself will then say what is wrong.
    pub fn check(&mut self) -> Intake {
        self.last_free = free_bytes(&self.dir).ok();
        self.decide(self.last_free.unwrap_or(u64::MAX))
    }

    fn decide(&mut self, free: u64) -> Intake {
        let need = match self.failed_at {
            Some(f) => self.min_free.max(f.saturating_add(RETRY_MARGIN)),
            None => self.min_free,
        };
        match (self.paused, free >= need) {
            (false, true) => Intake::Open,
            (true, true) => {
                self.paused = false;
                self.failed_at = None;
                Intake::Resumed { free }
            }
            (false, false) => {
                self.paused = true;
                Intake::Paused { free }
            }
            (true, false) => Intake::StillPaused,
        }
    }

    /// A write ran out of space: pause until more is free than now.
    pub fn write_failed(&mut self) -> Intake {
        self.last_free = free_bytes(&self.dir).ok();
        self.failed_with(self.last_free.unwrap_or(0))
    }

    fn failed_with(&mut self, free: u64) -> Intake {
        self.failed_at = Some(free);
        if self.paused {
            Intake::StillPaused
        } else {
            self.paused = true;
            Intake::Paused { free }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_told_from_other_errors() {
        let full = anyhow::Error::from(io::Error::from_raw_os_error(libc::ENOSPC))
            .context("cannot write out.png");
        assert!(is_disk_full(&full));
        let quota = anyhow::Error::from(io::Error::from_raw_os_error(libc::EDQUOT));
        assert!(is_disk_full(&quota));
        let other = anyhow::Error::from(io::Error::from_raw_os_error(libc::EIO));
        assert!(!is_disk_full(&other));
        assert!(!is_disk_full(&anyhow::anyhow!("not a PNG")));
    }

    #[test]
    fn free_space_is_read() {
        let d = tempfile::tempdir().unwrap();
        assert!(free_bytes(d.path()).unwrap() > 0);
        assert!(free_bytes(&d.path().join("missing")).is_err());
    }

    #[test]
    fn the_guard_pauses_once_and_resumes_once() {
        const MB: u64 = 1 << 20;
        let mut g = SpaceGuard::new(Path::new("/"), 10 * MB);
        assert_eq!(g.decide(20 * MB), Intake::Open);
        assert_eq!(g.decide(9 * MB), Intake::Paused { free: 9 * MB });
        assert!(g.is_paused());
        assert_eq!(g.decide(9 * MB), Intake::StillPaused);
        assert_eq!(g.decide(10 * MB), Intake::Resumed { free: 10 * MB });
        assert_eq!(g.decide(10 * MB), Intake::Open);
        // ENOSPC with 50 MB free (a file over the reserve): retrying needs
        // more than that, and then the reserve alone applies again.
        assert_eq!(g.failed_with(50 * MB), Intake::Paused { free: 50 * MB });
        assert_eq!(g.decide(50 * MB), Intake::StillPaused);
        assert_eq!(g.decide(51 * MB), Intake::Resumed { free: 51 * MB });
        assert_eq!(g.decide(11 * MB), Intake::Open);
    }
}
