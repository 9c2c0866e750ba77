use anyhow::Context;
use clap::{Parser, Subcommand};
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
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Write logs as JSON lines (for production log collectors).
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Receive journal mail (the default).
    Run,
    /// Write a self-signed certificate and key (PEM) for STARTTLS, for local use and tests.
    /// Point the config's [tls] cert and key at them.
    GenerateCert {
        /// Where to write the certificate.
        #[arg(long)]
        cert: PathBuf,
        /// Where to write the private key (mode 0600).
        #[arg(long)]
        key: PathBuf,
        /// Host name the certificate is for.
        #[arg(long, default_value = "postern.localhost")]
        hostname: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_cli().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run_cli() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = ingest::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            ingest::run(config, shutdown_signal()).await.context("ingest failed")?;
        }
        Command::GenerateCert { cert, key, hostname } => {
            let (cert_pem, key_pem) =
                ingest::tls::self_signed(&hostname).map_err(|e| anyhow::anyhow!("generating the certificate: {e}"))?;
            for path in [&cert, &key] {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            std::fs::write(&cert, cert_pem).with_context(|| format!("writing {}", cert.display()))?;
            write_private(&key, key_pem.as_bytes()).with_context(|| format!("writing {}", key.display()))?;
            println!("wrote {} and {} (self-signed for {hostname})", cert.display(), key.display());
        }
    }
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
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
