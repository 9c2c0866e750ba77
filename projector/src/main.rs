use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use projector::query::Trace;
use projector::query::{Report, SearchPage};
use std::path::PathBuf;
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

#[derive(Subcommand)]
enum Command {
    /// Fold the streams into the views and serve the HTTP API.
    Serve {
        /// TOML configuration file (see projector/projector.example.toml).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Delete the views and fold the retained streams again from sequence 1.
        #[arg(long, conflicts_with = "db")]
        rebuild: bool,
        /// Serve this database read-only, without folding (a `projector rebuild --as-of`
        /// database, for an audit): every answer carries its as-of time, writes are refused.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Show one message's timeline: its copies, its disposition and every event about it.
    Trace {
        /// RFC 5322 Message-ID, with or without angle brackets.
        #[arg(long, conflicts_with = "postern_id", required_unless_present = "postern_id")]
        message_id: Option<String>,
        /// Postern's id of the message.
        #[arg(long)]
        postern_id: Option<String>,
        /// The message as it stood then: only the events that had occurred by this time
        /// (YYYY-MM-DD or RFC 3339 UTC), for audits.
        #[arg(long)]
        as_of: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Investigation search: every filter must hold; newest first, a page at a time.
    Search {
        /// Received at or after (YYYY-MM-DD or RFC 3339 UTC); default: 30 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Received before; default: now.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        sender: Option<String>,
        #[arg(long)]
        recipient: Option<String>,
        /// Sender domain.
        #[arg(long)]
        domain: Option<String>,
        /// Words that must all be in the subject.
        #[arg(long)]
        subject: Option<String>,
        /// Final disposition (MALICIOUS, SUSPICIOUS, SPOOF, SPAM, BULK, NONE).
        #[arg(long)]
        disposition: Option<String>,
        /// Action taken (move_to_junk, quarantine, ...).
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        alert_id: Option<String>,
        #[arg(long)]
        message_id: Option<String>,
        #[arg(long)]
        postern_id: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The `next_cursor` of the previous page.
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Daily report: messages by final disposition, reclassifications by status, top sender
    /// domains and most targeted recipients.
    Report {
        /// First day (YYYY-MM-DD); default: 6 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Last day; default: today.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Ask for another disposition for a message (TEAM submissions are accepted at once;
    /// USER submissions wait for an analyst: `projector resolve`).
    Reclassify {
        #[arg(long, required_unless_present_any = ["postern_id", "alert_id"], conflicts_with_all = ["postern_id", "alert_id"])]
        message_id: Option<String>,
        #[arg(long, conflicts_with = "alert_id")]
        postern_id: Option<String>,
        #[arg(long)]
        alert_id: Option<String>,
        #[arg(long)]
        disposition: String,
        /// team or user.
        #[arg(long = "type", value_parser = ["team", "user"])]
        submission_type: String,
        /// Who asks (default: the token's name, else "api").
        #[arg(long)]
        requested_by: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Decide on a reclassification: accept, reject, or withdraw it (also an accepted one).
    Resolve {
        submission_id: String,
        #[arg(long, value_parser = ["accept", "reject", "withdraw"])]
        outcome: String,
        #[arg(long)]
        resolved_by: Option<String>,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List reclassifications (newest first).
    Reclassifications {
        /// pending, accepted, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Fold the retained streams from sequence 1 into a fresh database (offline work: talks
    /// to NATS, not to the API), with a progress line; `--as-of` gives the views as they
    /// stood at that time.
    Rebuild {
        /// The new database folder (must not exist).
        #[arg(long)]
        db: PathBuf,
        /// Leave out events that occurred after this time (YYYY-MM-DD or RFC 3339 UTC).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Events per write batch.
        #[arg(long, default_value_t = 4096)]
        batch_size: usize,
    },
    /// Compare two databases key by key (read-only; one may be in use by `serve`); exit 1
    /// when they differ, with the first differences.
    Verify {
        left: PathBuf,
        right: PathBuf,
        /// Compare only this tenant's keys (a shard's views against an unsharded projector's).
        #[arg(long)]
        tenant: Option<String>,
        /// How many differences to show.
        #[arg(long, default_value_t = 10)]
        show: usize,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Make a new random token for a tenant: prints the token once, and the line for the
    /// config's `tokens` list (only the hash is stored).
    New {
        #[arg(long)]
        tenant: String,
        /// Who holds it.
        #[arg(long, default_value = "")]
        name: String,
    },
}

/// How the CLI reaches the API.
#[derive(clap::Args, Clone)]
struct ApiArgs {
    /// Base URL of the projector API.
    #[arg(long, env = "POSTERN_API", default_value = "http://127.0.0.1:8025")]
    api: String,
    /// Bearer token (when the API has tokens).
    #[arg(long, env = "POSTERN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Tenant, on an API without tokens (default there: `default`); with a token, the
    /// token's tenant.
    #[arg(long, env = "POSTERN_TENANT")]
    tenant: Option<String>,
}

impl ApiArgs {
    fn params(&self) -> Vec<(&'static str, String)> {
        self.tenant.iter().map(|t| ("tenant", t.clone())).collect()
    }
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
        Command::Serve { config, rebuild, db } => {
            let config = projector::config::Config::load(config.as_deref()).context("loading configuration")?;
            match db {
                Some(db) => projector::serve_read_only(config, &db, shutdown_signal()).await,
                None => projector::run(config, rebuild, shutdown_signal()).await,
            }
            .context("projector failed")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace { message_id, postern_id, as_of, json, api } => {
            // With a token the API knows the tenant; without one (an open local API) the
            // tenant is `--tenant`, or the default one.
            let tenant = match &api.tenant {
                Some(t) => format!("tenant {t}"),
                None if api.token.is_some() => "your token's tenant".to_owned(),
                None => "tenant default".to_owned(),
            };
            let mut params = api.params();
            match (&message_id, &postern_id) {
                (Some(m), _) => params.push(("message_id", m.clone())),
                (None, Some(p)) => params.push(("postern_id", p.clone())),
                (None, None) => bail!("give --message-id or --postern-id"),
            };
            if let Some(t) = &as_of {
                params.push(("as_of", t.clone()));
            }
            let body = call(&api, reqwest::Method::GET, "/api/v1/messages", &params, None).await?;
            let messages: Vec<Trace> =
                serde_json::from_value(body["messages"].clone()).context("unexpected answer from the API")?;
            let wanted = message_id.or(postern_id).unwrap_or_default();
            if messages.is_empty() {
                let by = as_of.as_deref().map(|t| format!(" by {t}")).unwrap_or_default();
                eprintln!("projector: no message {wanted} in {tenant}{by}");
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
        Command::Search {
            from,
            to,
            sender,
            recipient,
            domain,
            subject,
            disposition,
            action,
            alert_id,
            message_id,
            postern_id,
            limit,
            cursor,
            json,
            api,
        } => {
            let mut params = api.params();
            for (k, v) in [
                ("from", from),
                ("to", to),
                ("sender", sender),
                ("recipient", recipient),
                ("domain", domain),
                ("subject", subject),
                ("disposition", disposition),
                ("action", action),
                ("alert_id", alert_id),
                ("message_id", message_id),
                ("postern_id", postern_id),
                ("cursor", cursor),
            ] {
                if let Some(v) = v {
                    params.push((k, v));
                }
            }
            params.push(("limit", limit.to_string()));
            let body = call(&api, reqwest::Method::GET, "/api/v1/search", &params, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            let page: SearchPage = serde_json::from_value(body).context("unexpected answer from the API")?;
            println!("{:<25} {:<16} {:<11} {:<32} SUBJECT", "RECEIVED", "POSTERN ID", "DISPOSITION", "FROM");
            for m in &page.messages {
                println!(
                    "{:<25} {:<16} {:<11} {:<32} {}",
                    m.received_at,
                    m.postern_id,
                    m.disposition.as_deref().unwrap_or("-"),
                    clip(m.from.as_deref().unwrap_or("-"), 32),
                    m.subject.as_deref().unwrap_or("-")
                );
            }
            match &page.next_cursor {
                Some(c) => println!("{} shown; more with --cursor {c}", page.messages.len()),
                None => println!("{} shown", page.messages.len()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { from, to, top, json, csv, api } => {
            let mut params = api.params();
            if let Some(v) = from {
                params.push(("from", v));
            }
            if let Some(v) = to {
                params.push(("to", v));
            }
            params.push(("top", top.to_string()));
            if csv {
                params.push(("format", "csv".to_owned()));
                print!("{}", call_text(&api, reqwest::Method::GET, "/api/v1/reports/daily", &params, None).await?);
                return Ok(ExitCode::SUCCESS);
            }
            let body = call(&api, reqwest::Method::GET, "/api/v1/reports/daily", &params, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            let report: Report = serde_json::from_value(body).context("unexpected answer from the API")?;
            println!("Tenant {}, {} to {}", report.tenant, report.from, report.to);
            println!("{:<12} {:>9}  DISPOSITIONS / RECLASSIFICATIONS", "DAY", "MESSAGES");
            for d in &report.days {
                let dispositions: Vec<String> = d.dispositions.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let reclass: Vec<String> = d.reclassifications.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!(
                    "{:<12} {:>9}  {}{}",
                    d.date,
                    d.messages,
                    dispositions.join(", "),
                    if reclass.is_empty() { String::new() } else { format!(" / {}", reclass.join(", ")) }
                );
            }
            println!("\nTop sender domains");
            for (k, v) in &report.top_sender_domains {
                println!("  {v:>9}  {k}");
            }
            println!("Most targeted recipients");
            for (k, v) in &report.top_recipients {
                println!("  {v:>9}  {k}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reclassify {
            message_id,
            postern_id,
            alert_id,
            disposition,
            submission_type,
            requested_by,
            comment,
            json,
            api,
        } => {
            let mut body = serde_json::json!({
                "disposition": disposition,
                "type": submission_type,
                "comment": comment,
            });
            for (k, v) in [
                ("message_id", message_id),
                ("postern_id", postern_id),
                ("alert_id", alert_id),
                ("requested_by", requested_by),
            ] {
                if let Some(v) = v {
                    body[k] = serde_json::Value::String(v);
                }
            }
            let answer =
                call(&api, reqwest::Method::POST, "/api/v1/reclassifications", &api.params(), Some(body)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!(
                    "submission {} for {}: {} ({} -> {}); final disposition {}",
                    answer["submission_id"].as_str().unwrap_or("?"),
                    answer["postern_id"].as_str().unwrap_or("?"),
                    answer["status"].as_str().unwrap_or("?"),
                    answer["original"].as_str().unwrap_or("?"),
                    answer["requested"].as_str().unwrap_or("?"),
                    answer["final_disposition"].as_str().unwrap_or("?"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Resolve { submission_id, outcome, resolved_by, comment, json, api } => {
            let mut body = serde_json::json!({ "outcome": outcome, "comment": comment });
            if let Some(by) = resolved_by {
                body["resolved_by"] = serde_json::Value::String(by);
            }
            let path = format!("/api/v1/reclassifications/{submission_id}/resolve");
            let answer = call(&api, reqwest::Method::POST, &path, &api.params(), Some(body)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!(
                    "submission {}: {}; final disposition {}",
                    submission_id,
                    answer["status"].as_str().unwrap_or("?"),
                    answer["final_disposition"].as_str().unwrap_or("?")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Reclassifications { status, json, api } => {
            let mut params = api.params();
            if let Some(s) = status {
                params.push(("status", s));
            }
            let answer = call(&api, reqwest::Method::GET, "/api/v1/reclassifications", &params, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<27} {:<16} {:<5} {:<10} {:<23} {:<10} REQUESTED BY",
                "SUBMISSION", "POSTERN ID", "TYPE", "STATUS", "CHANGE", "FINAL"
            );
            for r in answer["reclassifications"].as_array().into_iter().flatten() {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
                println!(
                    "{:<27} {:<16} {:<5} {:<10} {:<23} {:<10} {}",
                    s("submission_id"),
                    s("postern_id"),
                    s("type"),
                    s("status"),
                    format!("{} -> {}", s("original"), s("requested")),
                    s("final_disposition"),
                    s("requested_by")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rebuild { db, as_of, config, batch_size } => {
            let config = projector::config::Config::load(config.as_deref()).context("loading configuration")?;
            let as_of = as_of
                .map(|t| proto::Timestamp::parse(&t).map(|t| t.millis()))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--as-of: {e}"))?;
            let client = async_nats::ConnectOptions::new()
                .name("postern-projector-rebuild")
                .connection_timeout(std::time::Duration::from_secs(5))
                .connect(proto::cluster::server_urls(&config.nats_url))
                .await
                .with_context(|| format!("connecting to NATS at {}", config.nats_url))?;
            let js = async_nats::jetstream::new(client);
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let stats = projector::rebuild::rebuild(&js, &db, as_of, config.shard, batch_size.max(1), |read, total| {
                let rate = read as f64 / started.elapsed().as_secs_f64().max(0.001);
                let width = 30usize;
                let done = if total > 0 { (read as usize * width / total as usize).min(width) } else { width };
                let bar = format!("[{}{}]", "#".repeat(done), ".".repeat(width - done));
                if tty {
                    eprint!("\r{bar} {read}/{total} events, {rate:.0} events/s ");
                } else {
                    eprintln!("{bar} {read}/{total} events, {rate:.0} events/s");
                }
            })
            .await
            .context("rebuild failed")?;
            if tty {
                eprintln!();
            }
            println!(
                "rebuilt {} from {} events ({} folded, {} skipped{}, {} unreadable) in {:.2} s: {:.0} events/s, {:.1} MB on disk",
                db.display(),
                stats.events,
                stats.folded,
                stats.skipped,
                as_of.map(|t| format!(" incl. those after {}", proto::Timestamp(t))).unwrap_or_default(),
                stats.rejected,
                stats.seconds,
                stats.events_per_second(),
                stats.bytes_on_disk as f64 / 1e6
            );
            println!(
                "{}",
                serde_json::json!({
                    "events": stats.events, "folded": stats.folded, "rebuild_s": stats.seconds,
                    "fold_events_per_s": stats.events_per_second(), "db_bytes": stats.bytes_on_disk,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { left, right, show, tenant } => {
            let open = |p: &std::path::Path| {
                projector::store::Store::open_read_only(p).with_context(|| format!("opening {}", p.display()))
            };
            let (a, b) = (open(&left)?, open(&right)?);
            let report = projector::rebuild::verify_tenant(&a, &b, show, tenant.as_deref())?;
            if report.differences == 0 {
                match &tenant {
                    Some(t) => println!("identical: {} keys of tenant {t} compared", report.keys),
                    None => println!("identical: {} keys compared in every column family", report.keys),
                }
                return Ok(ExitCode::SUCCESS);
            }
            println!("{} differences in {} keys; the first:", report.differences, report.keys);
            for d in &report.first {
                let side = |v: &Option<Vec<u8>>| match v {
                    None => "missing".to_owned(),
                    Some(v) => format!("{} bytes", v.len()),
                };
                println!(
                    "  {} {}: {} {} / {} {}",
                    d.column_family,
                    projector::rebuild::show_key(&d.key),
                    left.display(),
                    side(&d.left),
                    right.display(),
                    side(&d.right)
                );
            }
            Ok(ExitCode::from(1))
        }
        Command::Token { action: TokenAction::New { tenant, name } } => {
            proto::TenantId::new(&tenant).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
            let mut bytes = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                .map_err(|_| anyhow::anyhow!("no system randomness"))?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let token = format!("pst_{token}");
            println!("token (shown once; give it to {}): {token}", if name.is_empty() { "its holder" } else { &name });
            println!("add to the projector config's tokens list:");
            println!(
                "  {{ tenant = \"{tenant}\", sha256 = \"{}\", name = \"{name}\" }}",
                projector::api::token_hash(&token)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One API call; a refusal becomes an error with the API's own message.
async fn call(
    api: &ApiArgs,
    method: reqwest::Method,
    path: &str,
    params: &[(&str, String)],
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let text = call_text(api, method, path, params, body).await?;
    serde_json::from_str(&text).context("the API answered something that is not JSON")
}

async fn call_text(
    api: &ApiArgs,
    method: reqwest::Method,
    path: &str,
    params: &[(&str, String)],
    body: Option<serde_json::Value>,
) -> anyhow::Result<String> {
    let base = &api.api;
    let mut url = reqwest::Url::parse(base).with_context(|| format!("--api {base:?} is not a URL"))?;
    url.set_path(path);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
    let mut request = client.request(method, url);
    if let Some(token) = &api.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the projector API at {base} (is `projector serve` running?)"))?;
    let status = response.status();
    let text = response.text().await.context("reading the API's answer")?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        bail!("the API refused: {status}: {message}");
    }
    Ok(text)
}

fn print_trace(t: &Trace) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    if let Some(at) = &t.as_of {
        println!("As of         {at} (the events that had occurred by then)");
    }
    println!("Postern id    {}", t.postern_id);
    println!("Message-ID    {}", or_dash(&t.message_id));
    println!("Subject       {}", or_dash(&t.subject));
    println!("From          {}", or_dash(&t.from));
    println!("Envelope from {}", or_dash(&t.envelope_sender));
    println!("Recipients    {}", if t.recipients.is_empty() { "-".to_owned() } else { t.recipients.join(", ") });
    println!("Received      {} ({} cop{})", or_dash(&t.received_at), t.copies, if t.copies == 1 { "y" } else { "ies" });
    println!("Disposition   {}", t.disposition.clone().unwrap_or_else(|| "(not scored yet)".to_owned()));
    if t.scored_disposition != t.disposition {
        println!("Scored as     {}", or_dash(&t.scored_disposition));
    }
    for r in &t.reclassifications {
        println!(
            "Reclassified  {} {} by {}: {} -> {} ({}{})",
            r.submission_id,
            r.submission_type,
            r.requested_by,
            r.original,
            r.requested,
            r.status,
            r.resolved_by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default()
        );
    }
    if !t.actions.is_empty() {
        println!("Actions       {}", t.actions.join(", "));
    }
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

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { s.chars().take(n - 1).collect::<String>() + "…" }
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
