//! Cross-crate end-to-end tests live in `tests/tests/` (the shipped model
//! against the shared contract). Tests that run the `colorize` binary itself
//! are in `device/tests/` (`cli.rs`, `box_*.rs`, `camera_*.rs`), where Cargo
//! provides the binary's path.
