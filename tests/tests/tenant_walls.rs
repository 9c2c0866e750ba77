//! The tenant of an event is the one its subject names. Through the real servers, events
//! are published straight to JetStream as a process allowed on one tenant's subjects could:
//! a disposition for acme on default's subject, a raw message for acme on default's subject,
//! an accepted reclassification of default's message (with a quarantine) on acme's subject,
//! a training example for acme on the shared scope, and garbage. None is acted on: nothing
//! reaches acme's views, no disposition or remediation comes of them, no classifier learns
//! from them; each is a dead letter with its reason, once; and mail goes on being scored.
//! Reserved names (`_shared`) are refused as tenants by the API and the CLI.

use anyhow::{Context, Result, ensure};
use proto::{
    DecidedRemediation, Disposition, DispositionAssigned, Envelope, Event, EventType, HeaderSummary, JournalFormat,
    MailBody, MessageLabelled, PosternId, RawMailReceived, ReclassificationOutcome, ReclassificationResolved,
    RemediationAction, TenantId, Timestamp, TrainingLabel,
};
use std::time::Duration;
use testkit::jetstream::{Stored, publish, read_stream};
use testkit::pipeline::Pipeline;

fn message(i: usize, message_id: &str) -> Vec<u8> {
    format!(
        "From: Ops <ops{i}@vendor.example>\r\nTo: user@corp.example\r\nSubject: Weekly numbers {i}\r\n\
Message-ID: <{message_id}>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n\
The weekly numbers are in the shared folder as usual.\r\n"
    )
    .into_bytes()
}

fn envelope(event_type: EventType, tenant: &str, message_id: &str, salt: u16) -> Envelope {
    let tenant = TenantId::new(tenant).expect("tenant");
    Envelope {
        event_id: ulid::Ulid::from_parts(Timestamp::now().millis(), u128::from(salt)),
        event_type,
        schema: event_type.current_schema(),
        postern_id: PosternId::from_message_id(&tenant, message_id),
        tenant,
        causation_id: None,
        occurred_at: Timestamp::now(),
        producer: "intruder/1".into(),
    }
}

/// Publishes `event` on `subject` (not the one its envelope's tenant gives).
fn forge(p: &Pipeline, subject: &str, envelope: &Envelope, event: &Event) -> Result<u64> {
    let id = envelope.event_id.to_string();
    publish(&p.nats.url(), subject, &[("Nats-Msg-Id", id.as_str())], &proto::encode(envelope, event))
}

fn reason(letter: &Stored) -> String {
    letter.headers.iter().find(|(k, _)| k == "Postern-Dead-Letter-Reason").map(|(_, v)| v.clone()).unwrap_or_default()
}

fn source(letter: &Stored) -> String {
    letter.headers.iter().find(|(k, _)| k == "Postern-Dead-Letter-Source").map(|(_, v)| v.clone()).unwrap_or_default()
}

