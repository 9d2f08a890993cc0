//! Issue 18: `--shard K/N` splits a batch between processes without overlap
//! or gap, `auto/N` reads the cluster's index, and the shards' manifests
//! add up in `colorize report`.

mod cli_common;

use std::collections::BTreeSet;
use std::fs;

use cli_common::*;
use image::{ImageBuffer, Luma};

#[test]
fn shards_split_a_tree_and_their_manifests_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("scans");
    let mut all = BTreeSet::new();
    for k in 0..24u32 {
        let folder = format!("box{}", k % 3);
        fs::create_dir_all(input.join(&folder)).unwrap();
        let rel = format!("{folder}/{:04}.png", k / 3);
        let img: ImageBuffer<Luma<u8>, Vec<u8>> =
            ImageBuffer::from_raw(16, 12, gray_pixels(16, 12, k)).unwrap();
        img.save(input.join(&rel)).unwrap();
        all.insert(rel);
    }
    fs::write(input.join("box1/broken.png"), b"not a png").unwrap();
    let model = tmp.path().join("tiny.onnx");
    fs::write(&model, tiny_model()).unwrap();
    let out = tmp.path().join("out");
    let manifests = tmp.path().join("manifests");
    let n = 4;
    for k in 0..n {
        let mut cmd = colorize();
        cmd.args(["files", "--threads", "1", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(&out)
            .arg("--manifest")
            .arg(manifests.join(format!("{k}.jsonl")))
            .arg(&input);
        // Half the shards by index, half as a Slurm array task would.
        if k % 2 == 0 {
            cmd.args(["--shard", &format!("{k}/{n}")]);
        } else {
            cmd.args(["--shard", &format!("auto/{n}")])
                .env("SLURM_ARRAY_TASK_ID", k.to_string());
        }
        let o = cmd.output().unwrap();
        assert!(
            o.status.success() || text(&o.stderr).contains("broken.png"),
            "shard {k}: {}",
            text(&o.stderr)
        );
    }
    // Every input exactly once, as its own output.
    let mut written = BTreeSet::new();
    for entry in walkdir::WalkDir::new(&out) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&out).unwrap();
            written.insert(rel.to_string_lossy().into_owned());
        }
    }
    assert_eq!(written, all);
    // One line per input over all manifests, each input in one shard.
    let mut lines = 0;
    let mut seen = BTreeSet::new();
    for k in 0..n {
        let text = fs::read_to_string(manifests.join(format!("{k}.jsonl"))).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["shard"], format!("{k}/{n}"));
            assert!(
                seen.insert(v["input"].as_str().unwrap().to_string()),
                "{line}"
            );
            lines += 1;
        }
    }
    assert_eq!(lines, all.len() + 1, "24 images and the broken file");
    let o = colorize()
        .arg("report")
        .args((0..n).map(|k| manifests.join(format!("{k}.jsonl"))))
        .output()
        .unwrap();
    let report = text(&o.stdout);
    assert!(!o.status.success(), "a failed input makes report exit 1");
    assert!(report.starts_with("25 inputs: 24 ok, 1 failed"), "{report}");
    assert!(report.contains("failed: box1/broken.png"), "{report}");
    // A shard index out of range, or auto without the cluster's variable,
    // is refused before any work.
    for (shard, env) in [("4/4", None), ("auto/4", None), ("auto/4", Some("9"))] {
        let mut cmd = colorize();
        cmd.args(["files", "--shard", shard, "--out"])
            .arg(tmp.path().join("x"))
            .arg(&input);
        cmd.env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX");
        if let Some(v) = env {
            cmd.env("JOB_COMPLETION_INDEX", v);
        }
        let o = cmd.output().unwrap();
        assert!(!o.status.success(), "{shard}");
        assert!(!tmp.path().join("x").exists(), "{shard}: nothing written");
    }
}
