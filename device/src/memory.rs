//! The memory budget: how much memory the images of a batch (or the box's
//! scans) may take at once, and the gate that admits each image only when
//! its estimated peak ([`colorize_io::memory::estimate`]) fits in what is
//! left.
//!
//! Where the budget comes from, first found wins:
//! 1. `--memory MIB` or box.toml's `[limits] memory_mb`: the memory the
//!    whole program may use;
//! 2. the cgroup memory limit (v2 `memory.max`, or v1
//!    `memory.limit_in_bytes`; the smallest on the way up the hierarchy),
//!    where it is below the machine's memory: a container, a systemd
//!    `MemoryMax=`, a Slurm job;
//! 3. else `MemAvailable` from /proc/meminfo, measured once the model is
//!    loaded: the memory the kernel can hand out without swapping.
//!
//! From a limit (1 and 2) the program's own memory is taken off: what it
//! holds once the model is loaded (its resident set, measured) and 2 MiB
//! for each worker's inference session. `MemAvailable` is measured after
//! the model is loaded, so it has no such share. From either, a margin:
//! 32 MiB and 1/32 of the memory. It covers what the estimates leave out
//! (allocator slack, the small buffers of metadata and the model's input,
//! measured at 0 to 7 % of an image's need, BENCHMARKS.md), the kernel's
//! share of a cgroup for the outputs' page cache before it is written
//! back, and others' growth when the budget came from `MemAvailable`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Memory each worker's inference session takes (measured about 1 MiB
/// for the default model).
pub const SESSION_BYTES: u64 = 2 << 20;

/// Where the budget's limit came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--memory MIB`.
    Flag,
    /// box.toml's `[limits] memory_mb`.
    Config,
    /// A cgroup v2 `memory.max` (the file named).
    CgroupV2(PathBuf),
    /// A cgroup v1 `memory.limit_in_bytes` (the file named).
    CgroupV1(PathBuf),
    /// /proc/meminfo's MemAvailable.
    MemAvailable,
    /// Nothing to read (not Linux): no budget.
    Unknown,
}

/// The memory images may take at once, and how it was arrived at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// For images, in bytes (`u64::MAX`: no budget).
    pub images: u64,
    /// The limit it came from: the program's whole memory, or (for
    /// [`Source::MemAvailable`]) what was still available.
    pub limit: u64,
    pub source: Source,
    /// Taken off the limit for the program itself (0 for MemAvailable).
    pub program: u64,
    pub margin: u64,
    /// Taken off for the box's camera frames (0 elsewhere).
    pub camera: u64,
}

/// The margin kept free of images out of `memory` (module documentation).
pub fn margin(memory: u64) -> u64 {
    (32 << 20) + memory / 32
}

impl Budget {
    /// The budget from an explicit limit or the machine (see the module
    /// documentation), for a program of `workers` workers that holds
    /// `resident` bytes now. `root` is `/` but in tests.
    pub fn detect(
        explicit: Option<(u64, Source)>,
        root: &Path,
        resident: u64,
        workers: usize,
    ) -> Budget {
        let program = resident + workers as u64 * SESSION_BYTES;
        let from_limit = |limit: u64, source: Source| {
            let margin = margin(limit);
            Budget {
                images: limit.saturating_sub(program + margin),
                limit,
                source,
                program,
                margin,
                camera: 0,
            }
        };
        if let Some((limit, source)) = explicit {
            return from_limit(limit, source);
        }
        let meminfo = std::fs::read_to_string(root.join("proc/meminfo")).ok();
        let field = |name: &str| meminfo.as_deref().and_then(|m| meminfo_bytes(m, name));
        let available = field("MemAvailable").map(|available| {
            let margin = margin(available);
            Budget {
                images: available.saturating_sub(margin),
                limit: available,
                source: Source::MemAvailable,
                program: 0,
                margin,
                camera: 0,
            }
        });
        if let Some((limit, file)) = cgroup_limit(root) {
            if field("MemTotal").is_none_or(|total| limit < total) {
                // The machine may have less to give than the cgroup allows
                // (other cgroups use it too): the smaller budget wins.
                let cgroup = from_limit(limit, file);
                return match available {
                    Some(a) if a.images < cgroup.images => a,
                    _ => cgroup,
                };
            }
        }
        match available {
            Some(available) => available,
            None => Budget {
                images: u64::MAX,
                limit: u64::MAX,
                source: Source::Unknown,
                program: 0,
                margin: 0,
                camera: 0,
            },
        }
    }

