//! Batches past one machine: a deterministic split of the inputs into
//! shards (one per Slurm array task or Kubernetes Indexed Job pod), and a
//! manifest of what each input became, which `colorize report` sums up.
//!
//! No scheduler of our own: the cluster's engine starts `colorize files
//! --shard K/N` N times; each task finds the same inputs, keeps its share,
//! and with `--skip-existing` a rerun after a kill does only what is
//! missing.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Which share of the inputs this process colourizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

/// Environment variables `--shard auto/N` reads the index from, in order:
/// Slurm job arrays, Kubernetes Indexed Jobs.
pub const INDEX_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];

impl Shard {
    /// `K/N` (0 <= K < N), or `auto/N`: K from [`INDEX_VARS`] in `env`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard> {
        let (k, n) = text
            .split_once('/')
            .with_context(|| format!("--shard {text:?}: expected K/N or auto/N, e.g. 3/16"))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("--shard {text:?}: N must be a whole number >= 1"))?;
        let (index, from) = if k.trim() == "auto" {
            let Some((var, value)) = INDEX_VARS
                .iter()
                .find_map(|v| env(v).map(|value| (*v, value)))
            else {
                bail!(
                    "--shard auto/{count}: neither {} is set (run it as a Slurm array task or a Kubernetes Indexed Job, or give K)",
                    INDEX_VARS.join(" nor ")
                );
            };
            let k = value
                .trim()
                .parse::<u32>()
                .with_context(|| format!("--shard auto: {var}={value:?} is not a whole number"))?;
            (k, format!(" (from {var})"))
        } else {
            let k = k
                .trim()
                .parse::<u32>()
                .with_context(|| format!("--shard {text:?}: K must be a whole number"))?;
            (k, String::new())
        };
        if index >= count {
            bail!("--shard: index {index}{from} is not below the shard count {count} (indices run 0..{count})");
        }
        Ok(Shard { index, count })
    }

    /// Whether the input at `relative` (its path under its folder argument,
    /// or its file name) belongs to this shard.
    pub fn owns(&self, relative: &Path) -> bool {
        shard_of(relative, self.count) == self.index
    }
}

/// The shard of an input among `count`: FNV-1a (64-bit) of its relative
/// path, `/`-separated, modulo `count`. Stable across runs, machines and
/// platforms, and independent of which other files exist, so a file
/// added to the archive never moves another file to another shard.
pub fn shard_of(relative: &Path, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for b in parts.join("/").bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % count.max(1) as u64) as u32
}

/// One line of a manifest (JSON Lines).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The input's path relative to its folder argument (its file name when
    /// it was given directly).
    pub input: String,
    pub output: String,
    /// `ok`, `failed` or `skipped` (its output existed, `--skip-existing`).
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of this input, decode to rename.
    pub ms: f64,
    pub model: String,
    /// `K/N` of the task that wrote the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

/// A manifest open for appending: each record is one `write` of one whole
/// line to a file opened with `O_APPEND`, so lines from the workers of a
/// process (or processes on one machine) never interleave, and a kill
/// leaves at most one unfinished last line, which readers skip. On network
/// filesystems give each task its own file (the Slurm and Kubernetes
/// examples do) and `cat` them.
pub struct Manifest {
    file: std::fs::File,
}

impl Manifest {
    pub fn open(path: &Path) -> Result<Manifest> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: can not create its folder", path.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("{}: can not open the manifest", path.display()))?;
        // A run killed mid-line left a torn last line: end it, so that our
        // first record does not join it (and get skipped with it).
        let torn = {
            use std::io::{Read, Seek, SeekFrom};
            let len = file.seek(SeekFrom::End(0))?;
            let mut last = [0u8];
            len > 0 && {
                file.seek(SeekFrom::End(-1))?;
                file.read_exact(&mut last)?;
                last[0] != b'\n'
            }
        };
        if torn {
            file.write_all(b"\n")
                .with_context(|| format!("{}: can not append to the manifest", path.display()))?;
        }
        Ok(Manifest { file })
    }

    pub fn append(&self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_string(record)?;
        line.push('\n');
        (&self.file)
            .write_all(line.as_bytes())
            .context("can not append to the manifest")
    }
}

/// What a set of manifests says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The last record of each input (a rerun's line supersedes a killed
    /// run's).
    pub latest: BTreeMap<String, Record>,
    /// Lines that are not records (a kill mid-line), per file.
    pub unreadable: usize,
    pub lines: usize,
}

