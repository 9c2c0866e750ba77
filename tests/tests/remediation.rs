//! Remediation through the real servers: a team reclassifies a message MALICIOUS, the
//! tenant's policy says quarantine, a RemediationRequested names every recipient, and the
//! remediator moves the message out of each inbox of a real Dovecot over IMAP (MOVE, or
//! COPY + \Deleted + EXPUNGE where the server has no MOVE). The outcome of each mailbox is
//! an event in the trace; a repeated request moves nothing twice; while the IMAP server is
//! down the remediator retries with backoff and succeeds once it is back; a message that
//! is not in a mailbox is NOT_FOUND.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::dovecot::Dovecot;
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

const USERS: [&str; 3] = ["alice@corp.example", "bob@corp.example", "carol@corp.example"];

fn message(n: usize, to: &str, cc: &str) -> Vec<u8> {
    format!(
        "From: Billing <billing@vendor.example>\r\nTo: {to}\r\nCc: {cc}\r\nSubject: Invoice {n}\r\n\
Message-ID: <remediate-{n}@vendor.example>\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\n\r\nPlease pay invoice {n}.\r\n"
    )
    .into_bytes()
}

fn cli(p: &Pipeline, binary: &str, args: &[&str]) -> Result<String> {
    p.cli(binary, args)?.ok()
}

/// `projector reclassify` of message `n` as MALICIOUS by the team; its JSON answer.
fn team_says_malicious(p: &Pipeline, n: usize) -> Result<serde_json::Value> {
    let message_id = format!("remediate-{n}@vendor.example");
    let args = ["reclassify", "--message-id", &message_id, "--disposition", "MALICIOUS", "--type", "team", "--json"];
    Ok(serde_json::from_str(&cli(p, "projector", &args)?)?)
}

fn outcomes(p: &Pipeline, n: usize) -> Result<Vec<String>> {
    let trace = p.traces(&format!("remediate-{n}@vendor.example"))?.into_iter().next().context("no trace")?;
    Ok(trace["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event_type"] == "RemediationCompleted")
        .map(|e| e["summary"].as_str().unwrap_or("").to_owned())
        .collect())
}

/// Waits (30 s at most) until message `n` has exactly `count` remediation outcomes.
fn wait_for_outcomes(p: &Pipeline, n: usize, count: usize, logs: impl Fn() -> String) -> Result<Vec<String>> {
    testkit::eventually(Duration::from_secs(30), &format!("{count} remediation outcome(s) of message {n}"), || {
        let found = outcomes(p, n)?;
        Ok((found.len() == count).then_some(found))
    })
    .with_context(logs)
}

fn folder_of(dovecot: &Dovecot, user: &str, n: usize) -> Result<Vec<String>> {
    let id = format!("<remediate-{n}@vendor.example>");
    Ok(dovecot.folders(user)?.into_iter().filter(|(_, ids)| ids.contains(&id)).map(|(f, _)| f).collect())
}

