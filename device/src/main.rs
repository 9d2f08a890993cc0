use std::process::ExitCode;

use clap::Parser;
use colorize_device::cli::{self, Cli};

fn main() -> ExitCode {
    colorize_device::tune_allocator();
    match cli::run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
