//! JetStream's store full: when the server's `max_file_store` is reached, ingest answers 451
//! (the sender keeps the message and retries) and logs why, and no process stops. When the operator gives the store room again (a config reload, no
//! restart of anything), the retried mail is accepted, and every message that ever got a 250
//! ends up in the views with a disposition.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::nats::NatsServer;
use testkit::pipeline::Pipeline;
use testkit::smtp::{Outgoing, message, send_with_smtplib};

/// A message of about 40 KB, so that a small store fills within a few dozen.
fn sized(i: usize) -> (String, Outgoing) {
    let id = format!("store-full-{i}@test.example");
    let mut data = message(&id, "sender@test.example", "user@corp.example", &format!("report {i}"), "");
    for line in 0..500 {
        data.extend_from_slice(
            format!("line {line} of the quarterly figures, padded to a realistic size.....\r\n").as_bytes(),
        );
    }
    (id, Outgoing::to_journal("sender@test.example", data))
}

#[test]
fn a_full_store_gets_451_and_nothing_accepted_is_lost_when_room_returns() -> Result<()> {
    // Room for the streams and a few dozen messages.
    let p = Pipeline::start_on(NatsServer::start_with_file_store("3MB")?, "", "")?;
    let first: Vec<(String, Outgoing)> = (0..3).map(sized).collect();
    let outcomes = send_with_smtplib(p.smtp, &first.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>())?;
    ensure!(outcomes.iter().all(|o| o.code == 250), "before the limit: {outcomes:?}");

    let batch: Vec<(String, Outgoing)> = (3..120).map(sized).collect();
    let outcomes = send_with_smtplib(p.smtp, &batch.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>())?;
    let accepted: Vec<&String> =
        batch.iter().zip(&outcomes).filter(|(_, o)| o.code == 250).map(|((id, _), _)| id).collect();
    let refused: Vec<&(String, Outgoing)> =
        batch.iter().zip(&outcomes).filter(|(_, o)| o.code != 250).map(|(m, _)| m).collect();
    ensure!(!refused.is_empty(), "the store never filled: {} accepted", accepted.len());
    ensure!(
        outcomes.iter().all(|o| o.code == 250 || (o.code == 451 && o.text.starts_with("4.3.0"))),
        "a full store must give temporary failures only: {:?}",
        outcomes.iter().find(|o| o.code != 250 && o.code != 451)
    );
    ensure!(p.ingest.log().contains("insufficient resources"), "ingest must log why it refused:\n{}", p.logs());

    // Room again (a reload, nothing restarted): the sender's retries are accepted.
    p.nats.set_max_file_store("8GB")?;
    for (id, m) in &refused {
        testkit::eventually(Duration::from_secs(30), &format!("the retry of {id} is accepted"), || {
            Ok((send_with_smtplib(p.smtp, std::slice::from_ref(m))?[0].code == 250).then_some(()))
        })
        .with_context(|| p.logs())?;
    }

    // Every message answered 250, before, during and after, is in the views with a
    // disposition (a disposition the full store could not take is published again when its
    // raw event is redelivered).
    let every: Vec<&String> = first
        .iter()
        .map(|(id, _)| id)
        .chain(accepted.iter().copied())
        .chain(refused.iter().map(|(id, _)| id))
        .collect();
    for id in &every {
        testkit::eventually(Duration::from_secs(90), &format!("{id} has a disposition"), || {
            Ok(p.traces(id)?.into_iter().next().filter(|t| !t["disposition"].is_null()))
        })
        .with_context(|| p.logs())?;
    }
    eprintln!(
        "store full: {} accepted while it filled, {} refused with 451 and accepted on retry, {} in the views",
        accepted.len(),
        refused.len(),
        every.len()
    );
    Ok(())
}