fn remediate(with_move: bool) -> Result<()> {
    let mut dovecot = Dovecot::start(&USERS, with_move)?;
    let p = Pipeline::start()?;
    let remediator = dovecot.start_remediator(p.dir.path(), &p.nats.url(), 1)?;
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "auto_remediate = true\n[actions]\nMALICIOUS = \"quarantine\"\nSPAM = \"move_to_junk\"\nBULK = \"move_to_junk\"\n",
    )?;
    cli(&p, "scorer", &["policy", "set", "--tenant", "default", policy.to_str().unwrap()])?;

    // Message 1 reached alice and bob; message 2 carol; message 3 is in nobody's inbox.
    // Message 5 went to a mailbox the IMAP server does not have.
    let messages = [
        (1, "alice@corp.example", "bob@corp.example"),
        (2, "carol@corp.example", "carol@corp.example"),
        (3, "alice@corp.example", "alice@corp.example"),
        (5, "dave@corp.example", "dave@corp.example"),
    ];
    for (n, to, cc) in messages {
        let o = send_with_smtplib(p.smtp, &[Outgoing::to_journal("billing@vendor.example", message(n, to, cc))])?;
        ensure!(o[0].code == 250, "{o:?}");
    }
    dovecot.deliver("alice@corp.example", &message(1, "alice@corp.example", "bob@corp.example"))?;
    dovecot.deliver("bob@corp.example", &message(1, "alice@corp.example", "bob@corp.example"))?;
    dovecot.deliver("carol@corp.example", &message(2, "carol@corp.example", "carol@corp.example"))?;
    // Message 4 is a newsletter: with auto_remediate, BULK is moved at first scoring.
    let newsletter = String::from_utf8(message(4, "alice@corp.example", "alice@corp.example"))?
        .replacen("Subject:", "List-Unsubscribe: <mailto:leave@vendor.example>\r\nSubject:", 1)
        .into_bytes();
    dovecot.deliver("alice@corp.example", &newsletter)?;
    let o = send_with_smtplib(p.smtp, &[Outgoing::to_journal("billing@vendor.example", newsletter)])?;
    ensure!(o[0].code == 250, "{o:?}");
    p.wait_for_checkpoints(5, 5, Duration::from_secs(60))?;
    let moved = wait_for_outcomes(&p, 4, 1, || remediator.log())?;
    ensure!(moved[0].starts_with("move_to_junk DONE"), "{moved:?}");
    ensure!(folder_of(&dovecot, "alice@corp.example", 4)? == vec!["Junk".to_owned()]);

    // Alice flagged message 1 in her inbox; a release must give it back to her so.
    dovecot.add_flag("alice@corp.example", "INBOX", "<remediate-1@vendor.example>", "\\Flagged")?;
    let answer = team_says_malicious(&p, 1)?;
    let submission_1 = answer["submission_id"].as_str().context("a submission id")?.to_owned();
    ensure!(answer["remediation"]["action"] == "quarantine", "{answer}");
    ensure!(
        answer["remediation"]["mailboxes"] == serde_json::json!(["alice@corp.example", "bob@corp.example"]),
        "{answer}"
    );
    for summary in wait_for_outcomes(&p, 1, 2, || format!("{}\n{}", remediator.log(), dovecot.log()))? {
        ensure!(summary.starts_with("quarantine DONE"), "{summary}");
        ensure!(summary.contains(if with_move { "(MOVE)" } else { "EXPUNGE" }), "{summary}");
    }
    for user in ["alice@corp.example", "bob@corp.example"] {
        ensure!(folder_of(&dovecot, user, 1)? == vec!["Quarantine".to_owned()], "{user}: {:?}", dovecot.folders(user)?);
    }
    let trace = p.traces("remediate-1@vendor.example")?.remove(0);
    ensure!(trace["actions"] == serde_json::json!(["quarantine"]), "{trace}");

    // The same request again (as a redelivery would bring it): nothing is moved twice.
    let requests = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?;
    let request = requests
        .iter()
        .find(|m| m.subject == "mail.remediation.default" && is_request(&m.payload))
        .context("the request")?;
    testkit::jetstream::publish(&p.nats.url(), &request.subject, &[("Nats-Msg-Id", "a-repeat")], &request.payload)?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(outcomes(&p, 1)?.len() == 2, "no new outcome: {:?}", outcomes(&p, 1)?);
    ensure!(folder_of(&dovecot, "alice@corp.example", 1)? == vec!["Quarantine".to_owned()]);

    // With the IMAP server down, the remediator retries; once it is back, it succeeds.
    dovecot.stop()?;
    cli(
        &p,
        "projector",
        &["reclassify", "--message-id", "remediate-2@vendor.example", "--disposition", "SPAM", "--type", "team"],
    )?;
    std::thread::sleep(Duration::from_secs(2));
    ensure!(outcomes(&p, 2)?.is_empty(), "nothing recorded while the server is down");
    dovecot.restart()?;
    let moved = wait_for_outcomes(&p, 2, 1, || remediator.log())?;
    ensure!(moved[0].starts_with("move_to_junk DONE"), "{moved:?}");
    ensure!(folder_of(&dovecot, "carol@corp.example", 2)? == vec!["Junk".to_owned()]);
    ensure!(remediator.log().contains("retrying later"), "the retries are logged");

    // Not in the mailbox: NOT_FOUND, recorded.
    team_says_malicious(&p, 3)?;
    let not_found = wait_for_outcomes(&p, 3, 1, || remediator.log())?;
    ensure!(not_found[0].starts_with("quarantine NOT_FOUND"), "{not_found:?}");

    // Already where the action puts it (a remediator killed after its MOVE and before it
    // recorded the outcome is redelivered the request): DONE, not NOT_FOUND.
    let sixth = message(6, USERS[0], USERS[0]);
    let o = send_with_smtplib(p.smtp, &[Outgoing::to_journal("billing@vendor.example", sixth.clone())])?;
    ensure!(o[0].code == 250, "{o:?}");
    dovecot.deliver_to(USERS[0], "Quarantine", &sixth)?;
    testkit::eventually(Duration::from_secs(30), "message 6 scored", || {
        Ok(p.traces("remediate-6@vendor.example")?.first().filter(|t| !t["disposition"].is_null()).map(|_| ()))
    })?;
    team_says_malicious(&p, 6)?;
    let already = wait_for_outcomes(&p, 6, 1, || remediator.log())?;
    ensure!(already[0].starts_with("quarantine DONE") && already[0].contains("already in Quarantine"), "{already:?}");
    ensure!(folder_of(&dovecot, USERS[0], 6)? == vec!["Quarantine".to_owned()]);

    // A mailbox the server refuses: FAILED with the reason, not retried for ever.
    team_says_malicious(&p, 5)?;
    let failed = &wait_for_outcomes(&p, 5, 1, || remediator.log())?[0];
    ensure!(
        failed.starts_with("quarantine FAILED") && failed.contains("login as dave@corp.example*postern refused"),
        "{failed}"
    );

    // A request to delete carol's copy of message 2, under tenant acme but on default's subject
    // (as a process allowed to publish there could): the remediator moves nothing and files
    // it as a dead letter.
    let tenant = proto::TenantId::new("acme")?;
    let forged_envelope = proto::Envelope {
        event_id: ulid::Ulid::new(),
        event_type: proto::EventType::RemediationRequested,
        schema: proto::EventType::RemediationRequested.current_schema(),
        postern_id: proto::PosternId::from_message_id(&tenant, "remediate-2@vendor.example"),
        tenant,
        causation_id: None,
        occurred_at: proto::Timestamp::now(),
        producer: "intruder/1".into(),
    };
    let forged = proto::Event::RemediationRequested(proto::RemediationRequested {
        remediation_id: "forged-1".into(),
        message_id: "<remediate-2@vendor.example>".into(),
        action: proto::RemediationAction::HardDelete,
        mailboxes: vec!["carol@corp.example".into()],
        reason: "forged".into(),
        requested_by: None,
        client_addr: None,
    });
    let id = forged_envelope.event_id.to_string();
    let payload = proto::encode(&forged_envelope, &forged);
    let before = folder_of(&dovecot, "carol@corp.example", 2)?;
    testkit::jetstream::publish(&p.nats.url(), "mail.remediation.default", &[("Nats-Msg-Id", &id)], &payload)?;
    testkit::eventually(Duration::from_secs(30), "the remediator passes over the forged request", || {
        Ok(remediator.log().contains("remediation event not acted on").then_some(()))
    })
    .with_context(|| remediator.log())?;
    ensure!(remediator.log().contains("published on mail.remediation.default"), "{}", remediator.log());
    ensure!(folder_of(&dovecot, "carol@corp.example", 2)? == before, "carol's copy was touched: {before:?} before");
    let dead = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?
        .into_iter()
        .filter(|m| m.subject == "mail.deadletter.default" && m.payload == payload)
        .count();
    ensure!(dead == 1, "{dead} dead letters of the forged request");

    // A request of a tenant this remediator has no credentials for (properly on acme's
    // subject): each mailbox FAILED with the reason; no other tenant's login is tried.
    let acme = proto::TenantId::new("acme")?;
    let acme_envelope = proto::Envelope {
        event_id: ulid::Ulid::new(),
        tenant: acme.clone(),
        postern_id: proto::PosternId::from_message_id(&acme, "remediate-2@vendor.example"),
        ..forged_envelope.clone()
    };
    let acme_request = proto::Event::RemediationRequested(proto::RemediationRequested {
        remediation_id: "acme-1".into(),
        message_id: "<remediate-2@vendor.example>".into(),
        action: proto::RemediationAction::MoveToJunk,
        mailboxes: vec!["carol@corp.example".into()],
        reason: "final disposition SPAM".into(),
        requested_by: None,
        client_addr: None,
    });
    let id = acme_envelope.event_id.to_string();
    let payload = proto::encode(&acme_envelope, &acme_request);
    testkit::jetstream::publish(&p.nats.url(), "mail.remediation.acme", &[("Nats-Msg-Id", &id)], &payload)?;
    let outcome = testkit::eventually(Duration::from_secs(30), "acme's request has an outcome", || {
        let found =
            testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?.into_iter().find_map(
                |m| match proto::decode(&m.payload) {
                    Ok((e, proto::Event::RemediationCompleted(c)))
                        if e.tenant == acme && c.remediation_id == "acme-1" =>
                    {
                        Some(c)
                    }
                    _ => None,
                },
            );
        Ok(found)
    })
    .with_context(|| remediator.log())?;
    ensure!(outcome.outcome == proto::RemediationOutcome::Failed, "{outcome:?}");
    ensure!(outcome.detail.contains("no mailbox credentials for tenant acme"), "{outcome:?}");
    ensure!(folder_of(&dovecot, "carol@corp.example", 2)? == before, "carol's copy was touched");

    // A tenant that wants a second analyst for team submissions too.
    std::fs::write(&policy, "review_team_submissions = true\n[actions]\nMALICIOUS = \"quarantine\"\n")?;
    cli(&p, "scorer", &["policy", "set", "--tenant", "default", policy.to_str().unwrap()])?;
    let answer = team_says_malicious(&p, 2)?;
    ensure!(answer["status"] == "PENDING" && answer["remediation"].is_null(), "{answer}");

    // The team withdraws its verdict on message 1: the answer offers the release.
    let withdrawn: serde_json::Value =
        serde_json::from_str(&cli(&p, "projector", &["resolve", &submission_1, "--outcome", "withdraw", "--json"])?)?;
    ensure!(withdrawn["status"] == "WITHDRAWN" && withdrawn["release"]["available"] == true, "{withdrawn}");
    // An admin releases message 1: both copies go back to INBOX, once each, with their
    // flags, and the trace shows the release and each mailbox's outcome.
    let released: serde_json::Value = serde_json::from_str(&cli(
        &p,
        "projector",
        &["release", "--message-id", "remediate-1@vendor.example", "--json"],
    )?)?;
    ensure!(released["action"] == "restore", "{released}");
    ensure!(released["mailboxes"] == serde_json::json!(["alice@corp.example", "bob@corp.example"]), "{released}");
    let results = wait_for_outcomes(&p, 1, 4, || format!("{}\n{}", remediator.log(), dovecot.log()))?;
    let restored: Vec<&String> = results.iter().filter(|s| s.starts_with("restore DONE")).collect();
    ensure!(restored.len() == 2 && restored.iter().all(|s| s.contains("from Quarantine")), "{results:?}");
    for user in ["alice@corp.example", "bob@corp.example"] {
        let copies: usize = dovecot
            .folders(user)?
            .iter()
            .map(|(_, ids)| ids.iter().filter(|id| *id == "<remediate-1@vendor.example>").count())
            .sum();
        ensure!(
            folder_of(&dovecot, user, 1)? == vec!["INBOX".to_owned()] && copies == 1,
            "{user}: {:?}",
            dovecot.folders(user)?
        );
    }
    let flags = dovecot.flags("alice@corp.example", "INBOX", "<remediate-1@vendor.example>")?;
    ensure!(flags.len() == 1 && flags[0].contains(&"\\Flagged".to_owned()), "{flags:?}");
    let trace = p.traces("remediate-1@vendor.example")?.remove(0);
    ensure!(trace.to_string().contains("restore in 2 mailbox(es): released by"), "{trace}");
    // The audit trail lists the release: who, and the address the request came from.
    let audit: serde_json::Value = serde_json::from_str(&cli(&p, "projector", &["audit", "--json"])?)?;
    let release = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["kind"] == "release_requested")
        .with_context(|| format!("no release in the audit trail: {audit}"))?;
    ensure!(
        release["who"] == "api"
            && release["from"].as_str().is_some_and(|f| f.starts_with("127.0.0.1:"))
            && release["what"].as_str().is_some_and(|w| w.contains("in 2 mailbox(es)")),
        "{release}"
    );
    // Nothing moved since: a second release is refused, saying why.
    let again = p.cli("projector", &["release", "--message-id", "remediate-1@vendor.example"])?;
    ensure!(!again.success && again.stderr.contains("already released"), "{again:?}");
    Ok(())
}

fn is_request(payload: &[u8]) -> bool {
    matches!(proto::decode(payload), Ok((_, proto::Event::RemediationRequested(_))))
}

#[test]
fn remediation_moves_messages_out_of_real_imap_mailboxes() -> Result<()> {
    remediate(true)
}

#[test]
fn without_move_the_remediator_copies_deletes_and_expunges() -> Result<()> {
    remediate(false)
}
