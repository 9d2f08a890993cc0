//! colorize-train as a library, so the integration tests drive the same code
//! as the `colorize-train` binary.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod colorizer;
pub mod cuda;
pub mod data;

pub mod eval;
pub mod export;
pub mod loss;
pub mod model;
pub mod optim;
pub mod plot;
pub mod report;
pub mod resources;
pub mod status;
pub mod tradeoff;
pub mod train;
