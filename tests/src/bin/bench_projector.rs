//! `just bench-projector`: generates the events of 1,000,000 messages (a spread of tenants,
//! senders, recipients, subjects and dispositions; 1% reclassified, remediation for the
//! malicious) straight into MAIL_RAW and MAIL_EVENTS of a fresh nats-server, in time order
//! as a running pipeline writes them, then measures:
//!
//! - the live fold: `projector serve` on an empty database catches up with both streams
//!   (synced WriteBatches, as in production): events/s;
//! - the rebuild: `projector rebuild` folds the same streams into a fresh database;
//! - a bare read of the same streams (both at once, ordered consumers, nothing folded): this
//!   machine's limit for the fold on that day, and `fold_ratio` = live fold / bare read
//!   (absolute rates here move by 2x from day to day; the ratio does not);
//! - the database size;
//! - search and trace latency over the HTTP API on the full database (p50, p99).
//!
//! Everything runs on 127.0.0.1 and stops by itself. `POSTERN_BENCH_MESSAGES` changes the
//! count (default 1,000,000). The last line is JSON.

use anyhow::{Context, Result, ensure};
use futures::StreamExt;
use proto::subject::{EVENT_SUBJECTS, RAW_SUBJECTS, STREAM_EVENTS, STREAM_RAW};
use proto::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::http::{encode as url, request};
use testkit::nats::NatsServer;
use testkit::process::Service;
use testkit::{free_port, wait_for_port};

const TENANTS: usize = 20;
const DAYS: u64 = 30;

/// A small deterministic generator (xorshift64*): the same run every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Skewed towards small values (a few big tenants, popular senders).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

const WORDS: [&str; 24] = [
    "invoice",
    "meeting",
    "report",
    "payment",
    "update",
    "account",
    "security",
    "newsletter",
    "offer",
    "order",
    "shipping",
    "password",
    "review",
    "quarterly",
    "urgent",
    "contract",
    "welcome",
    "reminder",
    "team",
    "project",
    "sale",
    "delivery",
    "statement",
    "verify",
];

struct Generated {
    /// (occurred at, subject, payload)
    raw: Vec<(u64, String, Vec<u8>)>,
    events: Vec<(u64, String, Vec<u8>)>,
    /// (tenant, postern id, sender, domain, recipient, subject word) samples for queries.
    samples: Vec<(String, String, String, String, String, String)>,
}

