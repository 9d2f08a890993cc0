//! MJPEG driver buffer -> L* with any negotiated size (header: see
//! src/lib.rs; the stride is unused). The scratch buffer is reused across
//! two calls, as the capture loop does.
#![no_main]

use std::sync::Once;

use colorize_device::camera::convert::mjpeg_to_l;
use colorize_fuzz::Frame;
use libfuzzer_sys::fuzz_target;

/// `mjpeg_to_l` turns a panic inside the JPEG decoder into an error
/// (`catch_unwind`); libfuzzer-sys' own hook would abort on that caught
/// panic, so it is swapped for one that only prints. A panic that escapes
/// still aborts (libfuzzer-sys) and is a crash.
static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("caught by mjpeg_to_l? {info}")))
    });
    let Some(mut f) = Frame::parse(data) else {
        return;
    };
    let mut scratch = Vec::new();
    let first = mjpeg_to_l(
        f.buf,
        f.width,
        f.height,
        f.bytesused,
        &mut f.l,
        &mut scratch,
    );
    let second = mjpeg_to_l(
        f.buf,
        f.width,
        f.height,
        f.bytesused,
        &mut f.l,
        &mut scratch,
    );
    assert_eq!(
        first.is_ok(),
        second.is_ok(),
        "scratch reuse changed the result"
    );
});
