//! The colorize device runtime.
pub use colorize_shared as shared;

pub mod forward;
pub mod net;
pub mod onnx;
pub mod runtime;
pub mod synthetic;

pub use runtime::{Model, Session};

pub mod boxd;
pub mod camera;
pub mod config;
pub mod gpio;
