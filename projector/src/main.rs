use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use projector::query::Trace;
use std::path::PathBuf;
use std::process::ExitCode;

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

#[derive(Subcommand)]
enum Command {
    /// Fold the streams into the views and serve the HTTP API.
    Serve {
        /// TOML configuration file (see projector/projector.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Delete the views and fold the retained streams again from sequence 1.
        #[arg(long)]
        rebuild: bool,
    },
    /// Show one message's timeline: its copies, its disposition and every event about it.
    Trace {
        /// RFC 5322 Message-ID, with or without angle brackets.
        #[arg(long, conflicts_with = "postern_id", required_unless_present = "postern_id")]
        message_id: Option<String>,
        /// Postern's id of the message.
        #[arg(long)]
        postern_id: Option<String>,
        /// Tenant the message belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Base URL of the projector API.
        #[arg(long, env = "POSTERN_API", default_value = "http://127.0.0.1:8025")]
        api: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("projector: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("projector: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, rebuild } => {
            let config = projector::config::Config::load(config.as_deref()).context("loading configuration")?;
            projector::run(config, rebuild, shutdown_signal()).await.context("projector failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace { message_id, postern_id, tenant, json, api } => {
            let mut url = reqwest::Url::parse(&api).with_context(|| format!("--api {api:?} is not a URL"))?;
            url.set_path("/api/v1/messages");
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("tenant", &tenant);
                match (&message_id, &postern_id) {
                    (Some(m), _) => q.append_pair("message_id", m),
                    (None, Some(p)) => q.append_pair("postern_id", p),
                    (None, None) => bail!("give --message-id or --postern-id"),
                };
            }
            let response = reqwest::get(url.clone())
                .await
                .with_context(|| format!("cannot reach the projector API at {api} (is `projector serve` running?)"))?;
            let status = response.status();
            let body: serde_json::Value =
                response.json().await.context("the API answered something that is not JSON")?;
            if !status.is_success() {
                let message = body["error"]["message"].as_str().unwrap_or("unknown error");
                bail!("the API refused: {status}: {message}");
            }
            let messages: Vec<Trace> =
                serde_json::from_value(body["messages"].clone()).context("unexpected answer from the API")?;
            let wanted = message_id.or(postern_id).unwrap_or_default();
            if messages.is_empty() {
                eprintln!("projector: no message {wanted} in tenant {tenant}");
                return Ok(ExitCode::from(1));
            }
            for trace in &messages {
                if json {
                    println!("{}", serde_json::to_string_pretty(trace)?);
                } else {
                    print_trace(trace);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_trace(t: &Trace) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    println!("Postern id    {}", t.postern_id);
    println!("Message-ID    {}", or_dash(&t.message_id));
    println!("Subject       {}", or_dash(&t.subject));
    println!("From          {}", or_dash(&t.from));
    println!("Envelope from {}", or_dash(&t.envelope_sender));
    println!("Recipients    {}", if t.recipients.is_empty() { "-".to_owned() } else { t.recipients.join(", ") });
    println!("Received      {} ({} cop{})", or_dash(&t.received_at), t.copies, if t.copies == 1 { "y" } else { "ies" });
    println!("Disposition   {}", t.disposition.clone().unwrap_or_else(|| "(not scored yet)".to_owned()));
    if !t.attributes.is_empty() {
        println!("Attributes    {}", t.attributes.join(", "));
    }
    println!("Alert id      {}", or_dash(&t.alert_id));
    for d in &t.detections {
        println!("  detection   {} ({:+.1}): {}", d.name, d.score, d.evidence);
    }
    println!();
    println!("{:<25} {:<20} {:<18} WHAT", "TIME", "EVENT", "STREAM/SEQ");
    for e in &t.events {
        println!("{:<25} {:<20} {:<18} {}", e.at, e.event_type, format!("{}/{}", e.stream, e.seq), e.summary);
    }
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
