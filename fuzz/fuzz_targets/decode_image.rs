//! Image file bytes -> `images::decode_bytes` (format sniffing, header
//! checked against the decode limits, decode) -> L* plane: the path every
//! `colorize files` input and every box inbox file takes.
#![no_main]

use std::sync::Once;

use colorize_io::images::{decode_bytes, DecodeLimits};
use colorize_io::lstar::l_plane;
use libfuzzer_sys::fuzz_target;

/// Tighter than the defaults so that no single input can use more than a
/// few hundred MB under the fuzzer's 2 GB RSS limit.
const LIMITS: DecodeLimits = DecodeLimits {
    max_width: 4096,
    max_height: 4096,
    max_pixels: 4096 * 4096,
    max_decoded_bytes: 256 << 20,
};

/// `decode_bytes` turns a panic inside the JPEG decoder into an error
/// (`catch_unwind`); libfuzzer-sys' own hook would abort on that caught
/// panic, so it is swapped for one that only prints. A panic that escapes
/// still aborts (libfuzzer-sys) and is a crash.
static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("caught by decode_bytes? {info}")))
    });
    if let Ok(img) = decode_bytes(data, &LIMITS) {
        assert!(img.width() <= 4096 && img.height() <= 4096);
        let plane = l_plane(&img);
        assert_eq!(plane.l.len(), plane.width * plane.height);
    }
});
