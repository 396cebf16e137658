//! The `seatsync` command: a thin binary over `seatsync_host::cli`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use seatsync_host::cli::{self, args::Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr; SEATSYNC_LOG (e.g. `info`, `debug`) sets the level.
    // By default only problems are logged; the connector's own warnings
    // (conflicts, skipped lines) already appear in the command's output.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEATSYNC_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,seatsync::connector=error")
            }),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("seatsync: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the chain of causes on one line, no backtrace.
            eprintln!("seatsync: {error:#}");
            ExitCode::FAILURE
        }
    }
}
