//! A training run killed with SIGKILL in the middle of an epoch resumes from
//! its last checkpoint and ends exactly where an uninterrupted run ends:
//! the metrics continue from the checkpoint and the learning-rate schedule
//! (warm-up and cosine) is not restarted.
mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use colorize_train::checkpoint::{self, CheckpointMeta};

const BIN: &str = env!("CARGO_BIN_EXE_colorize-train");

fn train_args(data: &Path, out: &Path) -> Vec<String> {
    [
        "train",
        "--data",
        &data.to_string_lossy(),
        "--arch",
        "paper",
        "--width",
        "8",
        "--depth",
        "2",
        "--size",
        "16",
        "--dropout",
        "0.2",
        "--optimizer",
        "adam",
        "--lr",
        "3e-3",
        "--schedule",
        "cosine",
        "--epochs",
        "12",
        "--batch-size",
        "4",
        "--seed",
        "9",
        "--threads",
        "1",
        "--no-cache",
        "--quiet",
        "--out",
        &out.to_string_lossy(),
        // A checkpoint every 0.03 s: several per epoch.
        "--checkpoint-minutes",
        "0.0005",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_to_end(args: &[String]) {
    let o = Command::new(BIN).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn meta(out: &Path) -> Option<CheckpointMeta> {
    checkpoint::load_json(&out.join("last.json")).ok()
}

#[test]
fn sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::write_folder(&dir.path().join("data"), &common::dataset(96, 0, 16));
    let whole = dir.path().join("whole");
    let killed = dir.path().join("killed");
    run_to_end(&train_args(&data, &whole));

    // Start, wait for a mid-epoch checkpoint after the first epoch, SIGKILL.
    let mut child = Command::new(BIN)
        .args(train_args(&data, &killed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let at_kill = loop {
        if let Some(m) = meta(&killed) {
            if m.epoch >= 2 && m.position > 0 {
                child.kill().unwrap(); // SIGKILL
                break m;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before a mid-epoch checkpoint was seen");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no mid-epoch checkpoint"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    child.wait().unwrap();
    // The kill may land anywhere, even inside a checkpoint write; what is on
    // disk is one whole checkpoint at or after the one seen.
    let rows_at_kill = checkpoint::read_metrics(&killed.join("metrics.csv")).unwrap();
    assert!(rows_at_kill.len() >= 2, "{rows_at_kill:?}");
    assert!(rows_at_kill.len() < 12, "killed too late: {rows_at_kill:?}");

    let mut resume = vec!["train", "--out"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    resume.push(killed.to_string_lossy().into_owned());
    resume.extend(
        [
            "--resume",
            "--epochs",
            "12",
            "--threads",
            "1",
            "--no-cache",
            "--quiet",
        ]
        .map(String::from),
    );
    run_to_end(&resume);

    let a = checkpoint::read_metrics(&whole.join("metrics.csv")).unwrap();
    let b = checkpoint::read_metrics(&killed.join("metrics.csv")).unwrap();
    assert_eq!(
        b.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
    // Rows written before the kill are kept as they were.
    for (r, k) in b.iter().zip(&rows_at_kill) {
        assert_eq!(r, k, "a row before the kill changed");
    }
    for (x, y) in a.iter().zip(&b) {
        assert!(
            (x.train_loss - y.train_loss).abs() < 1e-6,
            "epoch {}: {x:?} vs {y:?}",
            x.epoch
        );
        assert!(
            (x.val_psnr - y.val_psnr).abs() < 1e-3,
            "epoch {}: {x:?} vs {y:?}",
            x.epoch
        );
    }
    // The schedule went on from the checkpoint: same steps, same final LR,
    // and it ended near the cosine's floor rather than back at the top.
    let (ma, mb) = (meta(&whole).unwrap(), meta(&killed).unwrap());
    assert_eq!(ma.images_seen, mb.images_seen, "images replayed or skipped");
    assert!(
        (ma.lr_now - mb.lr_now).abs() < 1e-12,
        "{} vs {}",
        ma.lr_now,
        mb.lr_now
    );
    assert!(
        mb.lr_now < at_kill.lr_now,
        "LR {} at the end, {} at the kill",
        mb.lr_now,
        at_kill.lr_now
    );
}
