//! The `lime` command-line tool.

mod bench;
mod client;
mod decode;
mod demo;
mod metrics;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// LIME protocol tool: run a server, act as a client, decode captures, benchmark.
#[derive(Parser)]
#[command(name = "lime", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a LIME routing server (TCP with TLS negotiation, and WebSocket).
    ///
    /// Without flags: guest authentication, in-memory registry, net.tcp://127.0.0.1:55321 and
    /// ws://127.0.0.1:8080.
    Serve(serve::Args),
    /// Connect to a server, establish a session, send a message or a command, and print what
    /// arrives as JSON lines.
    Client(client::Args),
    /// Start a server and two clients in this process over loopback sockets and show a whole
    /// session: establishment, routed messages with receipts, a command round trip, finish.
    Demo(demo::Args),
    /// Decode a LIME TCP byte stream (a capture) into one canonical JSON envelope per line.
    ///
    /// Reads FILE, or standard input when FILE is absent or `-`. On invalid input the envelopes
    /// before the fault are printed, then a one-line error naming the byte offset goes to
    /// standard error and the exit status is 2.
    Decode(decode::Args),
    /// Measure throughput, latency, session rate and memory, side by side with baselines.
    Bench(bench::Args),
}

fn init_logs(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("lime: cannot start the async runtime: {e}");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let run = |f: &dyn Fn(&tokio::runtime::Runtime) -> ExitCode| match runtime() {
        Ok(rt) => f(&rt),
        Err(code) => code,
    };
    match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Serve(args) => {
            init_logs(&args.log_level);
            run(&|rt| rt.block_on(serve::run(&args)))
        }
        Command::Client(args) => {
            init_logs(&args.log_level);
            run(&|rt| rt.block_on(client::run(&args)))
        }
        Command::Demo(args) => {
            init_logs(&args.log_level);
            run(&|rt| rt.block_on(demo::run(&args)))
        }
        Command::Bench(args) => {
            init_logs("warn");
            run(&|rt| rt.block_on(bench::run(&args)))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{error::ErrorKind, Parser};

    use super::Cli;

    /// `lime --version` (and `-V`) prints the workspace version, which every crate inherits.
    #[test]
    fn version_flag_prints_the_workspace_version() {
        for flag in ["--version", "-V"] {
            let Err(shown) = Cli::try_parse_from(["lime", flag]) else {
                panic!("{flag} was parsed as a command");
            };
            assert_eq!(shown.kind(), ErrorKind::DisplayVersion);
            assert_eq!(shown.to_string(), format!("lime {}\n", env!("CARGO_PKG_VERSION")));
        }
        // The table's own lines: from its header to the next one.
        let table = include_str!("../../Cargo.toml")
            .split("[workspace.package]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next());
        let line = format!("version = \"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(
            table.is_some_and(|t| t.lines().any(|l| l == line)),
            "the CLI's version is not [workspace.package] {line}"
        );
    }
}
