use anyhow::Context;
use clap::{Parser, Subcommand};
use proto::Disposition;
use std::path::PathBuf;

/// Postern's scorer: a stateless worker on the shared durable consumer of MAIL_RAW.
///
/// `scorer run` (the default) parses each raw message, runs the checks, publishes a
/// DispositionAssigned event to MAIL_EVENTS and acks the raw event only after that publish
/// is acknowledged. Run as many as you like; they share the work.
/// `scorer eval --corpus DIR` scores a folder of .eml files offline (no NATS).
///
/// Environment: NATS_URL overrides nats_url; RUST_LOG sets the log filter (default "info").
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

#[derive(Subcommand)]
enum Command {
    /// Consume MAIL_RAW and publish dispositions (the default).
    Run,
    /// Score every .eml below DIR without NATS and print the disposition counts,
    /// per label when DIR is laid out as DIR/<label>/*.eml.
    Eval {
        /// Folder of .eml files.
        #[arg(long)]
        corpus: PathBuf,
        /// One JSON object per message, then a summary object.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            scorer::run(config, shutdown_signal()).await.context("scorer failed")?;
        }
        Command::Eval { corpus, json } => eval(&corpus, json)?,
    }
    Ok(())
}

fn eval(corpus: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use scorer::eval;
    if !corpus.is_dir() {
        anyhow::bail!("--corpus {}: not a folder", corpus.display());
    }
    let files = eval::find_messages(corpus).with_context(|| format!("reading {}", corpus.display()))?;
    if files.is_empty() {
        anyhow::bail!("no .eml files below {}", corpus.display());
    }
    let mut scored = Vec::with_capacity(files.len());
    for path in &files {
        let s = eval::score_file(corpus, path).with_context(|| format!("reading {}", path.display()))?;
        if json {
            let line = serde_json::json!({
                "file": s.file,
                "label": s.label,
                "disposition": s.verdict.disposition.as_str(),
                "attributes": s.verdict.attributes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "detections": s.verdict.detections.iter().map(|d| serde_json::json!({
                    "name": d.name, "score": f64::from(d.score_milli) / 1000.0, "evidence": d.evidence,
                })).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
        scored.push(s);
    }
    let table = eval::count(&scored);
    if json {
        let summary: serde_json::Map<String, serde_json::Value> = table
            .iter()
            .map(|(label, row)| {
                let row: serde_json::Map<String, serde_json::Value> =
                    row.iter().map(|(d, n)| (d.as_str().to_owned(), (*n).into())).collect();
                (label.clone(), row.into())
            })
            .collect();
        println!("{}", serde_json::json!({ "summary": { "messages": scored.len(), "by_label": summary } }));
    } else {
        print!("{:<12}", "label");
        for d in Disposition::ALL {
            print!("{:>11}", d.as_str());
        }
        println!("{:>8}", "total");
        for (label, row) in &table {
            print!("{label:<12}");
            for d in Disposition::ALL {
                print!("{:>11}", row.get(&d).copied().unwrap_or(0));
            }
            println!("{:>8}", row.values().sum::<usize>());
        }
        println!("{} messages scored", scored.len());
    }
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
