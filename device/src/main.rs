use std::process::ExitCode;

use clap::Parser;
use colorize_device::cli::{self, Cli};

// Big buffers on transparent huge pages: see the module's docs.
#[global_allocator]
static ALLOC: colorize_device::alloc::HugePageHint = colorize_device::alloc::HugePageHint;

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
