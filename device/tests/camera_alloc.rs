//! The steady-state capture path (driver buffer -> L* plane) allocates
//! nothing: a counting global allocator watches 50 frames.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use colorize_device::camera::{FakeSource, FrameSource};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn capture_to_l_does_not_allocate() {
    let mut src = FakeSource::gradient(320, 180, 16);
    let (w, h) = src.size();
    let mut l = vec![0u16; w * h];
    src.capture_l(&mut l).unwrap(); // warm-up
    let before = ALLOCS.load(Ordering::SeqCst);
    let mut checksum = 0u64;
    for _ in 0..50 {
        let info = src.capture_l(&mut l).unwrap();
        checksum += info.sequence as u64 + l[w * h - 1] as u64;
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert!(checksum > 0);
    assert_eq!(after - before, 0, "allocations in 50 steady-state frames");
}
