//! The `colorize-train` command line. Each subcommand is one module with an
//! `Args` struct (clap derive) and a `run` function; adding a subcommand is
//! one [`Command`] variant plus its module. What the subcommands compute
//! lives in the library's other modules: these only turn arguments into
//! calls and results into output.

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod bench;
pub mod colorize;
pub mod curves;
pub mod eval;
pub mod export;
pub mod pack;
pub mod status;
pub mod tradeoff;
pub mod train;

#[derive(Parser)]
#[command(
    name = "colorize-train",
    version,
    about = "Train, score and export the colorize models (libtorch)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// No doc comments on the variants: each subcommand's help is its `Args`
// struct's doc comment.
#[derive(Subcommand)]
pub enum Command {
    // Boxed: by far the largest variant (clippy::large_enum_variant).
    Train(Box<train::Args>),
    Eval(eval::Args),
    Export(export::Args),
    Colorize(colorize::Args),
    Bench(bench::Args),
    Status(status::Args),
    Pack(pack::Args),
    Tradeoff(tradeoff::Args),
    Curves(curves::Args),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Export(args) => export::run(args),
        Command::Colorize(args) => colorize::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Status(args) => status::run(args),
        Command::Pack(args) => pack::run(args),
        Command::Tradeoff(args) => tradeoff::run(args),
        Command::Curves(args) => curves::run(args),
    }
}
