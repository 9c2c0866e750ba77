//! The `scorer` binary: parses the command line and runs it ([`scorer::cli`]).

use clap::Parser;
use scorer::cli::Command;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: scoring parses, renders and matches each
/// message in many short-lived strings and vectors.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Postern's scorer: a stateless worker on the shared durable consumer of MAIL_RAW.
///
/// `scorer run` (the default) parses each raw message, runs the checks, publishes a
/// DispositionAssigned event to MAIL_EVENTS and acks the raw event only after that publish
/// is acknowledged. Run as many as you like; they share the work.
/// `scorer eval --corpus DIR` scores a folder of .eml files offline (no NATS).
///
/// Environment: NATS_URL overrides nats_url, POSTERN_DNS (system or offline) overrides dns;
/// RUST_LOG sets the log filter (default "info").
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file (see scorer/scorer.example.toml).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Write logs as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runtime::init_logging(cli.log_json);
    match scorer::cli::run(cli.config.as_deref(), cli.command, runtime::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scorer: {}", runtime::error_chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
