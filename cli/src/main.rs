//! The `lime` command-line tool.

mod decode;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// LIME protocol tool: decode captures (more subcommands arrive with the server).
#[derive(Parser)]
#[command(name = "lime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a LIME TCP byte stream (a capture) into one canonical JSON envelope per line.
    ///
    /// Reads FILE, or standard input when FILE is absent or `-`. On invalid input the envelopes
    /// before the fault are printed, then a one-line error naming the byte offset goes to
    /// standard error and the exit status is 2.
    Decode(decode::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode(args) => decode::run(&args),
    }
}
