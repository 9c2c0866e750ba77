//! Three scorer processes share the durable consumer under smtp-source load; one is killed
//! with kill -9 once scoring is under way, while messages it pulled may still be unacked.
//! Every accepted message gets exactly one disposition event and one record with a
//! disposition in the views: what the dead scorer held is redelivered after `ack_wait` and
//! scored by the others, and a second publish of a disposition (same `Nats-Msg-Id`) is
//! dropped by JetStream.

use anyhow::{Context, Result, ensure};
use std::collections::HashMap;
use std::time::Duration;
use testkit::jetstream::{postern_id_of, read_stream, stream_counts};
use testkit::pipeline::{JOURNAL, Pipeline};
use testkit::process::Service;
use testkit::smtp::run_smtp_source;

const MESSAGES: usize = 600;

#[test]
fn three_scorers_with_one_killed_mid_batch_score_every_message_exactly_once() -> Result<()> {
    let p = Pipeline::start()?;
    let config = p.dir.path().join("scorer.toml").display().to_string();
    let mut second = Service::start("scorer-2", "scorer", &["--config", &config, "run"], p.dir.path())?;
    let mut third = Service::start("scorer-3", "scorer", &["--config", &config, "run"], p.dir.path())?;

    let smtp = p.smtp;
    let load = std::thread::spawn(move || {
        run_smtp_source(
            smtp,
            &["-s", "4", "-m", &MESSAGES.to_string(), "-l", "5000", "-d", "-f", "load@example.com", "-t", JOURNAL],
        )
    });
    // Once scoring is under way (and the load still running), kill one of the three.
    testkit::eventually(Duration::from_secs(60), "the first dispositions", || {
        Ok((stream_counts(&p.nats.url(), "MAIL_EVENTS")?.0 >= 40).then_some(()))
    })
    .with_context(|| p.logs())?;
    second.kill()?;
    let run = load.join().expect("smtp-source thread")?;
    ensure!(
        run.accepted.len() == MESSAGES && run.refused.is_empty() && run.other_errors.is_empty(),
        "{} accepted, refused {:?}, errors {:?}",
        run.accepted.len(),
        run.refused.first(),
        run.other_errors.first()
    );

    // Redelivery after ack_wait (10 s in the pipeline's config) finishes what the dead held.
    let events = testkit::eventually(Duration::from_secs(120), "a disposition for every accepted message", || {
        let events = read_stream(&p.nats.url(), "MAIL_EVENTS")?;
        let dispositions = events.iter().filter(|m| m.subject.starts_with("mail.disposition.")).count();
        Ok((dispositions >= MESSAGES).then_some(events))
    })
    .with_context(|| format!("{}\n--- scorer-2\n{}\n--- scorer-3\n{}", p.logs(), second.log(), third.log()))?;
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for m in events.iter().filter(|m| m.subject.starts_with("mail.disposition.")) {
        let (_, id) = postern_id_of(&m.payload).context("a disposition that is not a Postern event")?;
        *per_message.entry(id).or_default() += 1;
    }
    for id in &run.accepted {
        ensure!(per_message.get(id) == Some(&1), "message {id}: {:?} dispositions", per_message.get(id));
    }
    ensure!(per_message.len() == MESSAGES, "{} messages have dispositions", per_message.len());

    // The views: one record per message, each with its disposition.
    let raw_seq = stream_counts(&p.nats.url(), "MAIL_RAW")?.1;
    let events_seq = stream_counts(&p.nats.url(), "MAIL_EVENTS")?.1;
    p.wait_for_checkpoints(raw_seq, events_seq, Duration::from_secs(60))?;
    for id in run.accepted.iter().step_by(37) {
        let (status, record) = testkit::http::get_json(p.http, &format!("/api/v1/messages/{id}"))?;
        ensure!(status == 200 && !record["disposition"].is_null(), "message {id}: {status} {record}");
    }
    ensure!(third.is_running(), "the third scorer must still run:\n{}", third.log());
    Ok(())
}
