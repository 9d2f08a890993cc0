//! A deterministic split of a batch's inputs into shards, one per Slurm
//! array task or Kubernetes Indexed Job pod.
//!
//! No scheduler of our own: the cluster's engine starts `colorize files
//! --shard K/N` N times; each task finds the same inputs, keeps its share,
//! and with `--skip-existing` a rerun after a kill does only what is
//! missing.

use std::path::Path;

use anyhow::{bail, Context, Result};

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
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let h = crate::shared::hash::fnv1a64(parts.join("/").as_bytes());
    (h % count.max(1) as u64) as u32
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
}
