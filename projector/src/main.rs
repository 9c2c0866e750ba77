//! The `projector` binary: parses the command line and runs it ([`projector::cli`]).

use clap::Parser;
use projector::cli::{Command, Outcome};
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: folding allocates and frees many small
/// keys and strings, and glibc's malloc took a third of the fold thread's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Postern's projector: folds the event streams into RocksDB views and serves them.
///
/// `projector serve` follows MAIL_RAW and MAIL_EVENTS from the checkpoints stored with the
/// views (one synced WriteBatch holds view rows and checkpoints) and serves the HTTP API
/// on 127.0.0.1:8025. The other subcommands are clients of that API.
///
/// Environment: NATS_URL, POSTERN_PROJECTOR_DB, POSTERN_HTTP_LISTEN override the config;
/// POSTERN_API sets the API the CLI talks to; RUST_LOG sets the log filter.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Write logs as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    runtime::init_logging(cli.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("projector: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(projector::cli::run(cli.command, runtime::shutdown_signal())) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Err(e) => {
            eprintln!("projector: {}", runtime::error_chain(&e));
            ExitCode::from(2)
        }
    }
}
