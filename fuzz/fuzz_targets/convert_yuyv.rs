//! YUYV driver buffer -> L* with any geometry (header: see src/lib.rs).
#![no_main]

use colorize_device::camera::convert::yuyv_to_l;
use colorize_fuzz::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(mut f) = Frame::parse(data) else {
        return;
    };
    let _ = yuyv_to_l(f.buf, f.width, f.height, f.stride, f.bytesused, &mut f.l);
});
