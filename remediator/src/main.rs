use clap::Parser;
use remediator::Layered;
use std::path::PathBuf;
use std::process::ExitCode;

/// Postern's remediation worker: carries out RemediationRequested events (move the message
/// out of every mailbox holding a copy, or back in for a release) through each tenant's
/// IMAP server, Microsoft Graph or Gmail, and records each mailbox's outcome
/// as a RemediationCompleted event. Run as many as you like; they share one durable
/// consumer. Environment: NATS_URL overrides nats_url; RUST_LOG sets the log filter.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration (see remediator/remediator.example.toml).
    #[arg(long, short)]
    config: PathBuf,
    /// Write logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runtime::init_logging(cli.log_json);
    let config = match remediator::Config::load(Some(&cli.config)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("remediator: loading configuration: {}", runtime::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    match remediator::run(config, runtime::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remediator failed: {}", runtime::error_chain(&e));
            ExitCode::from(2)
        }
    }
}
