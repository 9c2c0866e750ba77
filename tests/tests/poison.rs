//! Poison messages, planted with the failpoints of test builds (`failpoints = true` in the
//! scorer's config; a release build refuses it): one whose scoring panics, one that aborts
//! the scorer process (as a stack overflow in a parser would). Around them, ordinary mail.
//! The panicking one is tried again and dead-lettered with the panic as its reason, and the
//! scorer never stops; the aborting one kills the scorer on each delivery until its last,
//! which dead-letters it without scoring (the test restarts the scorer as a supervisor
//! would). The dead-letter subject holds exactly those two, each with its reason; every
//! ordinary message is scored.

use anyhow::{Context, Result, ensure};
use std::time::{Duration, Instant};
use testkit::jetstream::{Stored, postern_id_of, read_stream};
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, message, send_with_smtplib};

const MAX_DELIVER: usize = 3;

/// Sends one message; returns its Postern id, as the projector shows it.
fn send(p: &Pipeline, id: &str, extra_headers: &str) -> Result<String> {
    let from = "sender@poison.example";
    let sent = send_with_smtplib(
        p.smtp,
        &[Outgoing::to_journal(from, message(id, from, "user@corp.example", "poison test", extra_headers))],
    )?;
    ensure!(sent[0].code == 250, "{id}: {:?}", sent[0]);
    testkit::eventually(Duration::from_secs(30), &format!("{id} is in the views"), || {
        Ok(p.traces(id)?.first().and_then(|t| t["postern_id"].as_str().map(str::to_owned)))
    })
    .with_context(|| p.logs())
}

fn dead_letters(p: &Pipeline) -> Result<Vec<Stored>> {
    Ok(read_stream(&p.nats.url(), "MAIL_EVENTS")?
        .into_iter()
        .filter(|m| m.subject.starts_with("mail.deadletter."))
        .collect())
}

fn reason(letter: &Stored) -> String {
    letter.headers.iter().find(|(k, _)| k == "Postern-Dead-Letter-Reason").map(|(_, v)| v.clone()).unwrap_or_default()
}

fn scored(p: &Pipeline, message_id: &str) -> Result<()> {
    testkit::eventually(Duration::from_secs(60), &format!("{message_id} is scored"), || {
        Ok(p.traces(message_id)?.into_iter().next().filter(|t| !t["disposition"].is_null()).map(|_| ()))
    })
    .with_context(|| p.logs())
}

#[test]
fn poison_messages_are_dead_lettered_with_their_reasons_and_scoring_goes_on() -> Result<()> {
    // One scoring thread: a panic that kept its slot would stop every later message.
    let mut p = Pipeline::start_with_scorer_config(&format!(
        "ack_wait = \"3s\"\nmax_deliver = {MAX_DELIVER}\nfailpoints = true\nscoring_threads = 1\n"
    ))?;
    for i in 0..5 {
        send(&p, &format!("before-{i}@poison.example"), "")?;
    }
    for i in 0..5 {
        scored(&p, &format!("before-{i}@poison.example"))?;
    }

    // Scoring panics: caught, tried again, dead-lettered before the last delivery.
    let panicking = send(&p, "panics@poison.example", "X-Postern-Failpoint: score-panic\r\n")?;
    testkit::eventually(Duration::from_secs(60), "the panicking message is dead-lettered", || {
        Ok((dead_letters(&p)?.len() == 1).then_some(()))
    })
    .with_context(|| p.logs())?;
    ensure!(p.scorer.is_running(), "a panic must not stop the scorer:\n{}", p.scorer.log());

    // Scoring aborts the process: the test restarts it, as systemd or `just up` would.
    let aborting = send(&p, "aborts@poison.example", "X-Postern-Failpoint: score-abort\r\n")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut restarts = 0;
    while dead_letters(&p)?.len() < 2 {
        ensure!(Instant::now() < deadline, "the aborting message was not dead-lettered in time\n{}", p.logs());
        if !p.scorer.is_running() {
            p.scorer.restart()?;
            restarts += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    ensure!(p.scorer.is_running(), "the scorer runs after the dead letter");

    for i in 0..5 {
        send(&p, &format!("after-{i}@poison.example"), "")?;
    }
    for i in 0..5 {
        scored(&p, &format!("after-{i}@poison.example"))?;
    }

    let letters = dead_letters(&p)?;
    ensure!(letters.len() == 2, "dead letters: exactly the two planted, not {}", letters.len());
    let of = |id: &str| letters.iter().find(|l| postern_id_of(&l.payload).is_some_and(|(_, pid)| pid == id));
    let panic_letter = of(&panicking).context("the panicking message's dead letter")?;
    let abort_letter = of(&aborting).context("the aborting message's dead letter")?;
    ensure!(
        reason(panic_letter).contains("scoring panicked on 2 deliveries: failpoint score-panic"),
        "reason: {}",
        reason(panic_letter)
    );
    ensure!(reason(abort_letter).contains("delivered 3 times and never scored"), "reason: {}", reason(abort_letter));
    // The process died on each delivery but the last.
    ensure!(restarts == MAX_DELIVER - 1, "the scorer was restarted {restarts} times\n{}", p.scorer.log());
    for id in ["panics@poison.example", "aborts@poison.example"] {
        let traces = p.traces(id)?;
        ensure!(traces.len() == 1 && traces[0]["disposition"].is_null(), "{id}: {traces:?}");
    }
    Ok(())
}