fn generate(messages: usize, now: u64) -> Generated {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let tenants: Vec<TenantId> = (0..TENANTS).map(|t| TenantId::new(&format!("tenant{t:02}")).unwrap()).collect();
    let mut g = Generated {
        raw: Vec::with_capacity(messages),
        events: Vec::with_capacity(messages + messages / 20),
        samples: Vec::new(),
    };
    let start = now - DAYS * 86_400_000;
    for i in 0..messages {
        let tenant = &tenants[rng.skewed(TENANTS as u64) as usize];
        let domain = format!("sender{}.example", rng.skewed(5_000));
        let sender = format!("user{}@{domain}", rng.below(20));
        let recipient = format!("employee{}@{}.example", rng.skewed(2_000), tenant);
        let w1 = WORDS[rng.below(WORDS.len() as u64) as usize];
        let w2 = WORDS[rng.below(WORDS.len() as u64) as usize];
        let subject = format!("{w1} {w2} {}", rng.below(100_000));
        let at = start + (i as u64 * DAYS * 86_400_000 / messages as u64);
        let message_id = format!("bench-{i}@{domain}");
        let postern_id = PosternId::from_message_id(tenant, &message_id);
        let body = format!(
            "From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\r\nMessage number {i}.\r\n"
        );
        let raw_id = ulid::Ulid::from_parts(at, u128::from(rng.next()));
        let envelope = |event_type: EventType, event_id: ulid::Ulid, at: u64| Envelope {
            event_id,
            event_type,
            schema: event_type.current_schema(),
            postern_id: postern_id.clone(),
            tenant: tenant.clone(),
            causation_id: Some(raw_id),
            occurred_at: Timestamp(at),
            producer: "bench".into(),
        };
        let raw = Event::RawMailReceived(RawMailReceived {
            envelope_sender: sender.clone(),
            envelope_recipients: vec![format!("{tenant}@journal.example")],
            original_sender: None,
            original_recipients: vec![recipient.clone()],
            message_id: Some(message_id.clone()),
            client_addr: "127.0.0.1:25".into(),
            helo: "mx.example".into(),
            tls: true,
            size: body.len() as u64,
            received_at: Timestamp(at),
            journal_format: JournalFormat::ExchangeEnvelope,
            unwrap_problem: None,
            gmail_spam: None,
            gmail_phishy: None,
            content_digest: format!("{:032x}", u128::from(rng.next()) << 64 | u128::from(rng.next())),
            body: MailBody::Inline(body.into_bytes()),
        });
        let mut raw_env = envelope(EventType::RawMailReceived, raw_id, at);
        raw_env.causation_id = None;
        g.raw.push((at, subject::subject_for(EventType::RawMailReceived, tenant), encode(&raw_env, &raw)));
        let disposition = match rng.below(100) {
            0 => Disposition::Malicious,
            1..=2 => Disposition::Suspicious,
            3..=4 => Disposition::Spoof,
            5..=9 => Disposition::Spam,
            10..=29 => Disposition::Bulk,
            _ => Disposition::None,
        };
        let scored = Event::DispositionAssigned(DispositionAssigned {
            disposition,
            attributes: vec![],
            detections: vec![Detection { name: "bench".into(), score_milli: 1000, evidence: "generated".into() }],
            rules_version: "bench".into(),
            alert_id: ids::alert_id(&postern_id, Timestamp(at + 50)),
            postern_id: postern_id.clone(),
            headers: HeaderSummary {
                from: Some(sender.clone()),
                subject: Some(subject.clone()),
                date: None,
                to: vec![recipient.clone()],
            },
        });
        let d_env = envelope(EventType::DispositionAssigned, ids::derive_event_id(raw_id, "bench"), at + 50);
        g.events.push((at + 50, subject::subject_for(EventType::DispositionAssigned, tenant), encode(&d_env, &scored)));
        if rng.below(100) == 0 {
            let sid = ulid::Ulid::from_parts(at + 60_000, u128::from(rng.next())).to_string();
            let team = rng.below(2) == 0;
            let requested = if disposition == Disposition::None { Disposition::Spam } else { Disposition::None };
            let sub = Event::ReclassificationSubmitted(ReclassificationSubmitted {
                submission_id: sid.clone(),
                submission_type: if team { SubmissionType::Team } else { SubmissionType::User },
                requested_by: "analyst".into(),
                original: disposition,
                requested,
                comment: String::new(),
                client_addr: None,
            });
            let s_env =
                envelope(EventType::ReclassificationSubmitted, ids::derive_event_id(raw_id, "sub"), at + 60_000);
            g.events.push((
                at + 60_000,
                subject::subject_for(EventType::ReclassificationSubmitted, tenant),
                encode(&s_env, &sub),
            ));
            if team || rng.below(2) == 0 {
                let outcome = if team || rng.below(2) == 0 {
                    ReclassificationOutcome::Accepted
                } else {
                    ReclassificationOutcome::Rejected
                };
                let res = Event::ReclassificationResolved(ReclassificationResolved {
                    submission_id: sid,
                    outcome,
                    resolved_by: "analyst".into(),
                    final_disposition: if outcome == ReclassificationOutcome::Accepted {
                        requested
                    } else {
                        disposition
                    },
                    comment: String::new(),
                    remediation: proto::DecidedRemediation::Nothing,
                    client_addr: None,
                });
                let r_env =
                    envelope(EventType::ReclassificationResolved, ids::derive_event_id(raw_id, "res"), at + 120_000);
                g.events.push((
                    at + 120_000,
                    subject::subject_for(EventType::ReclassificationResolved, tenant),
                    encode(&r_env, &res),
                ));
            }
        }
        if disposition == Disposition::Malicious {
            let done = Event::RemediationCompleted(RemediationCompleted {
                remediation_id: format!("r{i}"),
                mailbox: recipient.clone(),
                action: RemediationAction::Quarantine,
                outcome: RemediationOutcome::Done,
                detail: "moved".into(),
            });
            let m_env = envelope(EventType::RemediationCompleted, ids::derive_event_id(raw_id, "rem"), at + 90_000);
            g.events.push((
                at + 90_000,
                subject::subject_for(EventType::RemediationCompleted, tenant),
                encode(&m_env, &done),
            ));
        }
        if i % (messages / 2000).max(1) == 0 {
            g.samples.push((
                tenant.to_string(),
                postern_id.as_str().to_owned(),
                sender,
                domain,
                recipient,
                w1.to_owned(),
            ));
        }
    }
    g
}

