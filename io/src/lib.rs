//! Image files in and out, for the device and the trainer alike (no
//! inference runtime here): decoding within limits with the metadata an
//! archive keeps ([`images`], [`exif`], [`xmp`], [`icc`]), the L* plane
//! every model takes ([`lstar`]), streaming encoders and atomic, durable
//! writes ([`output`]), the one colourize path every caller goes through
//! ([`pipeline`]) and what it costs in memory ([`memory`]), training samples derived by that same code
//! ([`samples`]), and the colour hints an archivist gives ([`hints`]).
//!
//! Layers, lowest first: `lstar`, `hints` (leaves: nothing of this crate,
//! `colorize_shared` only), `exif`, `xmp`, `inputs` -> `images` -> `icc`,
//! `output`, `samples` -> `pipeline` -> `memory`; no module imports one above
//! it (`scripts/check-layers.py` checks that there is no cycle).

pub mod exif;
pub mod hints;
pub mod icc;
pub mod images;
pub mod inputs;
pub mod lstar;
pub mod memory;
pub mod output;
pub mod pipeline;
pub mod samples;
pub mod xmp;
