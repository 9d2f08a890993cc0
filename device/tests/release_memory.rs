//! `release_free_memory` after a model load: the embedded model's pages
//! leave the process's resident set, and reading the model again still
//! gives the same bytes (they come back from the binary's file). One test
//! in its own process, so that nothing else touches the model meanwhile.

use colorize_device::{release_free_memory, DEFAULT_MODEL};

/// Resident KiB of the mapping holding `addr` (/proc/self/smaps).
fn resident_kib_at(addr: usize) -> usize {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        let range = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = range.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if inside {
            if let Some(kib) = line.strip_prefix("Rss:") {
                return kib.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
    }
    panic!("no mapping holds {addr:#x}")
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn the_embedded_models_pages_are_released_and_read_back_intact() {
    let addr = DEFAULT_MODEL.as_ptr() as usize + DEFAULT_MODEL.len() / 2;
    let before = checksum(DEFAULT_MODEL); // reads every page in
                                          // x86_64 only: the ARM builds' tests run under qemu-user, whose
                                          // /proc/self/smaps is its own.
    let measure = cfg!(all(target_os = "linux", target_arch = "x86_64"));
    let resident = measure.then(|| resident_kib_at(addr));
    release_free_memory();
    if let Some(resident) = resident {
        let after = resident_kib_at(addr);
        let model_kib = DEFAULT_MODEL.len() / 1024;
        assert!(
            resident - after.min(resident) >= model_kib - 16,
            "{resident} KiB resident before, {after} KiB after; the model is {model_kib} KiB"
        );
    }
    assert_eq!(
        checksum(DEFAULT_MODEL),
        before,
        "the model reads back the same"
    );
    colorize_device::Model::from_bytes(DEFAULT_MODEL).expect("and still loads");
}