/// Publishes in time order, both streams interleaved, as a running pipeline writes them.
async fn publish_all(js: &async_nats::jetstream::Context, items: &[&(u64, String, Vec<u8>)]) -> Result<()> {
    let mut pending = futures::stream::FuturesUnordered::new();
    for (_, subject, payload) in items {
        while pending.len() >= 2048 {
            let acked: Result<async_nats::jetstream::publish::PublishAck, _> = pending.next().await.expect("non-empty");
            acked.context("ack")?;
        }
        let ack = js.publish(subject.clone(), payload.clone().into()).await.context("publish")?;
        pending.push(ack.into_future());
    }
    while let Some(acked) = pending.next().await {
        acked.context("ack")?;
    }
    Ok(())
}

/// Reads every message of `stream` with an ordered consumer and counts them (nothing is
/// decoded or folded).
async fn bare_read(js: &async_nats::jetstream::Context, stream: &str) -> Result<u64> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let mut handle = js.get_stream(stream).await?;
    let last = handle.info().await?.state.last_sequence;
    let consumer =
        handle.create_consumer(OrderedConfig { deliver_policy: DeliverPolicy::All, ..Default::default() }).await?;
    let mut messages = consumer.messages().await?;
    let mut count = 0u64;
    while count < last {
        let message = messages.next().await.context("the stream ended early")??;
        std::hint::black_box(message.payload.len());
        count += 1;
    }
    Ok(count)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn timed(addr: SocketAddr, paths: &[String]) -> Result<(f64, f64, usize)> {
    let mut times = Vec::with_capacity(paths.len());
    let mut hits = 0;
    for path in paths {
        let started = Instant::now();
        let answer = request(addr, "GET", path, None, None)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(answer.status == 200, "{path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        let body = answer.json()?;
        if body["messages"].as_array().is_some_and(|m| !m.is_empty()) || body["postern_id"].is_string() {
            hits += 1;
        }
    }
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 0.5), percentile(&times, 0.99), hits))
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() -> Result<()> {
    let messages: usize =
        std::env::var("POSTERN_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let work = tempfile::Builder::new().prefix("postern-bench-projector-").tempdir()?;
    let nats = NatsServer::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;

    let started = Instant::now();
    let g = generate(messages, Timestamp::now().millis());
    let total_events = g.raw.len() + g.events.len();
    println!(
        "generated {messages} messages: {} raw events, {} other events in {:.1} s",
        g.raw.len(),
        g.events.len(),
        started.elapsed().as_secs_f64()
    );

    let published = Instant::now();
    runtime.block_on(async {
        let client = testkit::jetstream::connect(&nats.url()).await?;
        let js = async_nats::jetstream::new(client);
        for (name, subjects) in [
            (STREAM_RAW, vec![RAW_SUBJECTS.to_owned()]),
            (STREAM_EVENTS, EVENT_SUBJECTS.iter().map(|s| s.to_string()).collect()),
        ] {
            js.create_stream(async_nats::jetstream::stream::Config {
                name: name.to_owned(),
                subjects,
                storage: async_nats::jetstream::stream::StorageType::File,
                ..Default::default()
            })
            .await?;
        }
        let mut in_time_order: Vec<_> = g.raw.iter().chain(&g.events).collect();
        in_time_order.sort_by_key(|(at, _, _)| *at);
        publish_all(&js, &in_time_order).await?;
        anyhow::Ok(())
    })?;
    println!("published {total_events} events into JetStream in {:.1} s", published.elapsed().as_secs_f64());

    // The bare read: both streams at once, as the projector reads them, nothing folded.
    let read_started = Instant::now();
    let read = runtime.block_on(async {
        let client = testkit::jetstream::connect(&nats.url()).await?;
        let js = async_nats::jetstream::new(client);
        let counts =
            futures::future::try_join_all([STREAM_RAW, STREAM_EVENTS].map(|name| bare_read(&js, name))).await?;
        anyhow::Ok(counts.iter().sum::<u64>())
    })?;
    let read_s = read_started.elapsed().as_secs_f64();
    ensure!(read == total_events as u64, "the bare read saw {read} events of {total_events}");
    let read_rate = total_events as f64 / read_s;
    println!("bare read of both streams (no fold): {total_events} events in {read_s:.1} s: {read_rate:.0} events/s");

    // The live fold: serve on an empty database catches up.
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = work.path().join("projector.toml");
    let live_db = work.path().join("live");
    std::fs::write(
        &config,
        format!("nats_url = \"{}\"\ndb_path = \"{}\"\nhttp_listen = \"{http}\"\n", nats.url(), live_db.display()),
    )?;
    let fold_started = Instant::now();
    let serve =
        Service::start("projector", "projector", &["serve", "--config", config.to_str().unwrap()], work.path())?;
    wait_for_port(http, Duration::from_secs(30)).with_context(|| serve.log())?;
    let (raw_n, events_n) = (g.raw.len() as u64, g.events.len() as u64);
    loop {
        let (status, body) = testkit::http::get_json(http, "/api/v1/health")?;
        ensure!(status == 200, "{body}");
        let (r, e) = (
            body["checkpoints"][STREAM_RAW].as_u64().unwrap_or(0),
            body["checkpoints"][STREAM_EVENTS].as_u64().unwrap_or(0),
        );
        if r >= raw_n && e >= events_n {
            break;
        }
        ensure!(
            fold_started.elapsed() < Duration::from_secs(1800),
            "the fold did not finish in 30 minutes: {r}/{raw_n}, {e}/{events_n}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let fold_s = fold_started.elapsed().as_secs_f64();
    let fold_rate = total_events as f64 / fold_s;
    let fold_ratio = fold_rate / read_rate;
    println!(
        "live fold (projector serve, synced batches): {total_events} events in {fold_s:.1} s: {fold_rate:.0} events/s, {fold_ratio:.2} of the bare read"
    );

    // Latency on the full database.
    let mut rng = Rng(42);
    let mut searches = Vec::new();
    let mut traces = Vec::new();
    for _ in 0..2000 {
        let (tenant, pid, sender, domain, recipient, word) = &g.samples[rng.below(g.samples.len() as u64) as usize];
        traces.push(format!("/api/v1/messages/{pid}?tenant={tenant}"));
        searches.push(match rng.below(6) {
            0 => format!("/api/v1/search?tenant={tenant}&sender={}&limit=50", url(sender)),
            1 => format!("/api/v1/search?tenant={tenant}&domain={}&limit=50", url(domain)),
            2 => format!("/api/v1/search?tenant={tenant}&recipient={}&limit=50", url(recipient)),
            3 => format!("/api/v1/search?tenant={tenant}&subject={word}&limit=50"),
            4 => format!("/api/v1/search?tenant={tenant}&domain={}&disposition=NONE&limit=50", url(domain)),
            _ => format!("/api/v1/search?tenant={tenant}&disposition=SPAM&limit=50"),
        });
    }
    let (search_p50, search_p99, search_hits) = timed(http, &searches)?;
    let (trace_p50, trace_p99, trace_hits) = timed(http, &traces)?;
    ensure!(trace_hits == traces.len(), "every sampled message is found: {trace_hits}/{}", traces.len());
    println!(
        "search over HTTP: p50 {search_p50:.2} ms, p99 {search_p99:.2} ms ({} queries, {search_hits} with results)",
        searches.len()
    );
    println!("trace over HTTP:  p50 {trace_p50:.2} ms, p99 {trace_p99:.2} ms ({} messages)", traces.len());
    let report_started = Instant::now();
    let answer =
        request(http, "GET", "/api/v1/reports/daily?tenant=tenant00&from=2000-01-01&to=2000-01-01", None, None)?;
    ensure!(answer.status == 200);
    let today = Timestamp::now().date();
    let month_ago = Timestamp(Timestamp::now().millis() - 29 * 86_400_000).date();
    let answer = request(
        http,
        "GET",
        &format!("/api/v1/reports/daily?tenant=tenant00&from={month_ago}&to={today}"),
        None,
        None,
    )?;
    ensure!(answer.status == 200, "{}", String::from_utf8_lossy(&answer.body));
    let report_ms = report_started.elapsed().as_secs_f64() * 1000.0;
    println!("30-day report of the largest tenant: {report_ms:.1} ms");
    drop(serve);

    // The rebuild into a fresh database.
    let rebuilt = work.path().join("rebuilt");
    let out = std::process::Command::new(testkit::bin("projector")?)
        .args(["rebuild", "--db", rebuilt.to_str().unwrap()])
        .env("NATS_URL", nats.url())
        .env(proto::cluster::ENV_NKEY_FILE, testkit::nats::seed_file("projector")?)
        .output()?;
    ensure!(
        out.status.success(),
        "rebuild failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stats: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}"))?;
    let rebuild_s = stats["rebuild_s"].as_f64().unwrap_or(0.0);
    let console = console_timings(&work, &rebuilt)?;
    let db_bytes = dir_size(&live_db);
    println!(
        "rebuild (projector rebuild): {rebuild_s:.1} s, {:.0} events/s; database {:.0} MB",
        stats["fold_events_per_s"].as_f64().unwrap_or(0.0),
        db_bytes as f64 / 1e6
    );
    println!(
        "{}",
        serde_json::json!({
            "messages": messages,
            "events": total_events,
            "fold_events_per_s": fold_rate.round(),
            "bare_read_events_per_s": read_rate.round(),
            "fold_ratio": (fold_ratio * 100.0).round() / 100.0,
            "rebuild_s": (rebuild_s * 10.0).round() / 10.0,
            "rebuild_events_per_s": stats["fold_events_per_s"].as_f64().map(f64::round),
            "db_mb": (db_bytes as f64 / 1e6).round(),
            "search_p50_ms": (search_p50 * 100.0).round() / 100.0,
            "search_p99_ms": (search_p99 * 100.0).round() / 100.0,
            "trace_p50_ms": (trace_p50 * 100.0).round() / 100.0,
            "trace_p99_ms": (trace_p99 * 100.0).round() / 100.0,
            "console": console,
        })
    );
    Ok(())
}

/// The console against the rebuilt database (served read-only, with a token of the largest
/// tenant): `tests/console/console.bench.mjs` loads the activity page and a few searches in
/// Debian's chromium and reads, with the Performance API, when each view had rendered its
/// data. Null when the browser tools are not installed (`bash scripts/setup.sh`).
fn console_timings(work: &tempfile::TempDir, db: &std::path::Path) -> Result<serde_json::Value> {
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    if !tools.join("node_modules/playwright-core").is_dir() || !std::path::Path::new("/usr/bin/chromium").exists() {
        println!("console: skipped (playwright-core or chromium missing: bash scripts/setup.sh)");
        return Ok(serde_json::Value::Null);
    }
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = work.path().join("console.toml");
    let token = "pst_bench_console";
    std::fs::write(
        &config,
        format!("http_listen = \"{http}\"\n{}", testkit::pipeline::tokens_config(&[("tenant00", "admin", token)])),
    )?;
    let serve = Service::start(
        "projector-console",
        "projector",
        &["serve", "--config", config.to_str().unwrap(), "--db", db.to_str().unwrap()],
        work.path(),
    )?;
    wait_for_port(http, Duration::from_secs(60)).with_context(|| serve.log())?;
    let out = std::process::Command::new("node")
        .arg(tools.join("console.bench.mjs"))
        .current_dir(&tools)
        .env("CONSOLE_URL", format!("http://{http}"))
        .env("TOKEN", token)
        .output()
        .context("running node")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{}", stdout.lines().filter(|l| !l.starts_with('{')).map(|l| format!("{l}\n")).collect::<String>());
    ensure!(out.status.success(), "the console benchmark failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    drop(serve);
    Ok(serde_json::from_str(stdout.lines().last().unwrap_or("null"))?)
}
