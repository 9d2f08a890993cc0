//! `release_free_memory` after a model load: the embedded model's pages
//! leave the process's resident set, and reading the model again still
//! gives the same bytes (they come back from the binary's file). One test
//! in its own process, so that nothing else touches the model meanwhile.

use colorize_device::{release_free_memory, DEFAULT_MODEL};

/// How many of the whole pages inside `[start, end)` are present in this
/// process's page table (/proc/self/pagemap, bit 63): exactly the model's
/// pages, wherever the linker put the read-only data around it.
fn present_pages(start: usize, end: usize) -> (usize, usize) {
    use std::io::{Read, Seek, SeekFrom};
    let page = 4096;
    let (first, last) = (start.div_ceil(page), end / page);
    let mut map = std::fs::File::open("/proc/self/pagemap").unwrap();
    map.seek(SeekFrom::Start(first as u64 * 8)).unwrap();
    let mut entries = vec![0u8; (last - first) * 8];
    map.read_exact(&mut entries).unwrap();
    let present = entries
        .chunks_exact(8)
        .filter(|e| u64::from_le_bytes((*e).try_into().unwrap()) >> 63 == 1)
        .count();
    (present, last - first)
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn the_embedded_models_pages_are_released_and_read_back_intact() {
    let start = DEFAULT_MODEL.as_ptr() as usize;
    let end = start + DEFAULT_MODEL.len();
    let before = checksum(DEFAULT_MODEL); // reads every page in
                                          // x86_64 only: the ARM builds' tests run under qemu-user, whose
                                          // /proc/self/pagemap describes the emulator.
    let measure = cfg!(all(target_os = "linux", target_arch = "x86_64"));
    let resident = measure.then(|| present_pages(start, end));
    release_free_memory();
    if let Some((resident, pages)) = resident {
        assert_eq!(resident, pages, "the checksum read every page in");
        let (after, _) = present_pages(start, end);
        assert_eq!(
            after, 0,
            "{after} of the model's {pages} pages still resident after the release"
        );
    }
    assert_eq!(
        checksum(DEFAULT_MODEL),
        before,
        "the model reads back the same"
    );
    colorize_device::Model::from_bytes(DEFAULT_MODEL).expect("and still loads");
}
