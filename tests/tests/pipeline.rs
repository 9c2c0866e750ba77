//! The spine, end to end: SMTP in (smtplib and swaks), JetStream, scorer, RocksDB views
//! out, and a projector crash in the middle that must neither lose nor repeat anything.

use anyhow::{Result, ensure};
use std::time::Duration;
use testkit::pipeline::{JOURNAL, Pipeline};
use testkit::smtp::{Outgoing, message, send_with_smtplib, send_with_swaks};

/// Message `i` of the test, and the disposition the scorer must give it.
fn nth_message(i: usize) -> (Outgoing, &'static str) {
    let id = format!("e2e-{i}@test.example");
    match i % 10 {
        // A newsletter: BULK.
        3 => (
            Outgoing {
                mail_from: format!("bounces+{i}@news.shop.example"),
                rcpt_to: vec![JOURNAL.into()],
                data: message(&id, "Shop News <news@shop.example>", "user@corp.example", &format!("Sale {i}"),
                    "List-Unsubscribe: <mailto:unsubscribe@shop.example>\r\n"),
            },
            "BULK",
        ),
        // Header From of a bank, envelope of somebody else, no DKIM: SPOOF.
        7 => (
            Outgoing {
                mail_from: format!("x{i}@attacker.example"),
                rcpt_to: vec![JOURNAL.into()],
                data: message(&id, "Bank <ceo@bank.example>", "user@corp.example", &format!("Urgent {i}"), ""),
            },
            "SPOOF",
        ),
        _ => (
            Outgoing {
                mail_from: format!("sender{i}@mail.example.com"),
                rcpt_to: vec![JOURNAL.into()],
                data: message(&id, &format!("Sender {i} <sender{i}@example.com>"), "user@corp.example",
                    &format!("Hello {i}"), ""),
            },
            "NONE",
        ),
    }
}

fn send_range(p: &Pipeline, range: std::ops::Range<usize>, swaks_index: Option<usize>) -> Result<()> {
    let batch: Vec<Outgoing> = range.clone().filter(|i| Some(*i) != swaks_index).map(|i| nth_message(i).0).collect();
    let outcomes = send_with_smtplib(p.smtp, &batch)?;
    ensure!(outcomes.len() == batch.len(), "smtplib reported {} outcomes for {}", outcomes.len(), batch.len());
    for (n, o) in outcomes.iter().enumerate() {
        ensure!(o.code == 250, "message {n} got {} {}\n{}", o.code, o.text, p.logs());
    }
    if let Some(i) = swaks_index {
        let transcript = send_with_swaks(p.smtp, &nth_message(i).0, &[])?;
        ensure!(transcript.contains("<-  250 2.0.0 OK: queued as "), "swaks transcript:\n{transcript}");
    }
    Ok(())
}

/// Every message 0..n has exactly one record, one copy, its expected disposition, and
/// exactly two events in its trace (received, scored).
fn assert_views(p: &Pipeline, n: usize) -> Result<()> {
    for i in 0..n {
        let (_, expected) = nth_message(i);
        let id = format!("e2e-{i}@test.example");
        let traces = p.traces(&id)?;
        ensure!(traces.len() == 1, "message {id}: {} records", traces.len());
        let t = &traces[0];
        ensure!(t["copies"] == 1, "message {id}: {} copies", t["copies"]);
        ensure!(t["disposition"] == expected, "message {id}: disposition {} (expected {expected}); {t}", t["disposition"]);
        ensure!(t["events"].as_array().map(Vec::len) == Some(2), "message {id}: events {}", t["events"]);
        ensure!(t["recipients"] == serde_json::json!(["user@corp.example"]), "message {id}: {}", t["recipients"]);
    }
    Ok(())
}

#[test]
fn messages_flow_through_and_survive_a_projector_crash() -> Result<()> {
    let mut p = Pipeline::start()?;

    send_range(&p, 0..200, Some(42))?;
    p.wait_for_checkpoints(200, 200, Duration::from_secs(60))?;
    assert_views(&p, 200)?;

    // Kill the projector outright (no shutdown), keep the mail coming, bring it back.
    p.projector.kill()?;
    send_range(&p, 200..250, None)?;
    p.projector_restart()?;
    p.wait_for_checkpoints(250, 250, Duration::from_secs(60))?;
    assert_views(&p, 250)?;

    // Exactly 250 raw events and 250 dispositions: nothing was stored twice.
    let (raw, events) = p.checkpoints()?;
    ensure!((raw, events) == (250, 250), "streams hold ({raw}, {events}) events, expected (250, 250)");
    Ok(())
}
