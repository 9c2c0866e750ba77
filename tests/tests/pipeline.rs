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
                data: message(
                    &id,
                    "Shop News <news@shop.example>",
                    "user@corp.example",
                    &format!("Sale {i}"),
                    "List-Unsubscribe: <mailto:unsubscribe@shop.example>\r\n",
                ),
            },
            "BULK",
        ),
        // The From name shows a bank's address, the mail is from somebody else: SPOOF.
        7 => (
            Outgoing {
                mail_from: format!("x{i}@attacker.example"),
                rcpt_to: vec![JOURNAL.into()],
                data: message(
                    &id,
                    &format!("\"ceo@bank.example\" <x{i}@attacker.example>"),
                    "user@corp.example",
                    &format!("Urgent {i}"),
                    "",
                ),
            },
            "SPOOF",
        ),
        _ => (
            Outgoing {
                mail_from: format!("sender{i}@mail.example.com"),
                rcpt_to: vec![JOURNAL.into()],
                data: message(
                    &id,
                    &format!("Sender {i} <sender{i}@example.com>"),
                    "user@corp.example",
                    &format!("Hello {i}"),
                    "",
                ),
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
        ensure!(
            t["disposition"] == expected,
            "message {id}: disposition {} (expected {expected}); {t}",
            t["disposition"]
        );
        ensure!(t["events"].as_array().map(Vec::len) == Some(2), "message {id}: events {}", t["events"]);
        ensure!(t["recipients"] == serde_json::json!(["user@corp.example"]), "message {id}: {}", t["recipients"]);
    }
    Ok(())
}

/// Each stream holds exactly `n` events (sequences 1..=n), all folded by the projector.
fn assert_stream_sizes(p: &Pipeline, n: u64) -> Result<()> {
    for stream in ["MAIL_RAW", "MAIL_EVENTS"] {
        let counts = testkit::jetstream::stream_counts(&p.nats.url(), stream)?;
        ensure!(counts == (n, n), "{stream} holds {} messages up to sequence {}, expected {n}", counts.0, counts.1);
    }
    ensure!(p.checkpoints()? == (n, n), "projector checkpoints {:?}", p.checkpoints()?);
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

    // Once more, killed while it is likely still folding a burst.
    send_range(&p, 250..300, None)?;
    p.projector.kill()?;
    p.projector_restart()?;
    p.wait_for_checkpoints(300, 300, Duration::from_secs(60))?;
    assert_views(&p, 300)?;

    // Exactly 300 raw events and 300 dispositions: nothing was stored twice.
    assert_stream_sizes(&p, 300)?;
    Ok(())
}

#[test]
fn garbage_on_mail_raw_is_dead_lettered_and_scoring_goes_on() -> Result<()> {
    use testkit::jetstream::{publish, read_stream};
    let p = Pipeline::start()?;
    // Something that is not a Postern event, straight into the raw stream.
    publish(&p.nats.url(), "mail.raw.default", &[("Nats-Msg-Id", "garbage-1")], b"\x00not an event\xff")?;
    send_range(&p, 0..3, None)?;
    p.wait_for_checkpoints(4, 4, Duration::from_secs(60))?;
    assert_views(&p, 3)?;

    let events = read_stream(&p.nats.url(), "MAIL_EVENTS")?;
    let dead: Vec<_> = events.iter().filter(|m| m.subject == "mail.deadletter.default").collect();
    ensure!(dead.len() == 1, "dead letters: {dead:?}");
    ensure!(dead[0].payload == b"\x00not an event\xff", "the dead letter keeps the input as it was");
    let reason = dead[0].headers.iter().find(|(k, _)| k == "Postern-Dead-Letter-Reason").map(|(_, v)| v.clone());
    ensure!(reason.as_deref().is_some_and(|r| r.contains("undecodable")), "reason: {reason:?}");
    let dispositions = events.iter().filter(|m| m.subject == "mail.disposition.default").count();
    ensure!(dispositions == 3, "{dispositions} dispositions");
    Ok(())
}

#[test]
fn ingest_answers_451_while_jetstream_is_down_and_recovers() -> Result<()> {
    let mut p = Pipeline::start()?;
    send_range(&p, 0..2, None)?;

    p.nats.stop()?;
    let refused = send_with_smtplib(p.smtp, &[nth_message(2).0])?;
    ensure!(refused[0].code == 451, "with JetStream down: {:?}", refused[0]);
    ensure!(p.ingest.is_running(), "ingest must keep running:\n{}", p.logs());

    p.nats.restart()?;
    // The sender retries, as an MTA would after a 451, until the client has reconnected.
    testkit::eventually(Duration::from_secs(30), "a retried delivery is accepted", || {
        let outcome = send_with_smtplib(p.smtp, &[nth_message(2).0])?;
        Ok((outcome[0].code == 250).then_some(()))
    })?;
    send_range(&p, 3..5, None)?;
    p.wait_for_checkpoints(5, 5, Duration::from_secs(60))?;
    assert_views(&p, 5)?;
    // The refused attempt left nothing behind: five messages, five raw events.
    assert_stream_sizes(&p, 5)?;
    Ok(())
}

