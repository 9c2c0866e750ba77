//! The `projector` command line as a library: the subcommands (parsed by clap in
//! `main.rs`) and what each does. The API's clients (`trace`, `search`, `report`,
//! `reclassify`, `resolve`, `reclassifications`) read the answers into the API's own
//! response types through [`crate::client::ApiClient`]; `serve`, `rebuild` and `verify`
//! call the library directly. Errors are typed ([`CliError`]); `main.rs` prints them.

use crate::client::{ApiClient, ClientError};
use crate::config::Layered;
use crate::query::{Report, SearchPage, Trace, TraceList};
use crate::reclassify::{ReclassificationAnswer, SubmissionList};
use clap::Subcommand;
use reqwest::Method;
use std::future::Future;
use std::path::PathBuf;
use thiserror::Error;

/// How a command ended when it did not fail: success, or a negative answer (no such
/// message, databases that differ) that exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    Negative,
}

/// Why a command failed (exit 2).
#[derive(Debug, Error)]
pub enum CliError {
    /// The arguments do not say what to do.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error("loading configuration: {0}")]
    Config(#[from] crate::error::ConfigError),
    #[error("projector failed: {0}")]
    Run(#[from] crate::error::RunError),
    #[error("rebuild failed: {0}")]
    Rebuild(#[source] crate::error::RunError),
    #[error("opening {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: crate::error::StoreError,
    },
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    #[error("connecting to NATS at {url}: {reason}")]
    Nats { url: String, reason: String },
    #[error("printing JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no system randomness for a token")]
    NoRandomness,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Release a message that Postern moved (an admin token's): every mailbox an earlier
    /// remediation moved it out of gets it back in its inbox (a `restore` remediation; the
    /// remediator carries it out and the trace shows each mailbox's outcome).
    Release {
        #[arg(long, required_unless_present = "postern_id", conflicts_with = "postern_id")]
        message_id: Option<String>,
        #[arg(long)]
        postern_id: Option<String>,
        /// Why (kept in the request's reason).
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List users' submissions by mail (newest first): matched ones became USER
    /// reclassifications of the messages they report; unmatched ones found no message.
    Submissions {
        /// matched, pending (found, waiting to be scored or recorded), refused (found, but
        /// the reclassification cannot be recorded: already that disposition, say) or
        /// unmatched.
        #[arg(long, value_parser = ["matched", "pending", "refused", "unmatched"])]
        status: Option<String>,
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
    /// The tenant's audit trail (an admin token's): policy changes and reclassifications,
    /// newest first, with who and when.
    Audit {
        /// How many entries (1 to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
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
pub enum TokenAction {
    /// Make a new random token for a tenant: prints the token once, and the line for the
    /// config's `tokens` list (only the hash is stored).
    New {
        #[arg(long)]
        tenant: String,
        /// Who holds it.
        #[arg(long, default_value = "")]
        name: String,
        /// What its holder may do: viewer (read), analyst (also raw mail, submit and
        /// withdraw reclassifications), admin (also accept and reject them).
        #[arg(long, value_enum, default_value = "viewer")]
        role: crate::config::Role,
    },
}

/// How the CLI reaches the API.
#[derive(clap::Args, Clone)]
pub struct ApiArgs {
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
    pub fn client(&self) -> ApiClient {
        ApiClient { base: self.api.clone(), token: self.token.clone(), tenant: self.tenant.clone() }
    }
}

/// Runs one subcommand; `serve` runs until `shutdown` completes.
pub async fn run(command: Command, shutdown: impl Future<Output = ()>) -> Result<Outcome, CliError> {
    match command {
        Command::Serve { config, rebuild, db } => {
            let config = crate::config::Config::load(config.as_deref())?;
            match db {
                Some(db) => crate::serve_read_only(config, &db, shutdown).await,
                None => crate::run(config, rebuild, shutdown).await,
            }?;
            Ok(Outcome::Done)
        }
        Command::Trace { message_id, postern_id, as_of, json, api } => {
            // With a token the API knows the tenant; without one (an open local API) the
            // tenant is `--tenant`, or the default one.
            let tenant = match &api.tenant {
                Some(t) => format!("tenant {t}"),
                None if api.token.is_some() => "your token's tenant".to_owned(),
                None => "tenant default".to_owned(),
            };
            let client = api.client();
            let mut params = client.params();
            match (&message_id, &postern_id) {
                (Some(m), _) => params.push(("message_id", m.clone())),
                (None, Some(p)) => params.push(("postern_id", p.clone())),
                (None, None) => return Err(CliError::Usage("give --message-id or --postern-id".to_owned())),
            };
            if let Some(t) = &as_of {
                params.push(("as_of", t.clone()));
            }
            let page: TraceList = client.json(Method::GET, "/api/v1/messages", &params, None).await?;
            let messages = page.messages;
            let wanted = message_id.or(postern_id).unwrap_or_default();
            if messages.is_empty() {
                let by = as_of.as_deref().map(|t| format!(" by {t}")).unwrap_or_default();
                eprintln!("projector: no message {wanted} in {tenant}{by}");
                return Ok(Outcome::Negative);
            }
            for trace in &messages {
                if json {
                    println!("{}", serde_json::to_string_pretty(trace)?);
                } else {
                    print_trace(trace);
                }
            }
            Ok(Outcome::Done)
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
            let client = api.client();
            let mut params = client.params();
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
            let body: serde_json::Value = client.json(Method::GET, "/api/v1/search", &params, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(Outcome::Done);
            }
            let page: SearchPage = serde_json::from_value(body).map_err(ClientError::Unexpected)?;
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
            Ok(Outcome::Done)
        }
        Command::Report { from, to, top, json, csv, api } => {
            let client = api.client();
            let mut params = client.params();
            if let Some(v) = from {
                params.push(("from", v));
            }
            if let Some(v) = to {
                params.push(("to", v));
            }
            params.push(("top", top.to_string()));
            if csv {
                params.push(("format", "csv".to_owned()));
                print!("{}", client.text(Method::GET, "/api/v1/reports/daily", &params, None).await?);
                return Ok(Outcome::Done);
            }
            let body: serde_json::Value = client.json(Method::GET, "/api/v1/reports/daily", &params, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(Outcome::Done);
            }
            let report: Report = serde_json::from_value(body).map_err(ClientError::Unexpected)?;
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
            Ok(Outcome::Done)
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
            let client = api.client();
            let answer: serde_json::Value =
                client.json(Method::POST, "/api/v1/reclassifications", &client.params(), Some(&body)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                let a: ReclassificationAnswer = serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
                println!(
                    "submission {} for {}: {} ({} -> {}); final disposition {}",
                    a.submission_id,
                    a.postern_id,
                    a.status,
                    a.original.as_deref().unwrap_or("?"),
                    a.requested.as_deref().unwrap_or("?"),
                    a.final_disposition,
                );
            }
            Ok(Outcome::Done)
        }
        Command::Release { message_id, postern_id, comment, json, api } => {
            let client = api.client();
            let postern_id = match (postern_id, message_id) {
                (Some(pid), _) => pid,
                (None, Some(mid)) => {
                    let mut params = client.params();
                    params.push(("message_id", mid.clone()));
                    let found: serde_json::Value = client.json(Method::GET, "/api/v1/messages", &params, None).await?;
                    let ids: Vec<String> = found["messages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["postern_id"].as_str().map(str::to_owned))
                        .collect();
                    match ids.as_slice() {
                        [one] => one.clone(),
                        [] => return Err(CliError::Usage(format!("no message with Message-ID {mid}"))),
                        _ => {
                            return Err(CliError::Usage(format!(
                                "{} messages have Message-ID {mid}: give --postern-id ({})",
                                ids.len(),
                                ids.join(", ")
                            )));
                        }
                    }
                }
                (None, None) => unreachable!("clap requires one"),
            };
            let body = serde_json::json!({ "comment": comment });
            let path = format!("/api/v1/messages/{postern_id}/release");
            let answer: serde_json::Value = client.json(Method::POST, &path, &client.params(), Some(&body)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                let a: crate::api::ReleaseAnswer = serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
                println!(
                    "release {} of {} requested for {} mailbox(es): {}",
                    a.remediation_id,
                    a.postern_id,
                    a.mailboxes.len(),
                    a.mailboxes.join(", ")
                );
            }
            Ok(Outcome::Done)
        }
        Command::Resolve { submission_id, outcome, resolved_by, comment, json, api } => {
            let mut body = serde_json::json!({ "outcome": outcome, "comment": comment });
            if let Some(by) = resolved_by {
                body["resolved_by"] = serde_json::Value::String(by);
            }
            let path = format!("/api/v1/reclassifications/{submission_id}/resolve");
            let client = api.client();
            let answer: serde_json::Value = client.json(Method::POST, &path, &client.params(), Some(&body)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                let a: ReclassificationAnswer = serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
                println!("submission {submission_id}: {}; final disposition {}", a.status, a.final_disposition);
            }
            Ok(Outcome::Done)
        }
        Command::Audit { limit, json, api } => {
            let Some(answer) = listing(&api, "/api/v1/audit", vec![("limit", limit.to_string())], json).await? else {
                return Ok(Outcome::Done);
            };
            let trail: crate::audit::AuditTrail = serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
            println!("{:<25} {:<27} {:<20} {:<22} WHAT", "AT", "KIND", "WHO", "FROM");
            for e in &trail.entries {
                println!(
                    "{:<25} {:<27} {:<20} {:<22} {}",
                    e.at,
                    e.kind,
                    e.who,
                    e.from.as_deref().unwrap_or("-"),
                    e.what
                );
            }
            Ok(Outcome::Done)
        }
        Command::Submissions { status, json, api } => {
            let status = status.into_iter().map(|s| ("status", s)).collect();
            let Some(answer) = listing(&api, "/api/v1/submissions", status, json).await? else {
                return Ok(Outcome::Done);
            };
            let list: crate::mail_submissions::MailSubmissionList =
                serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
            println!("{:<27} {:<6} {:<10} {:<16} {:<28} REPORTED", "SUBMISSION", "AS", "STATUS", "POSTERN ID", "BY");
            let mut reasons = Vec::new();
            for s in &list.submissions {
                println!(
                    "{:<27} {:<6} {:<10} {:<16} {:<28} {} {}",
                    s.submission_id,
                    s.submitted_as,
                    s.status,
                    s.postern_id.as_deref().unwrap_or("-"),
                    s.submitted_by,
                    s.reported.message_id.as_deref().map(|m| format!("<{m}>")).unwrap_or_default(),
                    s.reported.subject.as_deref().unwrap_or("")
                );
                if let Some(reason) = &s.reason {
                    reasons.push(format!("{}: {reason}", s.submission_id));
                }
            }
            for reason in reasons {
                println!("refused {reason}");
            }
            Ok(Outcome::Done)
        }
        Command::Reclassifications { status, json, api } => {
            let status = status.into_iter().map(|s| ("status", s)).collect();
            let Some(answer) = listing(&api, "/api/v1/reclassifications", status, json).await? else {
                return Ok(Outcome::Done);
            };
            let list: SubmissionList = serde_json::from_value(answer).map_err(ClientError::Unexpected)?;
            println!(
                "{:<27} {:<16} {:<5} {:<10} {:<23} {:<10} REQUESTED BY",
                "SUBMISSION", "POSTERN ID", "TYPE", "STATUS", "CHANGE", "FINAL"
            );
            for r in &list.reclassifications {
                println!(
                    "{:<27} {:<16} {:<5} {:<10} {:<23} {:<10} {}",
                    r.submission_id,
                    r.postern_id,
                    r.submission_type,
                    r.status,
                    format!("{} -> {}", r.original, r.requested),
                    r.final_disposition.as_deref().unwrap_or("-"),
                    r.requested_by
                );
            }
            Ok(Outcome::Done)
        }
        Command::Rebuild { db, as_of, config, batch_size } => {
            let config = crate::config::Config::load(config.as_deref())?;
            let as_of = as_of
                .map(|t| proto::Timestamp::parse(&t).map(|t| t.millis()))
                .transpose()
                .map_err(|e| CliError::Usage(format!("--as-of: {e}")))?;
            let client = proto::connect::options("projector", config.nats_access())?
                .name("postern-projector-rebuild")
                .connection_timeout(std::time::Duration::from_secs(5))
                .connect(proto::cluster::server_urls(&config.nats_url))
                .await
                .map_err(|e| CliError::Nats {
                    url: config.nats_url.clone(),
                    reason: proto::connect::refused(&e, config.nats_nkey_file.as_deref())
                        .map_or_else(|| e.to_string(), |refused| refused.to_string()),
                })?;
            let js = async_nats::jetstream::new(client);
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let stats = crate::rebuild::rebuild(&js, &db, as_of, config.shard, batch_size.max(1), |read, total| {
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
            .map_err(CliError::Rebuild)?;
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
            Ok(Outcome::Done)
        }
        Command::Verify { left, right, show, tenant } => {
            let open = |p: &std::path::Path| {
                crate::store::Store::open_read_only(p)
                    .map_err(|source| CliError::Open { path: p.display().to_string(), source })
            };
            let (a, b) = (open(&left)?, open(&right)?);
            let report = crate::rebuild::verify_tenant(&a, &b, show, tenant.as_deref())?;
            if report.differences == 0 {
                match &tenant {
                    Some(t) => println!("identical: {} keys of tenant {t} compared", report.keys),
                    None => println!("identical: {} keys compared in every column family", report.keys),
                }
                return Ok(Outcome::Done);
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
                    crate::rebuild::show_key(&d.key),
                    left.display(),
                    side(&d.left),
                    right.display(),
                    side(&d.right)
                );
            }
            Ok(Outcome::Negative)
        }
        Command::Token { action: TokenAction::New { tenant, name, role } } => {
            proto::TenantId::customer(&tenant).map_err(|e| CliError::Usage(format!("--tenant: {e}")))?;
            let token = format!("pst_{}", crate::api::random_hex().map_err(|_| CliError::NoRandomness)?);
            println!("token (shown once; give it to {}): {token}", if name.is_empty() { "its holder" } else { &name });
            println!("add to the projector config's tokens list:");
            println!(
                "  {{ tenant = \"{tenant}\", sha256 = \"{}\", name = \"{name}\", role = \"{}\" }}",
                crate::api::token_hash(&token),
                role.as_str()
            );
            Ok(Outcome::Done)
        }
    }
}

/// A trace as the terminal shows it.
pub fn print_trace(t: &Trace) {
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

/// GETs one of the API's listings with the tenant's and `extra` parameters; with `--json`
/// prints it and returns None, else returns it for a table.
async fn listing(
    api: &ApiArgs,
    path: &str,
    extra: Vec<(&'static str, String)>,
    json: bool,
) -> Result<Option<serde_json::Value>, CliError> {
    let client = api.client();
    let mut params = client.params();
    params.extend(extra);
    let answer: serde_json::Value = client.json(Method::GET, path, &params, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(None);
    }
    Ok(Some(answer))
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { s.chars().take(n - 1).collect::<String>() + "…" }
}