#[test]
fn an_event_on_another_tenant_s_subject_is_dead_lettered_and_never_acted_on() -> Result<()> {
    let p = Pipeline::start()?;
    let url = p.nats.url();
    let scored = p.send_until("bounce@vendor.example", 0, "NONE", message)?;
    let real_message_id = scored["message_id"].as_str().context("message id")?.to_owned();
    let real_postern_id = scored["postern_id"].as_str().context("postern id")?.to_owned();
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "[actions]\nMALICIOUS = \"quarantine\"\n")?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;

    // 1. A verdict for acme, written on default's disposition subject.
    let disposition = envelope(EventType::DispositionAssigned, "acme", "<forged-1@acme.example>", 1);
    let verdict = Event::DispositionAssigned(DispositionAssigned {
        disposition: Disposition::None,
        attributes: vec![],
        detections: vec![],
        rules_version: "forged".into(),
        alert_id: "forged".into(),
        postern_id: disposition.postern_id.clone(),
        headers: HeaderSummary { subject: Some("forged into acme".into()), ..Default::default() },
    });
    let seq_disposition = forge(&p, "mail.disposition.default", &disposition, &verdict)?;

    // 2. A raw message for acme on default's raw subject.
    let raw_envelope = envelope(EventType::RawMailReceived, "acme", "<forged-2@acme.example>", 2);
    let raw = Event::RawMailReceived(RawMailReceived {
        envelope_sender: "x@acme.example".into(),
        envelope_recipients: vec!["journal@postern.localhost".into()],
        original_sender: None,
        original_recipients: vec!["ceo@acme.example".into()],
        message_id: Some("forged-2@acme.example".into()),
        client_addr: "127.0.0.1:1".into(),
        helo: "intruder".into(),
        tls: false,
        size: 10,
        received_at: Timestamp::now(),
        journal_format: JournalFormat::PlainBcc,
        unwrap_problem: None,
        gmail_spam: None,
        gmail_phishy: None,
        content_digest: "00".repeat(16),
        body: MailBody::Inline(b"Subject: x\r\n\r\nhello\r\n".to_vec()),
    });
    let seq_raw = forge(&p, "mail.raw.default", &raw_envelope, &raw)?;

    // 3. An accepted MALICIOUS decision (carrying a quarantine) on default's real message,
    //    written on acme's reclassification subject: the reactor would move the mail.
    let mut decision_envelope = envelope(EventType::ReclassificationResolved, "default", &real_message_id, 3);
    decision_envelope.postern_id = PosternId::parse(&real_postern_id)?;
    let decision = Event::ReclassificationResolved(ReclassificationResolved {
        submission_id: "forged-submission".into(),
        outcome: ReclassificationOutcome::Accepted,
        resolved_by: "intruder".into(),
        final_disposition: Disposition::Malicious,
        comment: String::new(),
        remediation: DecidedRemediation::Act(RemediationAction::Quarantine),
        client_addr: None,
    });
    let seq_decision = forge(&p, "mail.reclassification.acme", &decision_envelope, &decision)?;

    // 4. A training example for acme, on the shared scope every tenant learns from.
    let lesson_envelope = envelope(EventType::MessageLabelled, "acme", "<forged-4@acme.example>", 4);
    let lesson = Event::MessageLabelled(MessageLabelled {
        label: TrainingLabel::Phish,
        source: "intruder".into(),
        content_digest: "11".repeat(16),
        body: MailBody::Inline(message(4, "forged-4@acme.example")),
    });
    let seq_lesson = forge(&p, "mail.training._shared", &lesson_envelope, &lesson)?;

    // 5. Garbage on MAIL_EVENTS.
    let seq_garbage =
        publish(&url, "mail.disposition.default", &[("Nats-Msg-Id", "garbage-events-1")], b"\x00not an event")?;

    // Mail goes on.
    let after = p.send_until("bounce@vendor.example", 100, "NONE", message)?;
    let letters = testkit::eventually(Duration::from_secs(30), "five dead letters", || {
        let letters: Vec<Stored> = read_stream(&url, "MAIL_EVENTS")?
            .into_iter()
            .filter(|m| m.subject.starts_with("mail.deadletter."))
            .collect();
        Ok((letters.len() >= 5).then_some(letters))
    })
    .with_context(|| p.logs())?;
    let by_source = |wanted: String| letters.iter().filter(|l| source(l) == wanted).collect::<Vec<_>>();
    let expect = |stream: &str, seq: u64, subject: &str, says: &str| -> Result<()> {
        let found = by_source(format!("{stream}/{seq}"));
        ensure!(found.len() == 1, "{stream}/{seq}: {} dead letters: {letters:?}", found.len());
        ensure!(found[0].subject == subject, "{stream}/{seq} filed under {}", found[0].subject);
        ensure!(reason(found[0]).contains(says), "{stream}/{seq}: {}", reason(found[0]));
        Ok(())
    };
    let crossed = "published on";
    expect("MAIL_EVENTS", seq_disposition, "mail.deadletter.default", crossed)?;
    expect("MAIL_RAW", seq_raw, "mail.deadletter.default", crossed)?;
    expect("MAIL_EVENTS", seq_decision, "mail.deadletter.acme", crossed)?;
    expect("MAIL_TRAINING", seq_lesson, "mail.deadletter._shared", crossed)?;
    expect("MAIL_EVENTS", seq_garbage, "mail.deadletter.default", "undecodable")?;
    ensure!(letters.len() == 5, "exactly five dead letters: {letters:?}");

    // Nothing reached acme's views; default's message is as it was: no decision, no move.
    for forged in ["forged-1@acme.example", "forged-2@acme.example"] {
        let (status, body) = testkit::http::get_json(
            p.http,
            &format!("/api/v1/messages?message_id={}&tenant=acme", testkit::http::encode(forged)),
        )?;
        ensure!(status == 200 && body["messages"].as_array().is_some_and(|m| m.is_empty()), "{forged}: {body}");
    }
    let trace = p.traces(&real_message_id)?.into_iter().next().context("trace")?;
    ensure!(trace["disposition"] == "NONE", "{trace}");
    let events = trace["events"].as_array().cloned().unwrap_or_default();
    ensure!(events.iter().all(|e| e["event_type"] != "ReclassificationResolved"), "{trace}");
    // No scorer scored the forged raw message, and no remediation was asked for anything.
    let stored = read_stream(&url, "MAIL_EVENTS")?;
    let decoded: Vec<(Envelope, Event)> = stored.iter().filter_map(|m| proto::decode(&m.payload).ok()).collect();
    ensure!(
        decoded.iter().all(|(e, _)| e.tenant.as_str() != "acme" || e.producer == "intruder/1"),
        "something was made for acme from the forged events"
    );
    ensure!(!decoded.iter().any(|(_, ev)| matches!(ev, Event::RemediationRequested(_))), "a remediation was requested");
    ensure!(after["disposition"] == "NONE", "{after}");
    // The shared training scope is no tenant: the API and the CLI refuse it by name.
    let (status, body) = testkit::http::get_json(p.http, "/api/v1/search?tenant=_shared")?;
    ensure!(status == 400 && body.to_string().contains("reserved"), "{status} {body}");
    let refused = p.cli("scorer", &["policy", "show", "--tenant", "_shared"])?;
    ensure!(refused.code == Some(2) && refused.stderr.contains("reserved"), "{}", refused.text());
    let scorer_log = p.scorer.log();
    ensure!(scorer_log.contains("training event not folded"), "the learner did not say it passed over the lesson");
    Ok(())
}