/// NATS away for longer than `not_ready_after`: a new session is answered 421 at once (the
/// sender does not transfer a message that cannot be stored), ingest's /ready says why, and
/// once NATS is back the greeting is 220 and mail is taken again.
#[test]
fn a_new_session_gets_421_while_nats_stays_away_and_220_when_it_is_back() -> Result<()> {
    use testkit::raw_smtp::RawSmtp;
    let mut p = Pipeline::start_with("not_ready_after = \"1s\"\n")?;
    let ops = p.ingest.ops.expect("ingest serves /ready");
    send_range(&p, 0..1, None)?;
    p.nats.stop()?;
    let greeting = testkit::eventually(Duration::from_secs(20), "a new session is answered 421", || {
        let mut session = RawSmtp::connect(p.smtp)?;
        let greeting = session.reply()?;
        Ok((greeting.code == 421).then_some(greeting))
    })?;
    ensure!(greeting.text().contains("4.3.0") && greeting.text().contains("try again later"), "{}", greeting.text());
    let ready = testkit::http::request(ops, "GET", "/ready", None, None)?;
    ensure!(ready.status == 503 && ready.json()?["reason"] == "not connected to NATS", "{:?}", ready.json());
    ensure!(p.ingest.is_running(), "ingest must keep running:\n{}", p.logs());

    p.nats.restart()?;
    testkit::eventually(Duration::from_secs(30), "the greeting is 220 again", || {
        let mut session = RawSmtp::connect(p.smtp)?;
        Ok((session.reply()?.code == 220).then_some(()))
    })?;
    send_range(&p, 1..3, None)?;
    p.wait_for_checkpoints(3, 3, Duration::from_secs(60))?;
    assert_views(&p, 3)?;
    Ok(())
}

#[test]
fn a_jetstream_outage_under_smtp_source_load_loses_and_repeats_nothing() -> Result<()> {
    use testkit::nats::{Durability, NatsServer};
    use testkit::smtp::run_smtp_source;
    // In durable mode (`just up`'s default): every 250 was fsynced before it was given.
    let mut p = Pipeline::start_on(NatsServer::start_with(Durability::Durable)?, "", "")?;
    let smtp = p.smtp;
    let load = std::thread::spawn(move || {
        run_smtp_source(smtp, &["-s", "4", "-m", "2000", "-l", "20000", "-d", "-f", "load@example.com", "-t", JOURNAL])
    });
    // Let some mail through, then take JetStream away for a few seconds.
    testkit::eventually(Duration::from_secs(30), "the first messages are stored", || {
        Ok((testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_RAW")?.0 >= 10).then_some(()))
    })?;
    p.nats.stop()?;
    std::thread::sleep(Duration::from_secs(3));
    p.nats.restart()?;
    let run = load.join().expect("smtp-source thread")?;

    ensure!(
        run.accepted.len() + run.refused.len() == 2000 && run.other_errors.is_empty(),
        "{} accepted + {} refused != 2000; other errors: {:?}",
        run.accepted.len(),
        run.refused.len(),
        &run.other_errors[..run.other_errors.len().min(5)]
    );
    ensure!(!run.refused.is_empty(), "the outage was not hit: every message was accepted");
    ensure!(
        run.refused.iter().all(|r| r.starts_with("451 4.3.0")),
        "refusals must be temporary: {:?}",
        &run.refused[..3.min(run.refused.len())]
    );

    // Once JetStream is back, ingest takes mail again without a restart of its own.
    testkit::eventually(Duration::from_secs(30), "ingest accepts mail again", || {
        let probe = send_with_smtplib(p.smtp, &[nth_message(0).0])?;
        Ok((probe[0].code == 250).then_some(()))
    })?;
    let after = run_smtp_source(
        p.smtp,
        &["-s", "4", "-m", "300", "-l", "20000", "-d", "-f", "load@example.com", "-t", JOURNAL],
    )?;
    ensure!(
        after.accepted.len() == 300 && after.refused.is_empty(),
        "after recovery: {} accepted, {:?}",
        after.accepted.len(),
        after.refused.first()
    );
    let mut run = run;
    run.accepted.extend(after.accepted);

    // Every message answered 250 is in MAIL_RAW exactly once.
    let stored = testkit::jetstream::stored_per_message(&p.nats.url(), "MAIL_RAW")?;
    for id in &run.accepted {
        ensure!(stored.get(id) == Some(&1), "message {id} answered 250 is stored {:?} times", stored.get(id));
    }
    // Nothing else is stored twice either (a refused message may be stored once: its ack
    // was lost with the server; the sender's retry would then be dropped as a duplicate).
    ensure!(stored.values().all(|&n| n == 1), "a message is stored twice");
    eprintln!(
        "smtp-source: {} accepted (300 after recovery), {} refused with 451; MAIL_RAW holds {}",
        run.accepted.len(),
        run.refused.len(),
        stored.values().sum::<usize>()
    );
    Ok(())
}
