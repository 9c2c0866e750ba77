use clap::{Parser, Subcommand};
use ingest::config::Layered;
use std::path::PathBuf;
use std::process::ExitCode;

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
async fn main() -> ExitCode {
    let cli = Cli::parse();
    runtime::init_logging(cli.log_json);
    let failed = |what: &str, e: &dyn std::error::Error| {
        eprintln!("ingest: {what}{}", runtime::error_chain(e));
        ExitCode::from(2)
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = match ingest::config::Config::load(cli.config.as_deref()) {
                Ok(config) => config,
                Err(e) => return failed("loading configuration: ", &e),
            };
            match ingest::run(config, runtime::shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failed("ingest failed: ", &e),
            }
        }
        Command::GenerateCert { cert, key, hostname } => match ingest::tls::write_self_signed(&cert, &key, &hostname) {
            Ok(()) => {
                println!("wrote {} and {} (self-signed for {hostname})", cert.display(), key.display());
                ExitCode::SUCCESS
            }
            Err(e) => failed("", &e),
        },
    }
}
