//! The `colorize` binary's global allocator: the system's, with every
//! buffer of [`HUGE`] or more marked for transparent huge pages.
//!
//! A photo's big buffers (the decoded pixels, 12 MB for 2560x1600; the L*
//! plane, 8 MB; a progressive JPEG's coefficients, 8 MB a component) are
//! mapped fresh for each image ([`crate::tune_allocator`] keeps the peak
//! memory down that way), and faulting them in 4 KiB at a time was 7 % of
//! `colorize files` on the six benchmark photos (25,000 page faults).
//! `MADV_HUGEPAGE` lets the kernel fault in 2 MiB at once where it has
//! transparent huge pages in `madvise` mode (the common default): 40 % fewer
//! faults (24,800 -> 14,800) and the same peak memory, since the buffers are
//! written in full. Its time saving is not established: a 15-round
//! interleaved A/B on the six photos measured 517.8 ms with and without it.
//! Elsewhere (THP off, 32-bit ARM, not Linux) the advice fails or is not
//! given and nothing changes.

use std::alloc::{GlobalAlloc, Layout, System};

/// Buffers at least this large are advised: the huge page size of x86_64
/// and 4 KiB-page arm64 kernels. Smaller ones could not hold a huge page.
pub const HUGE: usize = 2 << 20;

/// The system allocator, advising huge pages for big buffers.
pub struct HugePageHint;

/// Gives `advice` (a `libc::MADV_*`) for the whole pages inside
/// `[ptr, ptr + len)`; a range holding no whole page gets none. Linux only.
///
/// # Safety
/// The range must lie inside memory this process owns, and `advice` must
/// not change contents the caller still needs.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn advise_pages(ptr: *const u8, len: usize, advice: libc::c_int) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let mut page = PAGE.load(Ordering::Relaxed);
    if page == 0 {
        // SAFETY: sysconf only reads a system setting.
        page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        PAGE.store(page, Ordering::Relaxed);
    }
    let start = (ptr as usize).next_multiple_of(page);
    let end = (ptr as usize + len) / page * page;
    if end > start {
        // SAFETY: the caller's contract.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) };
    }
}

/// Asks for huge pages on the whole pages inside `[ptr, ptr + size)`.
fn advise(ptr: *mut u8, size: usize) {
    // SAFETY: the range is a block just allocated to us; MADV_HUGEPAGE is a
    // hint that never changes its contents.
    #[cfg(target_os = "linux")]
    unsafe {
        advise_pages(ptr, size, libc::MADV_HUGEPAGE)
    };
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, size);
}

// SAFETY: every call goes to `System` unchanged; `advise` only adds a hint
// on memory `System` just handed out.
unsafe impl GlobalAlloc for HugePageHint {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if layout.size() >= HUGE && !p.is_null() {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if layout.size() >= HUGE && !p.is_null() {
            advise(p, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size >= HUGE && !p.is_null() {
            advise(p, new_size);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_and_small_blocks_work_and_keep_their_contents() {
        let a = HugePageHint;
        for size in [16, HUGE - 1, HUGE, 3 * HUGE + 100] {
            let layout = Layout::from_size_align(size, 16).unwrap();
            unsafe {
                let p = a.alloc_zeroed(layout);
                assert!(!p.is_null());
                let s = std::slice::from_raw_parts_mut(p, size);
                assert!(s.iter().all(|&b| b == 0), "zeroed, {size}");
                s.fill(7);
                let q = a.realloc(p, layout, 2 * size);
                assert!(!q.is_null());
                let s = std::slice::from_raw_parts(q, size);
                assert!(s.iter().all(|&b| b == 7), "kept by realloc, {size}");
                a.dealloc(q, Layout::from_size_align(2 * size, 16).unwrap());
            }
        }
    }

    // x86_64 only: the ARM builds' tests run under qemu-user, which takes
    // the advice without passing it on and shows its own mappings.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn big_blocks_are_advised_for_huge_pages() {
        // The kernel says which mappings carry the advice ("hg" in VmFlags).
        let Ok(enabled) = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        else {
            return; // no THP in this kernel: the advice is not given anywhere
        };
        assert!(enabled.contains('['), "{enabled}");
        let size = 4 * HUGE;
        let layout = Layout::from_size_align(size, 16).unwrap();
        let p = unsafe { HugePageHint.alloc(layout) };
        let flags = vm_flags_at(p as usize + HUGE).expect("the block is mapped");
        unsafe { HugePageHint.dealloc(p, layout) };
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "VmFlags: {flags}"
        );
    }

    /// The VmFlags line of the mapping holding `addr`, from /proc/self/smaps.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    fn vm_flags_at(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&addr);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return Some(flags.trim().to_string());
                }
            }
        }
        None
    }
}
