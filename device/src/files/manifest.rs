//! The manifest of a batch: one JSON line per input saying what it became,
//! which `colorize report` sums up ([`Totals`]).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

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
pub struct Totals {
    /// The last record of each input (a rerun's line supersedes a killed
    /// run's).
    pub latest: BTreeMap<String, Record>,
    /// Lines that are not records (a kill mid-line), per file.
    pub unreadable: usize,
    pub lines: usize,
}

impl Totals {
    /// Reads manifests in order; later lines of an input win.
    pub fn read(paths: &[impl AsRef<Path>]) -> Result<Totals> {
        let mut s = Totals::default();
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
        let mut s = Totals::default();
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
        let s = Totals::read(&[&path]).unwrap();
        assert_eq!((s.count(Status::Ok), s.unreadable), (1, 1));
    }
}
