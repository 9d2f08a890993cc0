//! Where every result goes, for `colorize files`, the camera and the box
//! alike: one encoder per format, each carrying the provenance note and the
//! XMP machine-colour declaration ([`crate::xmp`]), one
//! atomic writer and one sweep of the temp files a crash left.
//!
//! A result is either absent or complete, never half-written, even across
//! power loss: write to a hidden temp file in the same directory, fsync it,
//! rename over the final name, then fsync the directory so the rename itself
//! is on disk. Only after that may the caller touch the input.
//!
//! [`durable`] holds the atomic writer and the sweep; [`encode`] the
//! encoders, streaming band by band.

mod durable;
mod encode;
mod png_rows;

pub use durable::*;
pub use encode::*;
