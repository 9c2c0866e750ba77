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

#[derive(Subcommand)]
enum Command {
    /// Consume MAIL_RAW and publish dispositions (the default).
    Run,
    /// Score every .eml below DIR without NATS: disposition counts per label, a confusion
    /// matrix, per-label precision and recall, the false-positive and catch rates.
    Eval {
        /// Folder of .eml files.
        #[arg(long)]
        corpus: PathBuf,
        /// Labels: a TSV with `file` (relative to --corpus) and `label` columns. Default:
        /// DIR/MANIFEST.tsv when present, else the folder layout DIR/<label>/*.eml.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// One JSON object per message, then a summary object.
        #[arg(long)]
        json: bool,
        /// DNS fixture (`name value` lines) for authentication; eval never uses the network.
        #[arg(long)]
        dns: Option<PathBuf>,
        /// Domain registration table (`domain,YYYY-MM-DD`); ages are measured to now.
        #[arg(long)]
        domain_ages: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run_cli().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scorer: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run_cli() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = scorer::config::Config::load(cli.config.as_deref()).context("loading configuration")?;
            scorer::run(config, shutdown_signal()).await.context("scorer failed")?;
        }
        Command::Eval { corpus, labels, json, dns, domain_ages } => {
            eval(&corpus, labels.as_deref(), dns.as_deref(), domain_ages.as_deref(), json).await?
        }
    }
    Ok(())
}

async fn eval(
    corpus: &std::path::Path,
    labels: Option<&std::path::Path>,
    dns: Option<&std::path::Path>,
    domain_ages: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let ages = domain_ages
        .map(scorer::analysis::new_domain::DomainAges::load)
        .transpose()
        .map_err(anyhow::Error::msg)?
        .map(std::sync::Arc::new);
    use scorer::auth::{Authenticator, TxtRecords};
    use scorer::eval;
    let records = dns.map(TxtRecords::load).transpose().map_err(anyhow::Error::msg)?.unwrap_or_default();
    let auth = Authenticator::offline(records).map_err(anyhow::Error::msg)?;
    if !corpus.is_dir() {
        anyhow::bail!("--corpus {}: not a folder", corpus.display());
    }
    // The corpus's own manifest is used when present and no other is named.
    let manifest_path = labels.map(|p| p.to_path_buf()).or_else(|| {
        let p = corpus.join("MANIFEST.tsv");
        p.is_file().then_some(p)
    });
    let manifest = manifest_path.as_deref().map(eval::read_manifest).transpose().map_err(anyhow::Error::msg)?;
    let files = eval::find_messages(corpus).with_context(|| format!("reading {}", corpus.display()))?;
    if files.is_empty() {
        anyhow::bail!("no .eml files below {}", corpus.display());
    }
    let mut scored = Vec::with_capacity(files.len());
    for path in &files {
        let s = eval::score_file(corpus, path, manifest.as_ref(), &auth, ages.clone())
            .await
            .with_context(|| format!("reading {}", path.display()))?;
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
    let summary = eval::summarize(&scored);
    if json {
        println!("{}", serde_json::json!({ "summary": summary }));
        return Ok(());
    }
    match &manifest_path {
        Some(p) => println!("labels from {}", p.display()),
        None => println!("labels from the folder layout"),
    }
    print!("{:<12}", "label");
    for d in Disposition::ALL {
        print!("{:>11}", d.as_str());
    }
    println!("{:>8}{:>11}{:>9}", "total", "precision", "recall");
    for (label, row) in &summary.confusion {
        print!("{label:<12}");
        for d in Disposition::ALL {
            print!("{:>11}", row.get(d.as_str()).copied().unwrap_or(0));
        }
        print!("{:>8}", row.values().sum::<usize>());
        match summary.labels.get(label) {
            Some(s) => println!(
                "{:>11}{:>9}",
                s.precision.map(|p| format!("{:.1}%", p * 100.0)).unwrap_or_else(|| "-".into()),
                format!("{:.1}%", s.recall * 100.0)
            ),
            None => println!(),
        }
    }
    println!("{} messages scored", summary.messages);
    if let Some(fp) = summary.clean_false_positive_rate {
        println!("clean given anything but NONE/BULK (false positives): {:.1}%", fp * 100.0);
    }
    if let Some(caught) = summary.spam_phish_caught {
        println!("spam and phish given anything but NONE (caught): {:.1}%", caught * 100.0);
    }
    if let Some(enc) = summary.labels.get("encrypted") {
        println!("encrypted with the ENCRYPTED attribute: {:.1}%", enc.recall * 100.0);
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
