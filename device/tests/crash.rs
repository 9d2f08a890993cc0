//! Issue 8, crash safety: `colorize files` killed with SIGKILL at random
//! moments of a batch leaves only complete outputs (plus its own temp files,
//! which never count as outputs), and a rerun with `--skip-existing`
//! finishes the batch and removes the temp files.
//!
//! The batch is a tree (two boxes whose file names repeat, one nested
//! folder), mirrored into the output folder: the guarantees hold in every
//! sub-folder.
//!
//! Seeded: the seed is printed; `COLORIZE_CRASH_SEED=<n>` replays a run.

mod cli_common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use cli_common::*;
use image::{ImageBuffer, Luma};

const IMAGES: u32 = 30;
const ROUNDS: usize = 20;

/// splitmix64: small, seedable, good enough to pick kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn is_temp(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".colorize-tmp")
}

/// Every file under `out` is a temp file or a complete output of the right
/// size at its mirrored path (`sizes` is keyed by path relative to `out`);
/// returns (outputs, temps).
fn check_folder(out: &Path, sizes: &BTreeMap<String, (u32, u32)>) -> (usize, usize) {
    if !out.exists() {
        return (0, 0);
    }
    let (mut outputs, mut temps) = (0, 0);
    for entry in walkdir::WalkDir::new(out) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if is_temp(&name) {
            temps += 1;
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(out)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let size = sizes
            .get(&rel)
            .unwrap_or_else(|| panic!("{rel}: neither an output nor a temp file"));
        let img = image::open(entry.path())
            .unwrap_or_else(|e| panic!("{rel}: a partial or corrupt output: {e}"));
        assert_eq!(img.dimensions_pair(), *size, "{rel}");
        outputs += 1;
    }
    (outputs, temps)
}

trait Dims {
    fn dimensions_pair(&self) -> (u32, u32);
}