    /// This process's budget: `memory_mib` if given (from `source`), else
    /// the machine's, for `workers` workers.
    pub fn for_this_process(memory_mib: Option<u64>, source: Source, workers: usize) -> Budget {
        let explicit = memory_mib.map(|m| (m.saturating_mul(1 << 20), source));
        Budget::detect(explicit, Path::new("/"), resident_bytes(), workers)
    }

    /// The one line a job that can never fit gets.
    pub fn refusal(&self, need: u64, what: &str) -> String {
        format!(
            "{what} needs about {} MiB, budget {} MiB (set --memory, or [limits] memory_mb in box.toml)",
            need.div_ceil(1 << 20),
            self.images >> 20
        )
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b >> 20;
        let from = match &self.source {
            Source::Unknown => return write!(f, "none (this system reports no memory figures)"),
            Source::Flag => format!("--memory {} MiB", mib(self.limit)),
            Source::Config => format!("[limits] memory_mb = {}", mib(self.limit)),
            Source::CgroupV2(p) => {
                format!("cgroup v2 limit {} MiB, {}", mib(self.limit), p.display())
            }
            Source::CgroupV1(p) => {
                format!("cgroup v1 limit {} MiB, {}", mib(self.limit), p.display())
            }
            Source::MemAvailable => format!("MemAvailable {} MiB", mib(self.limit)),
        };
        write!(f, "{} MiB for images (from {from}", mib(self.images))?;
        if self.program > 0 {
            write!(f, "; less {} MiB for the program", mib(self.program))?;
        }
        if self.camera > 0 {
            write!(f, "; less {} MiB for the camera's frames", mib(self.camera))?;
        }
        write!(f, "; less a margin of {} MiB)", mib(self.margin))
    }
}

/// `name:   N kB` of /proc/meminfo, in bytes.
fn meminfo_bytes(meminfo: &str, name: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// The smallest memory limit on this process's cgroup and its ancestors,
/// with the file it was read from: v2's `memory.max` or v1's memory
/// controller, whichever /proc/self/cgroup names first with a limit set.
/// Mount points from /proc/self/mountinfo. Other processes in the same
/// cgroup are not counted (MemAvailable bounds the budget too).
fn cgroup_limit(root: &Path) -> Option<(u64, Source)> {
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let mounts = std::fs::read_to_string(root.join("proc/self/mountinfo")).unwrap_or_default();
    let mount_of = |fstype: &str, option: Option<&str>| {
        mounts.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut r = right.split_whitespace();
            let (kind, _source, opts) = (r.next()?, r.next()?, r.next().unwrap_or(""));
            if kind != fstype || option.is_some_and(|o| !opts.split(',').any(|x| x == o)) {
                return None;
            }
            // Field 4 is the cgroup path the mount shows (its root), 5 the
            // mount point.
            let mut l = left.split_whitespace().skip(3);
            Some((l.next()?.to_string(), l.next()?.to_string()))
        })
    };
    let walk = |mount: (String, String), path: &str, file: &str| -> Option<(u64, PathBuf)> {
        let (mount_root, mount_point) = mount;
        // A container sees its own cgroup as the mount's root.
        let rel = Path::new(path)
            .strip_prefix(&mount_root)
            .unwrap_or(Path::new(path));
        let mut dir = PathBuf::from(rel.to_string_lossy().trim_start_matches('/'));
        let base = root.join(mount_point.trim_start_matches('/'));
        let mut best: Option<(u64, PathBuf)> = None;
        loop {
            let at = base.join(&dir).join(file);
            if let Some(v) = std::fs::read_to_string(&at)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                // v1 writes "no limit" as a number near 2^63.
                .filter(|&v| v < 1 << 60)
            {
                if best.as_ref().is_none_or(|(b, _)| v < *b) {
                    let shown = Path::new("/").join(at.strip_prefix(root).unwrap_or(&at));
                    best = Some((v, shown));
                }
            }
            if !dir.pop() {
                break;
            }
        }
        best
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            if let Some(m) = mount_of("cgroup2", None) {
                if let Some((v, p)) = walk(m, path, "memory.max") {
                    return Some((v, Source::CgroupV2(p)));
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            if let Some(m) = mount_of("cgroup", Some("memory")) {
                if let Some((v, p)) = walk(m, path, "memory.limit_in_bytes") {
                    return Some((v, Source::CgroupV1(p)));
                }
            }
        }
    }
    None
}

