//! The steady-state capture path (driver buffer -> L* plane) allocates
//! nothing: a counting global allocator watches 50 frames.
//!
//! Only the test's own thread is counted: the test harness's main thread
//! runs beside it and may allocate at any moment (CI once saw 4 such
//! allocations), which says nothing about the capture path.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use colorize_device::camera::{FakeSource, FrameSource};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A const-initialised Cell has no destructor and needs no allocation to
    // reach, so the allocator may read it.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
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
                                    // The counter can see an allocation on this thread: a fresh buffer is
                                    // counted.
    WATCHED.set(true);
    drop(std::hint::black_box(vec![0u8; 64]));
    WATCHED.set(false);
    assert_eq!(
        ALLOCS.swap(0, Ordering::SeqCst),
        1,
        "the counter missed an allocation"
    );

    let mut checksum = 0u64;
    WATCHED.set(true);
    for _ in 0..50 {
        let info = src.capture_l(&mut l).unwrap();
        checksum += info.sequence as u64 + l[w * h - 1] as u64;
    }
    WATCHED.set(false);
    assert!(checksum > 0);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "allocations in 50 steady-state frames"
    );
}
