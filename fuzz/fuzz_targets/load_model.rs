//! Arbitrary bytes as an ONNX model: protobuf decode, integrity check, tract
//! load and optimisation, contract validation. Must be an error, never a
//! crash.
//!
//! `Model::from_bytes` turns a panic inside tract into an error
//! (`catch_unwind`), so the target swaps libfuzzer-sys' panic hook, which
//! aborts on every panic even a caught one, for one that only prints the
//! message. A panic that escapes `from_bytes` still ends in libfuzzer-sys'
//! `abort` and is reported as a crash.
#![no_main]

use std::sync::Once;

use colorize_device::Model;
use libfuzzer_sys::fuzz_target;

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| eprintln!("caught by from_bytes? {info}")))
    });
    if let Ok(model) = Model::from_bytes(data) {
        let g = model.geometry();
        assert!(g.width > 0 && g.height > 0);
    }
});
