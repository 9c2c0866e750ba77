//! The read side through the real servers: investigation search with cursors, reports,
//! the raw message, reclassification through the CLI (team, user, accept, reject,
//! withdraw), remediation and policy events, bearer tokens; and the audit replay:
//! `projector rebuild` into a fresh database equals the live views key for key, and
//! `--as-of` gives the views as they stood before the reclassifications.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::cli::CliRun;
use testkit::http::{encode, request};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

const N: usize = 24;

fn message_id(i: usize) -> String {
    format!("view-{i}@test.example")
}

/// Message i: sender s{i%4}@dom{i%3}.example, recipient user{i%5}@corp.example, subjects
/// alternating "Invoice" / "Quarterly report"; every 6th a newsletter (BULK), every 6th+1
/// a display-name spoof (SPOOF), the rest NONE.
fn message(i: usize) -> Outgoing {
    let sender = format!("s{}@dom{}.example", i % 4, i % 3);
    let (from, extra, subject) = match i % 6 {
        0 => (format!("News <{sender}>"), "List-Unsubscribe: <mailto:u@news.example>\r\n", format!("Invoice {i}")),
        1 => (format!("\"ceo@bank.example\" <{sender}>"), "", format!("Quarterly report {i}")),
        _ => (
            format!("Sender {i} <{sender}>"),
            "",
            if i.is_multiple_of(2) { format!("Invoice {i}") } else { format!("Quarterly report {i}") },
        ),
    };
    let data = format!(
        "From: {from}\r\nTo: user{}@corp.example\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\
Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n{extra}\r\nBody of message {i}.\r\n",
        i % 5,
        message_id(i)
    );
    Outgoing::to_journal(&sender, data.into_bytes())
}

fn expected_disposition(i: usize) -> &'static str {
    match i % 6 {
        0 => "BULK",
        1 => "SPOOF",
        _ => "NONE",
    }
}

fn cli(p: &Pipeline, binary: &str, args: &[&str]) -> Result<CliRun> {
    p.cli(binary, args)
}

fn ok(out: &CliRun) -> Result<String> {
    out.clone().ok()
}

fn get(p: &Pipeline, path: &str) -> Result<serde_json::Value> {
    let answer = request(p.http, "GET", path, None, None)?;
    ensure!(answer.status == 200, "GET {path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
    answer.json()
}

fn postern_id(p: &Pipeline, i: usize) -> Result<String> {
    let traces = p.traces(&message_id(i))?;
    Ok(traces.first().context("no record")?["postern_id"].as_str().context("no id")?.to_owned())
}

fn search_ids(p: &Pipeline, query: &str) -> Result<Vec<String>> {
    let body = get(p, &format!("/api/v1/search?{query}&limit=1000"))?;
    Ok(body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["postern_id"].as_str().unwrap_or("").to_owned())
        .collect())
}

fn publish_event(p: &Pipeline, postern_id: &str, event: proto::Event) -> Result<()> {
    let tenant = proto::TenantId::new("default").unwrap();
    let event_type = event.event_type();
    let envelope = proto::Envelope {
        event_id: ulid::Ulid::new(),
        event_type,
        schema: event_type.current_schema(),
        postern_id: proto::PosternId::parse(postern_id).unwrap(),
        tenant: tenant.clone(),
        causation_id: None,
        occurred_at: proto::Timestamp::now(),
        producer: "testkit/remediation".into(),
    };
    testkit::jetstream::publish(
        &p.nats.url(),
        &proto::subject::subject_for(event_type, &tenant),
        &[("Nats-Msg-Id", &envelope.event_id.to_string())],
        &proto::encode(&envelope, &event),
    )?;
    Ok(())
}

/// Waits until the projector has folded everything both streams hold.
fn settle(p: &Pipeline) -> Result<()> {
    let (_, raw) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_RAW")?;
    let (_, events) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_EVENTS")?;
    p.wait_for_checkpoints(raw, events, Duration::from_secs(60))
}

