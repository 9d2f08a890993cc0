//! Image file bytes -> decode (with the size limits) -> L* plane: the path
//! every `colorize files` input and every box inbox file takes.
#![no_main]

use std::io::Cursor;

use colorize_device::images::l_plane;
use image::{ImageReader, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = ImageReader::new(Cursor::new(data))
        .with_guessed_format()
        .expect("sniffing a Cursor can not fail");
    let mut limits = Limits::default();
    limits.max_image_width = Some(4096);
    limits.max_image_height = Some(4096);
    limits.max_alloc = Some(256 << 20);
    reader.limits(limits);
    if let Ok(img) = reader.decode() {
        let plane = l_plane(&img);
        assert_eq!(plane.l.len(), plane.width * plane.height);
    }
});
