//! Users report phish and spam by mail, through the real servers: ingest takes mail to the
//! tenant's submission addresses (`phish@corp.example`, `spam@corp.example`) from Python's
//! smtplib, built the way Outlook and Gmail forward a message (as an attachment, and
//! inline); the scorer passes over them; the projector finds each reported message among
//! the tenant's (by the attached copy's Message-ID, or by the inline block's sender and
//! subject) and records a USER reclassification requesting MALICIOUS (phish) or SPAM,
//! `requested_by` the user who forwarded it; a report of a message Postern never received
//! is kept and listed as unmatched, with the submission mail downloadable. With the
//! tenant's `phish_submission_response`, each phish report moves the reporter's own copy
//! at once.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::forwards;
use testkit::http::request;
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, send_with_smtplib};

const SUBMISSION_ADDRESSES: &str = "[submission_addresses.\"phish@corp.example\"]\ntenant = \"default\"\nkind = \"phish\"\n\
[submission_addresses.\"spam@corp.example\"]\ntenant = \"default\"\nkind = \"spam\"\n";

fn original(n: usize, from: &str, subject: &str) -> String {
    format!(
        "From: Sender <{from}>\r\nTo: bob@corp.example\r\nSubject: {subject}\r\nMessage-ID: <reported-{n}@sender.example>\r\n\
Date: Tue, 01 Dec 2026 09:00:00 +0000\r\n\r\nPlease act on this now, message {n}.\r\n"
    )
}

fn to(address: &str, mail: Vec<u8>) -> Outgoing {
    Outgoing { mail_from: "bob@corp.example".into(), rcpt_to: vec![address.into()], data: mail }
}