#[test]
fn investigation_reports_reclassification_and_rebuild() -> Result<()> {
    let p = Pipeline::start()?;
    let batch: Vec<Outgoing> = (0..N).map(message).collect();
    for o in send_with_smtplib(p.smtp, &batch)? {
        ensure!(o.code == 250, "{o:?}");
    }
    p.wait_for_checkpoints(N as u64, N as u64, Duration::from_secs(60))?;
    let ids: Vec<String> = (0..N).map(|i| postern_id(&p, i)).collect::<Result<_>>()?;
    let id_of = |i: usize| ids[i].clone();
    let expect = |pred: &dyn Fn(usize) -> bool| -> Vec<String> {
        let mut v: Vec<String> = (0..N).filter(|i| pred(*i)).map(id_of).collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    // Search, field by field and combined.
    ensure!(sorted(search_ids(&p, "sender=S1%40dom1.example")?) == expect(&|i| i % 4 == 1 && i % 3 == 1));
    ensure!(sorted(search_ids(&p, "domain=dom2.example")?) == expect(&|i| i % 3 == 2));
    ensure!(sorted(search_ids(&p, "recipient=user3%40corp.example")?) == expect(&|i| i % 5 == 3));
    let invoices = expect(&|i| i % 6 == 0 || (i % 6 != 1 && i % 2 == 0));
    ensure!(sorted(search_ids(&p, "subject=invoice")?) == invoices, "subject words");
    for d in ["BULK", "SPOOF", "NONE"] {
        let got = sorted(search_ids(&p, &format!("disposition={d}"))?);
        ensure!(got == expect(&|i| expected_disposition(i) == d), "disposition {d}: {got:?}");
    }
    ensure!(
        sorted(search_ids(&p, "domain=dom0.example&disposition=bulk")?)
            == expect(&|i| i % 3 == 0 && expected_disposition(i) == "BULK")
    );
    ensure!(search_ids(&p, &format!("message_id={}", encode(&message_id(7))))? == vec![id_of(7)]);
    let alert = get(&p, &format!("/api/v1/messages/{}", id_of(8)))?["alert_id"].as_str().unwrap_or("").to_owned();
    ensure!(search_ids(&p, &format!("alert_id={}", encode(&alert)))? == vec![id_of(8)], "alert id {alert}");
    ensure!(search_ids(&p, "from=2020-01-01&to=2020-02-01")?.is_empty(), "a time range with nothing in it");

    // Cursor pagination over everything: every message once, newest first.
    let mut seen = Vec::new();
    let mut times = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/search?limit=5&cursor={}", encode(c)),
            None => "/api/v1/search?limit=5".to_owned(),
        };
        let page = get(&p, &path)?;
        for m in page["messages"].as_array().into_iter().flatten() {
            seen.push(m["postern_id"].as_str().unwrap_or("").to_owned());
            times.push(m["received_at"].as_str().unwrap_or("").to_owned());
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    ensure!(seen.len() == N && sorted(seen.clone()) == sorted(ids.clone()), "pages gave {seen:?}");
    ensure!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");

    // Bad parameters: 400 with a JSON reason.
    for bad in ["disposition=EVIL", "from=yesterday", "limit=0", "colour=blue", "cursor=nonsense"] {
        let answer = request(p.http, "GET", &format!("/api/v1/search?{bad}"), None, None)?;
        let body = answer.json()?;
        ensure!(answer.status == 400 && body["error"]["code"] == "bad_request", "{bad}: {} {body}", answer.status);
    }
    // The reason names the parameter as the caller wrote it, not a type of ours.
    let answer = request(p.http, "GET", "/api/v1/search?domain=%20", None, None)?;
    ensure!(answer.json()?["error"]["message"] == "domain is empty", "{}", answer.json()?);
    // A method a route does not take: 405, JSON too.
    let answer = request(p.http, "DELETE", "/api/v1/search", None, None)?;
    let body = answer.json()?;
    ensure!(answer.status == 405 && body["error"]["code"] == "method_not_allowed", "{} {body}", answer.status);
    // What the HTTP server refuses before any route sees it is JSON as well: a character
    // that must be percent-encoded, a target over 64 KiB, more header lines than are read.
    let long_target = format!("/api/v1/search?subject={}", "a".repeat(70_000));
    let many_headers: String = (0..150).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    for (what, raw, status, code) in [
        (
            "an unencoded <",
            "GET /api/v1/search?subject=<script> HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            400,
            "bad_request",
        ),
        ("a target over 64 KiB", format!("GET {long_target} HTTP/1.1\r\nHost: x\r\n\r\n"), 414, "uri_too_long"),
        (
            "150 header lines",
            format!("GET /api/v1/search HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
            431,
            "request_header_fields_too_large",
        ),
        (
            "two Content-Lengths",
            "POST /api/v1/reclassifications HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"
                .to_owned(),
            400,
            "bad_request",
        ),
    ] {
        let answer = testkit::http::exchange(p.http, raw.as_bytes())?;
        let body = answer.json().with_context(|| what.to_owned())?;
        ensure!(
            answer.status == status
                && body["error"]["code"] == code
                && answer.header("content-type") == Some("application/json"),
            "{what}: {} {body}",
            answer.status
        );
    }

    // Reclassification through the CLI.
    let out = ok(&cli(
        &p,
        "projector",
        &["reclassify", "--message-id", &message_id(2), "--disposition", "SPAM", "--type", "team"],
    )?)?;
    ensure!(out.contains("ACCEPTED") && out.contains("final disposition SPAM"), "{out}");
    let user = ok(&cli(
        &p,
        "projector",
        &["reclassify", "--postern-id", &id_of(3), "--disposition", "MALICIOUS", "--type", "user", "--json"],
    )?)?;
    let user: serde_json::Value = serde_json::from_str(&user)?;
    ensure!(user["status"] == "PENDING", "{user}");
    let pending = ok(&cli(&p, "projector", &["reclassifications", "--status", "pending", "--json"])?)?;
    ensure!(pending.contains(user["submission_id"].as_str().unwrap()), "{pending}");
    let out = ok(&cli(&p, "projector", &["resolve", user["submission_id"].as_str().unwrap(), "--outcome", "accept"])?)?;
    ensure!(out.contains("ACCEPTED") && out.contains("MALICIOUS"), "{out}");
    let rejected = ok(&cli(
        &p,
        "projector",
        &["reclassify", "--message-id", &message_id(4), "--disposition", "SPAM", "--type", "user", "--json"],
    )?)?;
    let rejected: serde_json::Value = serde_json::from_str(&rejected)?;
    ok(&cli(&p, "projector", &["resolve", rejected["submission_id"].as_str().unwrap(), "--outcome", "reject"])?)?;
    let withdrawn = ok(&cli(
        &p,
        "projector",
        &["reclassify", "--message-id", &message_id(5), "--disposition", "SPAM", "--type", "team", "--json"],
    )?)?;
    let withdrawn: serde_json::Value = serde_json::from_str(&withdrawn)?;
    let out = ok(&cli(
        &p,
        "projector",
        &["resolve", withdrawn["submission_id"].as_str().unwrap(), "--outcome", "withdraw"],
    )?)?;
    ensure!(out.contains("WITHDRAWN") && out.contains(expected_disposition(5)), "{out}");
    ok(&cli(
        &p,
        "projector",
        &["reclassify", "--message-id", &message_id(6), "--disposition", "SPAM", "--type", "user"],
    )?)?;
    // Refusals, with their reasons and a non-zero exit.
    for (args, reason) in [
        (vec!["--message-id", &message_id(6)[..], "--disposition", "SPAM", "--type", "user"], "pending"),
        (vec!["--message-id", "nobody@nowhere.example", "--disposition", "SPAM", "--type", "team"], "no message"),
        (vec!["--message-id", &message_id(9)[..], "--disposition", "EVIL", "--type", "team"], "disposition"),
        (vec!["--message-id", &message_id(9)[..], "--disposition", "NONE", "--type", "team"], "already NONE"),
    ] {
        let out = cli(&p, "projector", &[&["reclassify"][..], &args].concat())?;
        ensure!(!out.success && out.stderr.contains(reason), "{args:?}: {}", out.stderr);
    }
    let out = cli(&p, "projector", &["resolve", withdrawn["submission_id"].as_str().unwrap(), "--outcome", "accept"])?;
    ensure!(!out.success && out.stderr.contains("WITHDRAWN"), "{out:?}");

    // Remediation of message 3 (as the remediation worker reports it) and a policy change.
    publish_event(
        &p,
        &id_of(3),
        proto::Event::RemediationRequested(proto::RemediationRequested {
            remediation_id: "r1".into(),
            message_id: format!("<{}>", message_id(3)),
            action: proto::RemediationAction::Quarantine,
            mailboxes: vec!["user3@corp.example".into()],
            reason: "final disposition MALICIOUS".into(),
            requested_by: None,
            client_addr: None,
        }),
    )?;
    publish_event(
        &p,
        &id_of(3),
        proto::Event::RemediationCompleted(proto::RemediationCompleted {
            remediation_id: "r1".into(),
            mailbox: "user3@corp.example".into(),
            action: proto::RemediationAction::Quarantine,
            outcome: proto::RemediationOutcome::Done,
            detail: "moved to Quarantine".into(),
        }),
    )?;
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "blocked_senders = [{ pattern = \"bad.example\", type = \"DOMAIN\" }]\n")?;
    ok(&cli(&p, "scorer", &["policy", "set", "--tenant", "default", policy.to_str().unwrap()])?)?;
    settle(&p)?;

    ensure!(sorted(search_ids(&p, "disposition=SPAM")?) == vec![id_of(2)], "reclassified to SPAM");
    ensure!(search_ids(&p, "disposition=MALICIOUS")? == vec![id_of(3)]);
    ensure!(search_ids(&p, "action=quarantine")? == vec![id_of(3)], "action taken");
    let trace = get(&p, &format!("/api/v1/messages/{}", id_of(3)))?;
    ensure!(trace["disposition"] == "MALICIOUS" && trace["scored_disposition"] == expected_disposition(3), "{trace}");
    let kinds: Vec<&str> =
        trace["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    for kind in [
        "RawMailReceived",
        "DispositionAssigned",
        "ReclassificationSubmitted",
        "ReclassificationResolved",
        "RemediationRequested",
        "RemediationCompleted",
    ] {
        ensure!(kinds.contains(&kind), "{kind} missing from the trace: {kinds:?}");
    }
    let r = &trace["reclassifications"][0];
    ensure!(
        r["original"] == expected_disposition(3) && r["requested"] == "MALICIOUS" && r["status"] == "ACCEPTED",
        "{r}"
    );
    let out = ok(&cli(&p, "projector", &["trace", "--message-id", &message_id(3)])?)?;
    ensure!(out.contains("Scored as") && out.contains("RemediationCompleted"), "{out}");
    let out = cli(&p, "projector", &["trace", "--message-id", "nobody@nowhere.example"])?;
    let said = &out.stderr;
    ensure!(out.code == Some(1) && said.contains("no message nobody@nowhere.example in tenant default"), "{out:?}");

    // Reports.
    let today = proto::Timestamp::now().date();
    let report = get(&p, &format!("/api/v1/reports/daily?from={today}&to={today}&top=3"))?;
    let day = &report["days"][0];
    ensure!(day["messages"] == N, "{report}");
    let total: u64 = day["dispositions"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    ensure!(total == N as u64, "{report}");
    ensure!(day["dispositions"]["SPAM"] == 1 && day["dispositions"]["MALICIOUS"] == 1, "{report}");
    let rc = &day["reclassifications"];
    ensure!(rc["ACCEPTED"] == 2 && rc["REJECTED"] == 1 && rc["WITHDRAWN"] == 1 && rc["PENDING"] == 1, "{report}");
    ensure!(report["top_sender_domains"].as_array().unwrap().len() == 3, "{report}");
    ensure!(report["top_recipients"][0][1] == 5, "five messages per recipient: {report}");
    let csv = ok(&cli(&p, "projector", &["report", "--csv"])?)?;
    ensure!(csv.starts_with("date,kind,value,count\n") && csv.contains(&format!("{today},messages,,{N}")), "{csv}");
    let answer = request(p.http, "GET", "/api/v1/reports/daily?from=2026-01-01&to=2028-01-01", None, None)?;
    ensure!(answer.status == 400, "more than a year: {}", answer.status);

    // The raw message, byte for byte.
    let raw = request(p.http, "GET", &format!("/api/v1/messages/{}/raw", id_of(7)), None, None)?;
    ensure!(raw.status == 200 && raw.header("content-type") == Some("message/rfc822"), "{raw:?}");
    ensure!(raw.body == batch[7].data, "raw bytes differ");

    // Audit replay: a rebuild equals the live views, key for key (the live fold read the
    // events in batches as they came, the rebuild in batches of whole streams' worth).
    let rebuilt = p.dir.path().join("rebuilt");
    let out = ok(&cli(&p, "projector", &["rebuild", "--db", rebuilt.to_str().unwrap()])?)?;
    ensure!(out.contains("fold_events_per_s"), "{out}");
    let live = p.dir.path().join("views");
    let out = ok(&cli(&p, "projector", &["verify", live.to_str().unwrap(), rebuilt.to_str().unwrap()])?)?;
    ensure!(out.starts_with("identical"), "{out}");
    let out = cli(&p, "projector", &["rebuild", "--db", rebuilt.to_str().unwrap()])?;
    ensure!(!out.success, "a rebuild into an existing database is refused");

    // As of before the reclassifications: message 2 is what the scorer said.
    let before = p.dir.path().join("as-of");
    let first_reclassification = {
        let t = get(&p, &format!("/api/v1/messages/{}", id_of(2)))?;
        t["reclassifications"][0]["requested_at"].as_str().unwrap().to_owned()
    };
    let as_of = proto::Timestamp(proto::Timestamp::parse(&first_reclassification).unwrap().millis() - 1).to_rfc3339();
    ok(&cli(&p, "projector", &["rebuild", "--db", before.to_str().unwrap(), "--as-of", &as_of])?)?;
    let out = cli(&p, "projector", &["verify", live.to_str().unwrap(), before.to_str().unwrap()])?;
    ensure!(out.code == Some(1), "as-of views differ from today's: {out:?}");
    let store = projector::store::Store::open_read_only(&before)?;
    let then = projector::query::by_postern_id(&store, "default", &id_of(2))?.context("message 2 then")?;
    ensure!(
        then.final_disposition().map(|d| d.as_str()) == Some(expected_disposition(2)) && then.submissions.is_empty(),
        "{then:?}"
    );
    let all_then = projector::query::by_postern_id(&store, "default", &id_of(20))?;
    ensure!(all_then.is_some(), "messages received before then are there");

    // Time travel on the live views, one message at a time: as of before the
    // reclassification, the trace is what the scorer said, and it is the trace the as-of
    // rebuild holds; as of later, the final disposition.
    let trace_then =
        ok(&cli(&p, "projector", &["trace", "--message-id", &message_id(2), "--as-of", &as_of, "--json"])?)?;
    let mut trace_then: serde_json::Value = serde_json::from_str(&trace_then)?;
    ensure!(trace_then["as_of"] == as_of.as_str(), "{trace_then}");
    ensure!(
        trace_then["disposition"] == expected_disposition(2)
            && trace_then["reclassifications"].as_array().is_some_and(|r| r.is_empty()),
        "{trace_then}"
    );
    trace_then.as_object_mut().context("a trace object")?.remove("as_of");
    let rebuilt_then = serde_json::to_value(projector::query::Trace::of(&then))?;
    ensure!(
        trace_then == rebuilt_then,
        "as-of trace {trace_then}
as-of rebuild {rebuilt_then}"
    );
    let later =
        proto::Timestamp(proto::Timestamp::parse(&first_reclassification).unwrap().millis() + 60_000).to_rfc3339();
    let trace_later = get(&p, &format!("/api/v1/messages/{}?as_of={}", id_of(2), encode(&later)))?;
    ensure!(trace_later["disposition"] == "SPAM" && trace_later["scored_disposition"] == expected_disposition(2));
    let out = cli(&p, "projector", &["trace", "--message-id", &message_id(2), "--as-of", "2001-01-01"])?;
    ensure!(out.code == Some(1), "before it arrived: {out:?}");
    let answer = request(p.http, "GET", &format!("/api/v1/messages/{}?as_of=2001-01-01", id_of(2)), None, None)?;
    ensure!(answer.status == 404, "before it arrived: {}", answer.status);
    let answer = request(p.http, "GET", &format!("/api/v1/messages/{}?as_of=yesterday", id_of(2)), None, None)?;
    ensure!(answer.status == 400 && answer.json()?["error"]["code"] == "bad_request", "{}", answer.status);

    // The as-of rebuild served read-only (`projector serve --db`): its time on every answer,
    // the views as they stood then, no writes. Folding it further is refused.
    let http = std::net::SocketAddr::from(([127, 0, 0, 1], testkit::free_port()));
    let conf = p.dir.path().join("projector-read-only.toml");
    std::fs::write(
        &conf,
        format!("nats_url = \"{}\"\nhttp_listen = \"{http}\"\ndb_path = \"{}\"\n", p.nats.url(), before.display()),
    )?;
    let conf = conf.to_str().context("path")?;
    let read_only = testkit::process::Service::start(
        "projector-read-only",
        "projector",
        &["serve", "--config", conf, "--db", before.to_str().context("path")?],
        p.dir.path(),
    )?;
    testkit::wait_for_port(http, Duration::from_secs(20)).with_context(|| read_only.log())?;
    let health = request(http, "GET", "/api/v1/health", None, None)?.json()?;
    ensure!(health["read_only"] == true && health["as_of"] == as_of.as_str(), "{health}");
    let trace = request(http, "GET", &format!("/api/v1/messages/{}", id_of(2)), None, None)?;
    ensure!(trace.header("postern-as-of") == Some(as_of.as_str()), "{:?}", trace.headers);
    ensure!(trace.status == 200 && trace.json()?["disposition"] == expected_disposition(2), "{:?}", trace.json());
    let write = serde_json::json!({ "message_id": message_id(2), "disposition": "SPAM", "type": "team" });
    let refused = request(http, "POST", "/api/v1/reclassifications", None, Some(&write))?;
    ensure!(refused.status == 409 && refused.json()?["error"]["code"] == "read_only", "{}", refused.status);
    let out = cli(&p, "projector", &["serve", "--config", conf])?;
    ensure!(!out.success && out.stderr.contains("rebuilt as of"), "folding an as-of rebuild: {}", out.stderr);
    Ok(())
}

#[test]
fn tokens_scope_every_request_to_their_tenant() -> Result<()> {
    let tokens = [("default", "pst_default_token_for_tests"), ("other", "pst_other_token_for_tests")];
    let config = format!(
        "tokens = [{}]\n",
        tokens
            .iter()
            .map(|(t, tok)| format!(
                "{{ tenant = \"{t}\", sha256 = \"{}\", name = \"{t}-analyst\", role = \"analyst\" }}",
                projector::api::token_hash(tok)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let p = Pipeline::start_configured("", &config)?;
    let o = send_with_smtplib(p.smtp, &[message(2)])?;
    ensure!(o[0].code == 250);
    let (mine, theirs) = (Some(tokens[0].1), Some(tokens[1].1));
    let id = testkit::eventually(Duration::from_secs(30), "the message is folded", || {
        let answer =
            request(p.http, "GET", &format!("/api/v1/messages?message_id={}", encode(&message_id(2))), mine, None)?;
        Ok(answer.json()?["messages"][0]["postern_id"].as_str().map(str::to_owned))
    })?;
    for (token, path, status) in [
        (None, format!("/api/v1/messages/{id}"), 401),
        (Some("pst_wrong"), format!("/api/v1/messages/{id}"), 401),
        (mine, format!("/api/v1/messages/{id}"), 200),
        (theirs, format!("/api/v1/messages/{id}"), 404),
        (theirs, format!("/api/v1/messages/{id}/raw"), 404),
        (theirs, format!("/api/v1/messages/{id}?tenant=default"), 404),
        (mine, "/api/v1/search?disposition=NONE".to_owned(), 200),
        (None, "/api/v1/health".to_owned(), 200),
    ] {
        let answer = request(p.http, "GET", &path, token, None)?;
        ensure!(
            answer.status == status,
            "{path} with {token:?}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        if status >= 400 {
            ensure!(answer.json()?["error"]["message"].is_string(), "errors are JSON");
        }
    }
    let theirs_search = request(p.http, "GET", "/api/v1/search", theirs, None)?.json()?;
    ensure!(theirs_search["messages"].as_array().is_some_and(|m| m.is_empty()), "{theirs_search}");
    let body = serde_json::json!({"postern_id": id, "disposition": "SPAM", "type": "team"});
    let answer = request(p.http, "POST", "/api/v1/reclassifications", theirs, Some(&body))?;
    ensure!(answer.status == 404, "another tenant cannot reclassify: {}", answer.status);
    // Who asks is the token's name: a request cannot say it is someone else.
    let posing = serde_json::json!({"postern_id": id, "disposition": "SPAM", "type": "team", "requested_by": "ceo"});
    let answer = request(p.http, "POST", "/api/v1/reclassifications", mine, Some(&posing))?;
    let refusal = answer.json()?;
    ensure!(answer.status == 400 && refusal["error"]["message"].to_string().contains("token's name"), "{refusal}");
    let answer = request(p.http, "POST", "/api/v1/reclassifications", mine, Some(&body))?;
    ensure!(answer.status == 201, "{}", String::from_utf8_lossy(&answer.body));
    ensure!(answer.json()?["status"] == "ACCEPTED");
    let listed = request(p.http, "GET", "/api/v1/reclassifications", mine, None)?.json()?;
    ensure!(listed["reclassifications"][0]["requested_by"] == "default-analyst", "the token's name: {listed}");
    Ok(())
}
