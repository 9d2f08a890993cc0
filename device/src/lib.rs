//! The colorize device runtime.
pub use colorize_shared as shared;

pub mod net;
