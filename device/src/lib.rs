//! The colorize device runtime. Filled in by the runtime issue.
pub use colorize_shared as shared;