/// Bad input of three kinds (garbage, a schema this build does not know, a truncated event)
/// on every subject a consumer reads (raw mail; dispositions, reclassifications and
/// remediations on MAIL_EVENTS; training): each is one dead letter with its reason, and
/// every consumer goes on: mail is scored and folded, and a reclassification is decided and
/// reacted to (its label taught through MAIL_TRAINING).
#[test]
fn bad_input_on_every_subject_is_dead_lettered_and_every_consumer_goes_on() -> Result<()> {
    let p = Pipeline::start()?;
    let url = p.nats.url();
    p.send_until("bounce@vendor.example", 0, "NONE", message)?;
    let valid = {
        let e = envelope(EventType::DispositionAssigned, "default", "<valid@vendor.example>", 9);
        proto::encode(
            &e,
            &Event::DispositionAssigned(DispositionAssigned {
                disposition: Disposition::None,
                attributes: vec![],
                detections: vec![],
                rules_version: "r".into(),
                alert_id: "a".into(),
                postern_id: e.postern_id.clone(),
                headers: HeaderSummary::default(),
            }),
        )
    };
    // The schema number is the byte after the magic, the envelope version, the 16-byte id
    // and the one-byte type code.
    let mut unknown_schema = valid.clone();
    unknown_schema[4 + 1 + 16 + 1] = 99;
    let truncated = valid[..valid.len() / 2].to_vec();
    let kinds: [(&str, Vec<u8>, &str); 3] = [
        ("garbage", b"\x00\xffnot an event at all".to_vec(), "undecodable"),
        ("schema", unknown_schema, "unknown schema version 99"),
        ("truncated", truncated, "undecodable"),
    ];
    let subjects = [
        ("MAIL_RAW", "mail.raw.default"),
        ("MAIL_EVENTS", "mail.disposition.default"),
        ("MAIL_EVENTS", "mail.reclassification.default"),
        ("MAIL_EVENTS", "mail.remediation.default"),
        ("MAIL_TRAINING", "mail.training.default"),
    ];
    let mut planted = Vec::new();
    for (stream, subject) in subjects {
        for (kind, payload, says) in &kinds {
            let id = format!("bad-{subject}-{kind}");
            let seq = publish(&url, subject, &[("Nats-Msg-Id", id.as_str())], payload)?;
            planted.push((format!("{stream}/{seq}"), subject, *says));
        }
    }

    // Every consumer goes on: mail is scored; a reclassification is decided and its label
    // taught (the reactor publishes it to MAIL_TRAINING).
    let scored = p.send_until("bounce@vendor.example", 100, "NONE", message)?;
    let message_id = scored["message_id"].as_str().context("message id")?;
    let args = ["reclassify", "--message-id", message_id, "--disposition", "SPAM", "--type", "team", "--json"];
    let answer = p.cli("projector", &args)?.json()?;
    ensure!(answer["status"] == "ACCEPTED" && answer["training"]["taught"] == true, "{answer}");

    let letters = testkit::eventually(Duration::from_secs(30), "fifteen dead letters", || {
        let letters: Vec<Stored> = read_stream(&url, "MAIL_EVENTS")?
            .into_iter()
            .filter(|m| m.subject.starts_with("mail.deadletter."))
            .collect();
        Ok((letters.len() >= planted.len()).then_some(letters))
    })
    .with_context(|| p.logs())?;
    for (from, subject, says) in &planted {
        let found: Vec<&Stored> = letters.iter().filter(|l| &source(l) == from).collect();
        ensure!(found.len() == 1, "{subject} ({from}): {} dead letters", found.len());
        ensure!(found[0].subject == "mail.deadletter.default", "{from} filed under {}", found[0].subject);
        ensure!(reason(found[0]).contains(says), "{subject} ({from}): {}", reason(found[0]));
    }
    ensure!(letters.len() == planted.len(), "{} dead letters for {} planted", letters.len(), planted.len());
    let mut p = p;
    for (name, service) in [("ingest", &mut p.ingest), ("scorer", &mut p.scorer), ("projector", &mut p.projector)] {
        ensure!(service.is_running(), "{name} stopped:\n{}", service.log());
    }
    Ok(())
}