impl Dims for image::DynamicImage {
    fn dimensions_pair(&self) -> (u32, u32) {
        (self.width(), self.height())
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_partial_output() {
    let seed = std::env::var("COLORIZE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("crash test seed: {seed} (replay: COLORIZE_CRASH_SEED={seed})");
    let mut rng = Rng(seed);

    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir_all(&input).unwrap();
    let mut sizes = BTreeMap::new();
    for k in 0..IMAGES {
        let (w, h) = (24 + k % 7 * 5, 18 + k % 5 * 4);
        let img: ImageBuffer<Luma<u8>, Vec<u8>> =
            ImageBuffer::from_raw(w, h, gray_pixels(w, h, k)).unwrap();
        // box1/scan00..14 and box2/scan00..14 (repeated names), a few of
        // box2's one folder deeper.
        let folder = match k {
            0..15 => "box1".to_string(),
            15..25 => "box2".to_string(),
            _ => "box2/loose".to_string(),
        };
        let rel = format!("{folder}/scan{:02}.png", k % 15);
        fs::create_dir_all(input.join(&folder)).unwrap();
        img.save(input.join(&rel)).unwrap();
        sizes.insert(rel, (w, h));
    }
    // A one-convolution model: the test is about files, and the default
    // model's 0.26 GFLOP an image would make it slow under qemu-user.
    let model = tmp.path().join("tiny.onnx");
    fs::write(&model, tiny_model()).unwrap();
    let files = |out: &Path, skip: bool| {
        let mut cmd = colorize();
        cmd.args(["files", "--threads", "2", "--model"])
            .arg(&model)
            .arg("--out")
            .arg(out)
            .arg(&input);
        if skip {
            cmd.arg("--skip-existing");
        }
        cmd
    };

    // One uninterrupted batch sets the first range of kill times.
    let start = Instant::now();
    let o = files(&tmp.path().join("full"), false).output().unwrap();
    let mut range = start.elapsed();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        check_folder(&tmp.path().join("full"), &sizes),
        (sizes.len(), 0)
    );
    println!("uninterrupted batch: {:.3} s", range.as_secs_f64());

    let (mut rounds, mut finished_first, mut temps_seen) = (0, 0, 0);
    while rounds < ROUNDS {
        assert!(
            finished_first < 3 * ROUNDS,
            "{finished_first} runs ended before their kill time (seed {seed})"
        );
        let out = tmp.path().join(format!("out{rounds}-{finished_first}"));
        let delay = range.mul_f64(rng.unit());
        let start = Instant::now();
        let mut child = files(&out, false)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let ended = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() >= delay {
                break None;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if ended.is_some() {
            // The batch beat the kill time: the range shrinks to what a
            // batch takes now, and this round is drawn again.
            range = range.min(start.elapsed());
            finished_first += 1;
            fs::remove_dir_all(&out).ok();
            continue;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (outputs, temps) = check_folder(&out, &sizes);
        temps_seen += temps;
        // Rerun: finishes the batch, skipping what is done.
        let o = files(&out, true).output().unwrap();
        let stdout = text(&o.stdout);
        assert!(o.status.success(), "round {rounds}: {}", text(&o.stderr));
        let done = sizes.len() - outputs;
        assert!(
            stdout.contains(&format!("{done} ok, 0 failed")),
            "round {rounds}: {outputs} outputs before the rerun: {stdout}"
        );
        assert_eq!(
            check_folder(&out, &sizes),
            (sizes.len(), 0),
            "round {rounds}: all outputs, no temp files"
        );
        println!(
            "round {rounds:2}: SIGKILL after {:6.3} s: {outputs:2} outputs and {temps} temp files left, rerun wrote {done:2}",
            delay.as_secs_f64(),
        );
        fs::remove_dir_all(&out).unwrap();
        rounds += 1;
    }
    println!(
        "{ROUNDS}/{ROUNDS} rounds killed and completed by a rerun, {temps_seen} temp files left by kills and removed by reruns, {finished_first} draws redone (seed {seed})"
    );
}

/// SIGTERM (what Slurm's scancel, Kubernetes and systemd send) stops a
/// batch cleanly: the images in flight are finished, nothing new starts,
/// no temp file is left, and the summary says what is left to do.
#[test]
fn sigterm_finishes_the_images_in_flight_and_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    fs::create_dir_all(&input).unwrap();
    let mut sizes = BTreeMap::new();
    for k in 0..150u32 {
        let (w, h) = (160, 120);
        let img: ImageBuffer<Luma<u8>, Vec<u8>> =
            ImageBuffer::from_raw(w, h, gray_pixels(w, h, k)).unwrap();
        img.save(input.join(format!("s{k:03}.png"))).unwrap();
        sizes.insert(format!("s{k:03}.png"), (w, h));
    }
    let model = tmp.path().join("tiny.onnx");
    fs::write(&model, tiny_model()).unwrap();
    let out = tmp.path().join("out");
    let child = colorize()
        .args(["files", "--threads", "1", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Signal once the first output exists.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if out.exists() && listing(&out).iter().any(|n| !is_temp(n)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let o = child.wait_with_output().unwrap();
    let stdout = text(&o.stdout);
    let (outputs, temps) = check_folder(&out, &sizes);
    assert_eq!(temps, 0, "the image in flight was finished, not abandoned");
    if outputs == sizes.len() {
        // The batch beat the signal (a very fast machine): nothing to test.
        assert!(o.status.success(), "{stdout}");
        return;
    }
    assert!(
        !o.status.success(),
        "a stopped batch is not a success: {stdout}"
    );
    assert!(
        stdout.contains("stopped by a signal") && stdout.contains("not started"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{outputs} ok, 0 failed")),
        "{outputs} outputs: {stdout}"
    );
    println!(
        "SIGTERM after the first output: {outputs} of {} done, {stdout}",
        sizes.len()
    );
}
