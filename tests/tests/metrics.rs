//! Metrics and health: mail through the pipeline, then every component scraped over HTTP
//! (Prometheus' text format, read here by our own small parser of that format): ingest's
//! counters equal what was sent and stored, the scorer's what was scored and dead-lettered,
//! the projector's what its views hold (its checkpoints), the remediator's the outcome it
//! recorded. `/health` and `/ready` answer on each; a component that lost NATS says so on
//! `/ready` (503 with the reason). Every metric the Grafana dashboard in
//! `deploy/grafana/postern.json` names is one the components serve.

use anyhow::{Context, Result, ensure};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use testkit::http::request;
use testkit::pipeline::Pipeline;
use testkit::process::Service;
use testkit::smtp::{Outgoing, send_with_smtplib};

/// One scrape: each sample line's `name{labels}` and value, and the names of its families.
struct Scrape {
    samples: BTreeMap<String, f64>,
    families: BTreeSet<String>,
}

impl Scrape {
    fn of(addr: SocketAddr) -> Result<Scrape> {
        let answer = request(addr, "GET", "/metrics", None, None)?;
        ensure!(answer.status == 200, "/metrics on {addr}: {}", answer.status);
        ensure!(
            answer.header("content-type").is_some_and(|t| t.starts_with("text/plain")),
            "{:?}",
            answer.header("content-type")
        );
        let text = String::from_utf8(answer.body)?;
        let mut samples = BTreeMap::new();
        let mut families = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families.insert(rest.split_whitespace().next().unwrap_or_default().to_owned());
            } else if !line.starts_with('#') && !line.trim().is_empty() {
                let (key, value) = line.rsplit_once(' ').with_context(|| format!("sample line {line:?}"))?;
                samples.insert(key.to_owned(), value.parse().with_context(|| format!("sample line {line:?}"))?);
            }
        }
        Ok(Scrape { samples, families })
    }

    fn value(&self, key: &str) -> f64 {
        self.samples.get(key).copied().unwrap_or(0.0)
    }

    /// The sum of every sample of `name` (any labels).
    fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }
}

fn status(addr: SocketAddr, path: &str) -> Result<(u16, serde_json::Value)> {
    let answer = request(addr, "GET", path, None, None)?;
    Ok((answer.status, answer.json()?))
}

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: news@vendor.example\r\nTo: bob@corp.example\r\nSubject: metrics {i}\r\nMessage-ID: <metrics-{i}@vendor.example>\r\n\r\nhello {i}\r\n"
    )
    .into_bytes()
}