impl Summary {
    /// Reads manifests in order; later lines of an input win.
    pub fn read(paths: &[impl AsRef<Path>]) -> Result<Summary> {
        let mut s = Summary::default();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("{}: can not read the manifest", p.display()))?;
            s.add(&text);
        }
        Ok(s)
    }

    pub fn add(&mut self, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.lines += 1;
            match serde_json::from_str::<Record>(line) {
                Ok(r) => {
                    // An input skipped by a rerun keeps its earlier record.
                    let keep_old = r.status == Status::Skipped
                        && self
                            .latest
                            .get(&r.input)
                            .is_some_and(|o| o.status == Status::Ok);
                    if !keep_old {
                        self.latest.insert(r.input.clone(), r);
                    }
                }
                Err(_) => self.unreadable += 1,
            }
        }
    }

    pub fn count(&self, status: Status) -> usize {
        self.latest.values().filter(|r| r.status == status).count()
    }

    /// The report `colorize report` prints.
    pub fn render(&self) -> String {
        let ok: Vec<&Record> = self
            .latest
            .values()
            .filter(|r| r.status == Status::Ok)
            .collect();
        let ms: f64 = ok.iter().map(|r| r.ms).sum();
        let mut out = format!(
            "{} inputs: {} ok, {} failed, {} skipped (output already there) ({} lines{})\n",
            self.latest.len(),
            ok.len(),
            self.count(Status::Failed),
            self.count(Status::Skipped),
            self.lines,
            if self.unreadable > 0 {
                format!(", {} unreadable: a task killed mid-line", self.unreadable)
            } else {
                String::new()
            }
        );
        if !ok.is_empty() {
            let mut per: Vec<f64> = ok.iter().map(|r| r.ms).collect();
            per.sort_by(f64::total_cmp);
            out += &format!(
                "time per image: median {:.0} ms, slowest {:.0} ms; {:.2} images/s per worker, {:.1} worker-hours per million images\n",
                per[per.len() / 2],
                per[per.len() - 1],
                1000.0 * ok.len() as f64 / ms.max(1e-9),
                ms / ok.len() as f64 * 1e6 / 3.6e6
            );
        }
        let models: std::collections::BTreeSet<&str> =
            self.latest.values().map(|r| r.model.as_str()).collect();
        if models.len() > 1 {
            out += &format!(
                "warning: {} models in one batch: {}\n",
                models.len(),
                models.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        for r in self.latest.values().filter(|r| r.status == Status::Failed) {
            out += &format!(
                "failed: {}: {}\n",
                r.input,
                r.error.as_deref().unwrap_or("(no message)")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_from_text_and_from_the_cluster() {
        assert_eq!(
            Shard::parse("3/16", env(&[])).unwrap(),
            Shard {
                index: 3,
                count: 16
            }
        );
        let slurm = [("SLURM_ARRAY_TASK_ID", "2")];
        assert_eq!(Shard::parse("auto/4", env(&slurm)).unwrap().index, 2);
        let k8s = [("JOB_COMPLETION_INDEX", "1")];
        assert_eq!(Shard::parse("auto/4", env(&k8s)).unwrap().index, 1);
        for bad in ["4/4", "1", "x/2", "0/0", "-1/3"] {
            assert!(Shard::parse(bad, env(&[])).is_err(), "{bad}");
        }
        let e = Shard::parse("auto/4", env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID") && e.contains("JOB_COMPLETION_INDEX"),
            "{e}"
        );
        let e = Shard::parse("auto/4", env(&[("SLURM_ARRAY_TASK_ID", "7")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("from SLURM_ARRAY_TASK_ID"), "{e}");
    }

    /// splitmix64, for random trees.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn shards_are_disjoint_and_cover_every_input_for_random_trees() {
        let mut rng = Rng(2026);
        for round in 0..200 {
            let files = 1 + rng.next() % 300;
            let tree: Vec<PathBuf> = (0..files)
                .map(|i| {
                    let depth = rng.next() % 4;
                    let mut p = PathBuf::new();
                    for _ in 0..depth {
                        p.push(format!("box{}", rng.next() % 5));
                    }
                    p.push(format!("{:04}.tif", i));
                    p
                })
                .collect();
            let n = 1 + (rng.next() % 16) as u32;
            let mut owners = vec![0u32; tree.len()];
            for k in 0..n {
                let shard = Shard { index: k, count: n };
                for (i, p) in tree.iter().enumerate() {
                    if shard.owns(p) {
                        owners[i] += 1;
                    }
                }
            }
            assert!(
                owners.iter().all(|&o| o == 1),
                "round {round}: N {n}: every input in exactly one shard"
            );
        }
    }

    #[test]
    fn shard_of_is_stable_and_spreads() {
        // Pinned to FNV-1a computed independently (Python): a change here
        // would reshuffle every archive mid-batch; a joined path is the
        // same path.
        assert_eq!(shard_of(Path::new("box1/0001.tif"), 1000), 620);
        assert_eq!(
            shard_of(Path::new("box1").join("0001.tif").as_path(), 16),
            12
        );
        let counts = (0..4000).fold([0usize; 4], |mut c, i| {
            c[shard_of(Path::new(&format!("box{}/{i:05}.png", i % 7)), 4) as usize] += 1;
            c
        });
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn summaries_take_the_latest_record_and_survive_a_torn_line() {
        let rec = |input: &str, status: Status| Record {
            input: input.into(),
            output: format!("out/{input}"),
            status,
            error: (status == Status::Failed).then(|| "bad data".into()),
            ms: 100.0,
            model: "m".into(),
            shard: Some("0/2".into()),
        };
        let line = |r: &Record| serde_json::to_string(r).unwrap() + "\n";
        let mut first = String::new();
        first += &line(&rec("a.png", Status::Ok));
        first += &line(&rec("b.png", Status::Failed));
        first += "{\"input\": \"c.p"; // killed mid-line
        let second = line(&rec("a.png", Status::Skipped)) + &line(&rec("b.png", Status::Ok));
        let mut s = Summary::default();
        s.add(&first);
        s.add(&second);
        assert_eq!((s.count(Status::Ok), s.count(Status::Failed)), (2, 0));
        assert_eq!(s.unreadable, 1);
        assert!(
            s.render().starts_with("2 inputs: 2 ok, 0 failed"),
            "{}",
            s.render()
        );
    }

    #[test]
    fn a_torn_last_line_does_not_swallow_the_next_record() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("m.jsonl");
        std::fs::write(&path, "{\"input\": \"a.p").unwrap();
        let m = Manifest::open(&path).unwrap();
        let r = Record {
            input: "b.png".into(),
            output: "out/b.png".into(),
            status: Status::Ok,
            error: None,
            ms: 5.0,
            model: "m".into(),
            shard: None,
        };
        m.append(&r).unwrap();
        let s = Summary::read(&[&path]).unwrap();
        assert_eq!((s.count(Status::Ok), s.unreadable), (1, 1));
    }
}
