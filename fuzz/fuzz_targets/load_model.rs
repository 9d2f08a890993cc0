//! Arbitrary bytes as an ONNX model: protobuf decode, tract load and
//! optimisation, contract validation. Must be an error, never a panic.
#![no_main]

use colorize_device::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::from_bytes(data) {
        let g = model.geometry();
        assert!(g.width > 0 && g.height > 0);
    }
});
