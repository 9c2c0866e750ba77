use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Postern's remediation worker: carries out RemediationRequested events (move the message
/// out of every mailbox holding a copy) through IMAP, and records each mailbox's outcome
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let result = async {
        let config = remediator::Config::load(&cli.config).context("loading configuration")?;
        remediator::run(config, shutdown_signal()).await.context("remediator failed")
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("remediator: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}