#[test]
fn every_component_counts_what_it_did_and_says_whether_it_is_ready() -> Result<()> {
    let mut p = Pipeline::start()?;
    let ingest_ops = p.ingest.ops.context("ingest serves /metrics")?;
    let scorer_ops = p.scorer.ops.context("the scorer serves /metrics")?;
    const SENT: usize = 5;
    let outgoing: Vec<Outgoing> = (0..SENT).map(|i| Outgoing::to_journal("news@vendor.example", message(i))).collect();
    let outcomes = send_with_smtplib(p.smtp, &outgoing)?;
    let accepted = outcomes.iter().filter(|o| o.code == 250).count();
    ensure!(accepted == SENT, "{outcomes:?}");
    // A raw event that is not one: the scorer dead-letters it.
    testkit::jetstream::publish(&p.nats.url(), "mail.raw.default", &[], b"not an event")?;
    for i in 0..SENT {
        testkit::eventually(Duration::from_secs(30), &format!("message {i} is folded with a disposition"), || {
            Ok(p.traces(&format!("<metrics-{i}@vendor.example>"))?
                .into_iter()
                .next()
                .filter(|t| !t["disposition"].is_null()))
        })
        .with_context(|| p.logs())?;
    }

    // A remediator with credentials for acme only: a request for default is FAILED.
    let remediator_config = p.dir.path().join("remediator.toml");
    std::fs::write(
        &remediator_config,
        format!(
            "nats_url = \"{}\"\n[tenants.acme.imap]\naddress = \"127.0.0.1:1\"\nlogin = \"{{mailbox}}\"\npassword = \"x\"\n",
            p.nats.url()
        ),
    )?;
    let remediator = Service::start(
        "remediator",
        "remediator",
        &["--config", remediator_config.to_str().context("path")?],
        p.dir.path(),
    )?;
    let remediator_ops = remediator.ops.context("the remediator serves /metrics")?;
    testkit::eventually(Duration::from_secs(20), "the remediator is ready", || {
        Ok(status(remediator_ops, "/ready").ok().filter(|(code, _)| *code == 200))
    })
    .with_context(|| remediator.log())?;
    let tenant = proto::TenantId::new("default")?;
    let envelope = proto::Envelope {
        event_id: ulid::Ulid::new(),
        event_type: proto::EventType::RemediationRequested,
        schema: proto::EventType::RemediationRequested.current_schema(),
        postern_id: proto::PosternId::from_message_id(&tenant, "metrics-0@vendor.example"),
        tenant,
        causation_id: None,
        occurred_at: proto::Timestamp::now(),
        producer: "test/1".into(),
    };
    let request = proto::Event::RemediationRequested(proto::RemediationRequested {
        remediation_id: "metrics-1".into(),
        message_id: "<metrics-0@vendor.example>".into(),
        action: proto::RemediationAction::MoveToJunk,
        mailboxes: vec!["bob@corp.example".into()],
        reason: "test".into(),
        requested_by: None,
        client_addr: None,
    });
    let id = envelope.event_id.to_string();
    testkit::jetstream::publish(
        &p.nats.url(),
        "mail.remediation.default",
        &[("Nats-Msg-Id", &id)],
        &proto::encode(&envelope, &request),
    )?;

    // ingest: what was sent and stored.
    let ingest = Scrape::of(ingest_ops)?;
    ensure!(ingest.value("postern_ingest_messages_stored_total") == SENT as f64, "{:?}", ingest.samples);
    ensure!(ingest.value("postern_ingest_message_size_bytes_count") == SENT as f64, "{:?}", ingest.samples);
    ensure!(ingest.value("postern_ingest_publish_seconds_count") == SENT as f64, "{:?}", ingest.samples);
    ensure!(ingest.value("postern_ingest_smtp_sessions_total") >= 1.0, "{:?}", ingest.samples);
    // Each message: 250 to MAIL, RCPT and its DATA; and the greeting, EHLO, QUIT besides.
    ensure!(
        ingest.value("postern_ingest_smtp_replies_total{code=\"250\"}") >= (3 * SENT) as f64,
        "{:?}",
        ingest.samples
    );
    ensure!(ingest.value("postern_ingest_smtp_replies_total{code=\"354\"}") == SENT as f64, "{:?}", ingest.samples);

    // scorer: every message scored once, the garbage dead-lettered.
    let scorer = testkit::eventually(Duration::from_secs(20), "the scorer counts the dead letter", || {
        let s = Scrape::of(scorer_ops)?;
        Ok((s.value("postern_scorer_dead_letters_total{reason=\"undecodable\"}") == 1.0).then_some(s))
    })?;
    ensure!(scorer.sum("postern_scorer_messages_scored_total") == SENT as f64, "{:?}", scorer.samples);
    ensure!(scorer.value("postern_scorer_scoring_seconds_count") == SENT as f64, "{:?}", scorer.samples);
    ensure!(scorer.samples.contains_key("postern_scorer_consumer_pending_messages"), "{:?}", scorer.samples);

    // projector: the counters equal its checkpoints (fresh views: every event read was
    // committed once), the lag is measured, the API's requests are counted by route.
    let projector =
        testkit::eventually(Duration::from_secs(30), "the projector's counters reach its checkpoints", || {
            let (raw, events) = p.checkpoints()?;
            let s = Scrape::of(p.http)?;
            let folded = (
                s.value("postern_projector_events_folded_total{stream=\"MAIL_RAW\"}"),
                s.value("postern_projector_events_folded_total{stream=\"MAIL_EVENTS\"}"),
            );
            let lag_measured = s.samples.keys().any(|k| k.starts_with("postern_projector_fold_lag_events{"));
            Ok((folded == (raw as f64, events as f64) && raw as usize == SENT + 1 && lag_measured).then_some(s))
        })
        .with_context(|| p.logs())?;
    ensure!(
        projector.value("postern_projector_http_requests_total{route=\"/api/v1/messages\",status=\"200\"}")
            >= SENT as f64,
        "{:?}",
        projector.samples
    );
    ensure!(projector.value("postern_projector_batch_seconds_count") >= 1.0, "{:?}", projector.samples);

    // remediator: the FAILED outcome.
    let remediation = testkit::eventually(Duration::from_secs(20), "the remediator counts its outcome", || {
        let s = Scrape::of(remediator_ops)?;
        Ok((s.value("postern_remediator_outcomes_total{outcome=\"FAILED\"}") == 1.0).then_some(s))
    })
    .with_context(|| remediator.log())?;

    // Health and readiness on each.
    for (name, addr) in
        [("ingest", ingest_ops), ("scorer", scorer_ops), ("projector", p.http), ("remediator", remediator_ops)]
    {
        let (code, body) = status(addr, "/health")?;
        ensure!(code == 200 && body["status"] == "alive", "{name} /health: {code} {body}");
        let (code, body) = status(addr, "/ready")?;
        ensure!(code == 200 && body["ready"] == true, "{name} /ready: {code} {body}");
    }

    // The dashboard names only metrics the components serve.
    let served: BTreeSet<String> =
        [&ingest, &scorer, &projector, &remediation].into_iter().flat_map(|s| s.families.iter().cloned()).collect();
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/postern.json"),
    )?)?;
    let mut named = BTreeSet::new();
    for panel in dashboard["panels"].as_array().context("panels")? {
        for target in panel["targets"].as_array().context("targets")? {
            let expr = target["expr"].as_str().context("expr")?;
            for word in
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("postern_"))
            {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|suffix| word.strip_suffix(suffix).filter(|base| served.contains(*base)))
                    .unwrap_or(word);
                named.insert(family.to_owned());
            }
        }
    }
    ensure!(named.len() >= 15, "the dashboard names {} metrics: {named:?}", named.len());
    let missing: Vec<&String> = named.difference(&served).collect();
    ensure!(missing.is_empty(), "the dashboard names metrics no component serves: {missing:?}; served: {served:?}");

    // Without NATS, each component says it is not ready, and why.
    p.nats.stop()?;
    for (name, addr) in
        [("ingest", ingest_ops), ("scorer", scorer_ops), ("projector", p.http), ("remediator", remediator_ops)]
    {
        let body = testkit::eventually(Duration::from_secs(20), &format!("{name} is not ready without NATS"), || {
            Ok(status(addr, "/ready").ok().filter(|(code, _)| *code == 503).map(|(_, body)| body))
        })?;
        ensure!(body["reason"].as_str().is_some_and(|r| r.contains("NATS")), "{name}: {body}");
        let (code, _) = status(addr, "/health")?;
        ensure!(code == 200, "{name} is alive without NATS");
    }
    Ok(())
}