#[test]
fn users_report_by_mail_and_each_report_becomes_a_user_reclassification() -> Result<()> {
    let p = Pipeline::start_with(SUBMISSION_ADDRESSES)?;
    let bob = "Bob Example <bob@corp.example>";
    let messages = [
        (1, "service@paypa1-secure.example", "Your account is limited"),
        (2, "it@mailbox-upgrade.example", "Mailbox quota exceeded"),
        (3, "deals@watches.example", "Cheap watches"),
        (4, "payroll@hr-update.example", "Update your direct deposit"),
    ];
    for (n, from, subject) in messages {
        let sent = send_with_smtplib(p.smtp, &[Outgoing::to_journal(from, original(n, from, subject).into_bytes())])?;
        ensure!(sent[0].code == 250, "{sent:?}");
    }
    p.wait_for_checkpoints(4, 4, Duration::from_secs(60))?;
    // The tenant wants a phish report to move the reporter's own copy at once.
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "phish_submission_response = true\n[actions]\nMALICIOUS = \"quarantine\"\n")?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;

    let reports = vec![
        to(
            "phish@corp.example",
            forwards::outlook_as_attachment(
                bob,
                "phish@corp.example",
                messages[0].2,
                &original(1, messages[0].1, messages[0].2),
            ),
        ),
        to(
            "phish@corp.example",
            forwards::gmail_as_attachment(
                bob,
                "phish@corp.example",
                messages[1].2,
                &original(2, messages[1].1, messages[1].2),
            ),
        ),
        to("spam@corp.example", forwards::gmail_inline(bob, "spam@corp.example", messages[2].1, messages[2].2)),
        to("phish@corp.example", forwards::outlook_inline(bob, "phish@corp.example", messages[3].1, messages[3].2)),
        // The same report again, while the first is pending: refused, with the reason.
        to("spam@corp.example", forwards::gmail_inline(bob, "spam@corp.example", messages[2].1, messages[2].2)),
        // A message Postern never received.
        to(
            "phish@corp.example",
            forwards::outlook_as_attachment(
                bob,
                "phish@corp.example",
                "Never seen",
                &original(9, "x@nowhere.example", "Never seen"),
            ),
        ),
    ];
    for report in reports {
        let sent = send_with_smtplib(p.smtp, &[report])?;
        ensure!(sent[0].code == 250, "{sent:?}");
    }

    // Each matched report is a pending USER reclassification of the reported message.
    let pending = testkit::eventually(Duration::from_secs(30), "four USER reclassifications", || {
        let out = p.cli("projector", &["reclassifications", "--status", "pending", "--json"])?.ok()?;
        let list: serde_json::Value = serde_json::from_str(&out)?;
        let items = list["reclassifications"].as_array().cloned().unwrap_or_default();
        Ok((items.len() == 4).then_some(items))
    })
    .with_context(|| p.logs())?;
    for (n, _, _) in messages {
        let trace = p.traces(&format!("reported-{n}@sender.example"))?.into_iter().next().context("no trace")?;
        let postern_id = trace["postern_id"].as_str().context("postern id")?;
        let item = pending
            .iter()
            .find(|i| i["postern_id"] == postern_id)
            .with_context(|| format!("no reclassification of message {n}: {pending:?}"))?;
        let expected = if n == 3 { "SPAM" } else { "MALICIOUS" };
        ensure!(item["type"] == "USER" && item["requested"] == expected, "{item}");
        ensure!(item["requested_by"] == "bob@corp.example", "{item}");
        ensure!(item["comment"].as_str().is_some_and(|c| c.contains("reported by mail to")), "{item}");
    }

    // The submissions list: four matched, the repeat refused with the reason, the last
    // unmatched and kept.
    let (status, list) = testkit::http::get_json(p.http, "/api/v1/submissions")?;
    ensure!(status == 200, "{list}");
    let submissions = list["submissions"].as_array().context("submissions")?;
    ensure!(submissions.len() == 6, "{list}");
    let matched = submissions.iter().filter(|s| s["status"] == "matched").count();
    ensure!(matched == 4, "{list}");
    let refused = submissions.iter().find(|s| s["status"] == "refused").context("the refused repeat")?;
    ensure!(refused["reason"].as_str().is_some_and(|r| r.contains("is pending")), "{refused}");
    ensure!(refused["postern_id"].is_string() && refused["attached"] == false, "{refused}");
    let unmatched = submissions.iter().find(|s| s["status"] == "unmatched").context("the unmatched one")?;
    ensure!(
        unmatched["reported"]["message_id"] == "reported-9@sender.example" && unmatched["attached"] == true,
        "{unmatched}"
    );
    let attached: Vec<bool> = submissions.iter().map(|s| s["attached"] == true).collect();
    ensure!(attached.iter().filter(|a| **a).count() == 3, "three came as attachments: {list}");
    // The team can still look at what was reported.
    let raw = request(
        p.http,
        "GET",
        &format!("/api/v1/submissions/{}/raw", unmatched["submission_id"].as_str().unwrap_or_default()),
        None,
        None,
    )?;
    ensure!(raw.status == 200 && raw.header("content-type") == Some("message/rfc822"), "{}", raw.status);
    ensure!(String::from_utf8_lossy(&raw.body).contains("Message-ID: <reported-9@sender.example>"));
    let (_, only_unmatched) = testkit::http::get_json(p.http, "/api/v1/submissions?status=unmatched")?;
    ensure!(only_unmatched["submissions"].as_array().map(Vec::len) == Some(1), "{only_unmatched}");

    // The phish reports (not the spam one) moved the reporter's own copy at once.
    let events = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?;
    let responses: Vec<proto::RemediationRequested> = events
        .iter()
        .filter_map(|m| match proto::decode(&m.payload) {
            Ok((_, proto::Event::RemediationRequested(r))) => Some(r),
            _ => None,
        })
        .collect();
    ensure!(responses.len() == 3, "{responses:?}");
    for r in &responses {
        ensure!(r.mailboxes == vec!["bob@corp.example".to_owned()], "{r:?}");
        ensure!(
            r.action == proto::RemediationAction::Quarantine
                && r.reason.starts_with("reported as phish by bob@corp.example"),
            "{r:?}"
        );
    }
    let mut moved: Vec<&str> = responses.iter().map(|r| r.message_id.as_str()).collect();
    moved.sort();
    ensure!(
        moved == ["<reported-1@sender.example>", "<reported-2@sender.example>", "<reported-4@sender.example>"],
        "{moved:?}"
    );

    // The scorer passed over the submission mails: no dead letter, no disposition for them.
    let events = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?;
    ensure!(!events.iter().any(|m| m.subject.starts_with("mail.deadletter.")), "a submission was dead-lettered");
    let dispositions = events.iter().filter(|m| m.subject.starts_with("mail.disposition.")).count();
    ensure!(dispositions == 4, "{dispositions} dispositions: the four journal copies only");
    Ok(())
}
