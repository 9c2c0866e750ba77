use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;

/// Postern's journal SMTP receiver.
///
/// Accepts journal copies (Exchange / Microsoft 365 journal reports, Google Workspace BCC
/// routes, plain BCC) over SMTP, stores each as a RawMailReceived event in the JetStream
/// stream MAIL_RAW, and answers 250 only after JetStream acknowledged it; 451 otherwise,
/// so the sending server retries. Without --config it listens on 127.0.0.1:2525 and
/// accepts mail for journal@postern.localhost (tenant "default").
///
/// Environment: NATS_URL overrides nats_url, POSTERN_INGEST_LISTEN overrides listen,
/// RUST_LOG sets the log filter (default "info").
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// TOML configuration file (see ingest/ingest.example.toml).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Write logs as JSON lines (for production log collectors).
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let config = ingest::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
    ingest::run(config, shutdown_signal()).await.context("ingest failed")?;
    Ok(())
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal; log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown signal received");
}
