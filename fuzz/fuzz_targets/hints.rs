//! Colour hints: the bytes as a hints JSON file and (lossy UTF-8) as one
//! `--hint` argument, then whatever parsed placed on a tiny and a huge
//! image. No panic; a placed hint lies in the image with a finite radius;
//! every error is one line.
#![no_main]

use colorize_io::hints::{parse_arg, parse_json, place, HintError};
use libfuzzer_sys::fuzz_target;

fn one_line(e: &HintError) {
    let msg = e.to_string();
    assert!(!msg.contains(['\n', '\r']), "error over two lines: {msg:?}");
}

fuzz_target!(|data: &[u8]| {
    let mut hints = match parse_json(data) {
        Ok(h) => h,
        Err(e) => {
            one_line(&e);
            Vec::new()
        }
    };
    match parse_arg(&String::from_utf8_lossy(data)) {
        Ok(h) => hints.push(h),
        Err(e) => one_line(&e),
    }
    for (w, h) in [(3, 2), (usize::MAX, usize::MAX)] {
        match place(&hints, w, h) {
            Ok(placed) => {
                for p in placed {
                    assert!(p.x >= 0.0 && (p.x as f64) < w as f64, "{p:?} in {w}x{h}");
                    assert!(p.y >= 0.0 && (p.y as f64) < h as f64, "{p:?} in {w}x{h}");
                    assert!(p.radius.is_finite() && p.radius >= 0.0, "{p:?}");
                }
            }
            Err(e) => one_line(&e),
        }
    }
});