/// This process's resident memory now (0 where it cannot be read).
pub fn resident_bytes() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf only reads a system setting.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * page)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Admits jobs against a budget, one at a time in the order they were
/// taken (their turn), so a large job waiting for memory is never passed
/// by a stream of small ones: the ones behind it wait too.
pub struct Gate {
    images: u64,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    next_turn: usize,
    in_use: u64,
    running: usize,
    most_running: usize,
    /// The turns admitted, in the order the gate admitted them (a test
    /// recording it after `admit` returns would race with the others).
    #[cfg(test)]
    admitted: Vec<usize>,
}

/// What [`Gate::admit`] decided.
pub enum Admission<'g> {
    /// Go ahead; the memory is held until the permit drops.
    Go(Permit<'g>),
    /// The job needs more than the whole budget.
    TooBig,
    /// The batch is stopping: do not start it.
    Stopped,
}

/// Memory held by one admitted job.
pub struct Permit<'g> {
    gate: &'g Gate,
    bytes: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        s.in_use -= self.bytes;
        s.running -= 1;
        drop(s);
        self.gate.changed.notify_all();
    }
}

impl Gate {
    pub fn new(images: u64) -> Gate {
        Gate {
            images,
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    /// Waits for `turn` (0, 1, 2, ... in the order jobs were taken; every
    /// turn must be admitted, refused or stopped once) and for `need`
    /// bytes to fit beside the jobs running. `before_waiting` runs once if
    /// it has to wait (a worker frees the buffers it keeps between
    /// images). A job that needs more than the whole budget is refused at
    /// its turn.
    pub fn admit(
        &self,
        turn: usize,
        need: u64,
        stop: &AtomicBool,
        before_waiting: &mut dyn FnMut(),
    ) -> Admission<'_> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut waited = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Admission::Stopped;
            }
            if s.next_turn == turn {
                if need > self.images {
                    s.next_turn += 1;
                    drop(s);
                    self.changed.notify_all();
                    return Admission::TooBig;
                }
                if s.in_use + need <= self.images {
                    s.next_turn += 1;
                    s.in_use += need;
                    s.running += 1;
                    s.most_running = s.most_running.max(s.running);
                    #[cfg(test)]
                    s.admitted.push(turn);
                    drop(s);
                    self.changed.notify_all();
                    return Admission::Go(Permit {
                        gate: self,
                        bytes: need,
                    });
                }
            }
            if !waited {
                waited = true;
                drop(s);
                before_waiting();
                s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // A timeout, so a stop is seen while waiting.
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The most jobs that ran at once so far.
    pub fn most_running(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .most_running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A fake `/` with the files a Linux system has.
    fn fake_root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    const MEMINFO: &str =
        "MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    6000000 kB\n";

    #[test]
    fn a_cgroup_v1_limit_is_found_up_the_hierarchy() {
        // As on this project's CI machine: v1's memory controller, the
        // process in a child cgroup, the limit on its parent.
        let root = fake_root(&[
            ("proc/meminfo", MEMINFO),
            ("proc/self/cgroup", "9:pids:/\n4:memory:/jobs/42\n0::/\n"),
            (
                "proc/self/mountinfo",
                "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n",
            ),
            ("sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes", "9223372036854771712\n"),
            ("sys/fs/cgroup/memory/jobs/memory.limit_in_bytes", "1610612736\n"),
        ]);
        let b = Budget::detect(None, root.path(), 40 << 20, 4);
        assert_eq!(b.limit, 1536 << 20);
        assert_eq!(
            b.source,
            Source::CgroupV1("/sys/fs/cgroup/memory/jobs/memory.limit_in_bytes".into())
        );
        assert_eq!(b.program, (40 << 20) + 4 * SESSION_BYTES);
        assert_eq!(b.margin, (32 << 20) + (48 << 20));
        assert_eq!(b.images, (1536 - 48 - 80) << 20);
        let shown = b.to_string();
        assert!(
            shown.starts_with("1408 MiB for images (from cgroup v1 limit 1536 MiB"),
            "{shown}"
        );
        // A machine with less available than the cgroup allows: that wins.
        let tight = "MemTotal:        8000000 kB\nMemAvailable:    1000000 kB\n";
        std::fs::write(root.path().join("proc/meminfo"), tight).unwrap();
        let b = Budget::detect(None, root.path(), 40 << 20, 4);
        assert_eq!(
            (b.source, b.limit),
            (Source::MemAvailable, 1_000_000 * 1024)
        );
    }

    #[test]
    fn a_cgroup_v2_limit_in_a_container_and_the_fallbacks() {
        let v2 = [
            ("proc/meminfo", MEMINFO),
            (
                "proc/self/cgroup",
                "0::/system.slice/colorize-box.service\n",
            ),
            (
                "proc/self/mountinfo",
                "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n",
            ),
            (
                "sys/fs/cgroup/system.slice/colorize-box.service/memory.max",
                "536870912\n",
            ),
            ("sys/fs/cgroup/system.slice/memory.max", "max\n"),
        ];
        let root = fake_root(&v2);
        let b = Budget::detect(None, root.path(), 0, 1);
        assert_eq!((b.limit, b.program), (512 << 20, SESSION_BYTES));
        assert!(matches!(b.source, Source::CgroupV2(_)));
        // A limit above the machine's memory says nothing: MemAvailable.
        let mut big = v2;
        big[3].1 = "8589934592\n";
        let root = fake_root(&big);
        let b = Budget::detect(None, root.path(), 30 << 20, 1);
        assert_eq!(b.source, Source::MemAvailable);
        assert_eq!(b.limit, 6_000_000 * 1024);
        assert_eq!(b.images, b.limit - margin(b.limit));
        // An explicit limit wins over everything.
        let b = Budget::detect(Some((1 << 30, Source::Flag)), root.path(), 30 << 20, 2);
        assert_eq!(b.images, (1 << 30) - (34 << 20) - margin(1 << 30));
        assert!(b.to_string().contains("from --memory 1024 MiB"), "{b}");
        // Nothing to read: no budget.
        let empty = fake_root(&[]);
        assert_eq!(Budget::detect(None, empty.path(), 0, 1).images, u64::MAX);
    }

    #[test]
    fn the_refusal_names_the_need_and_the_budget() {
        let b = Budget::detect(
            Some((600 << 20, Source::Flag)),
            Path::new("/nonexistent"),
            0,
            0,
        );
        let line = b.refusal(640 << 20, "scan.tif");
        assert!(
            line.starts_with("scan.tif needs about 640 MiB, budget 549 MiB (set --memory"),
            "{line}"
        );
    }

    /// Runs `needs` through a gate of `budget` with `workers` threads, each
    /// job holding its memory for a moment; returns the most that ran at
    /// once and the order they were admitted in.
    fn run_gate(budget: u64, needs: &[u64], workers: usize) -> (usize, Vec<usize>, usize) {
        let gate = Gate::new(budget);
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let refused = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&need) = needs.get(i) else { break };
                    match gate.admit(i, need, &stop, &mut || {}) {
                        Admission::Go(_permit) => {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        Admission::TooBig => drop(refused.fetch_add(1, Ordering::Relaxed)),
                        Admission::Stopped => unreachable!(),
                    }
                });
            }
        });
        let order = gate.state.lock().unwrap().admitted.clone();
        (gate.most_running(), order, refused.into_inner())
    }

    #[test]
    fn jobs_run_as_many_at_once_as_fit_and_in_turn() {
        // Three 300s fit a 1000 budget at once, not four.
        let (most, order, refused) = run_gate(1000, &[300; 8], 4);
        assert_eq!((most, refused), (3, 0));
        assert_eq!(order, (0..8).collect::<Vec<_>>());
        // A job over the whole budget is refused; the rest go on.
        let (_, order, refused) = run_gate(1000, &[300, 1200, 300], 2);
        assert_eq!((order, refused), (vec![0, 2], 1));
    }

    #[test]
    fn a_large_job_is_not_starved_by_small_ones() {
        // Job 1 needs the whole budget; without turns, the small jobs
        // behind it would keep taking what job 0 frees.
        let mut needs = vec![100, 1000];
        needs.extend([100; 30]);
        let (most, order, _) = run_gate(1000, &needs, 4);
        assert_eq!(order[..2], [0, 1]);
        assert!(most <= 4);
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let gate = Gate::new(100);
        let stop = AtomicBool::new(false);
        let held = match gate.admit(0, 100, &stop, &mut || {}) {
            Admission::Go(p) => p,
            _ => panic!("the first job fits"),
        };
        let mut freed = 0;
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                stop.store(true, Ordering::Relaxed);
            });
            assert!(matches!(
                gate.admit(1, 50, &stop, &mut || freed += 1),
                Admission::Stopped
            ));
        });
        assert_eq!(freed, 1, "the waiting worker freed its buffers once");
        drop(held);
    }
}
