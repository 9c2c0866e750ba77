//! What a reclassification causes is derived from the decision events by the projector's
//! reactor, on a durable consumer of its own, not by the HTTP handler: a training publish
//! that fails is retried until the label arrives (across a crash of the projector), the
//! remediation requested is the one the policy named when the decision was made, and a
//! relabel withdraws the first label before the second is taught. Through the real
//! servers; MAIL_TRAINING is read back with async-nats.

use anyhow::{Context, Result, ensure};
use proto::Event;
use std::time::Duration;
use testkit::pipeline::Pipeline;

fn message(i: usize, message_id: &str) -> Vec<u8> {
    format!(
        "From: Shipping <notice{i}@parcel-notice.example>\r\nTo: user@corp.example\r\nSubject: Parcel {i} on hold\r\n\
Message-ID: <{message_id}>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n\
Your parcel {i} is held at the depot. Pay the customs fee to release it.\r\n"
    )
    .into_bytes()
}

fn reclassify(p: &Pipeline, message_id: &str, disposition: &str) -> Result<serde_json::Value> {
    let args = ["reclassify", "--message-id", message_id, "--disposition", disposition, "--type", "team", "--json"];
    p.cli("projector", &args)?.json()
}

/// MAIL_TRAINING's events caused by these submissions ("teach LABEL", "withdraw LABEL"),
/// in stream order.
fn training_of(p: &Pipeline, submission_ids: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for stored in testkit::jetstream::read_stream(&p.nats.url(), "MAIL_TRAINING")? {
        let (_, event) = proto::decode(&stored.payload).context("a training event")?;
        let mentions = |text: &str| submission_ids.iter().any(|s| text.contains(s));
        match event {
            Event::MessageLabelled(l) if mentions(&l.source) => out.push(format!("teach {}", l.label.as_str())),
            Event::LabelWithdrawn(w) if mentions(&w.reason) => out.push(format!("withdraw {}", w.label.as_str())),
            _ => {}
        }
    }
    Ok(out)
}

#[test]
fn a_failed_training_publish_is_retried_until_the_label_arrives_even_across_a_crash() -> Result<()> {
    let mut p = Pipeline::start()?;
    // The tenant's policy when the decision is made: SPAM goes to the junk folder.
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "[actions]\nSPAM = \"move_to_junk\"\n")?;
    p.cli("scorer", &["policy", "set", "--tenant", "default", policy.to_str().context("path")?])?.ok()?;
    let scored = p.send_until("bounce@parcel-notice.example", 0, "NONE", message)?;
    let message_id = scored["message_id"].as_str().context("message id")?.to_owned();
    testkit::eventually(Duration::from_secs(30), "MAIL_TRAINING exists", || {
        Ok(testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_TRAINING").ok())
    })?;

    // MAIL_TRAINING refuses everything for a while: full (one byte, new messages discarded).
    testkit::jetstream::update_stream(&p.nats.url(), "MAIL_TRAINING", |c| {
        c.max_bytes = 1;
        c.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    })?;
    let answer = reclassify(&p, &message_id, "SPAM")?;
    ensure!(answer["status"] == "ACCEPTED" && answer["final_disposition"] == "SPAM", "{answer}");
    ensure!(answer["training"]["taught"] == false && answer["training"]["pending"] == true, "{answer}");
    let sid = answer["submission_id"].as_str().context("submission id")?.to_owned();
    ensure!(training_of(&p, &[&sid])?.is_empty(), "a full stream took a label");
    ensure!(answer["remediation"]["pending"] == true, "requested before the label was taught: {answer}");
    // The policy is gone before the reaction succeeds: the decision still carries its action.
    p.cli("scorer", &["policy", "delete", "--tenant", "default"])?.ok()?;

    // The projector crashes while the reaction is failing; the stream takes messages again;
    // a new projector process resumes the decision from its durable consumer.
    p.projector.kill()?;
    testkit::jetstream::update_stream(&p.nats.url(), "MAIL_TRAINING", |c| {
        c.max_bytes = -1;
        c.discard = async_nats::jetstream::stream::DiscardPolicy::Old;
    })?;
    p.projector_restart()?;
    let taught = testkit::eventually(Duration::from_secs(60), "the label arrives", || {
        let found = training_of(&p, &[&sid])?;
        Ok((!found.is_empty()).then_some(found))
    })
    .with_context(|| p.logs())?;
    ensure!(taught == ["teach spam"], "{taught:?}");
    // Once: nothing more comes for the same decision.
    std::thread::sleep(Duration::from_secs(2));
    ensure!(training_of(&p, &[&sid])? == ["teach spam"], "published twice");
    ensure!(p.projector.log().contains("reactions not published; retrying"), "{}", p.projector.log());
    let requested = testkit::eventually(Duration::from_secs(30), "the remediation is requested", || {
        let trace = p.traces(&message_id)?.into_iter().next().context("trace")?;
        let events = trace["events"].as_array().cloned().unwrap_or_default();
        Ok(events.into_iter().find(|e| e["event_type"] == "RemediationRequested"))
    })?;
    let summary = requested["summary"].as_str().unwrap_or_default();
    ensure!(summary.starts_with("move_to_junk in 1 mailbox(es)"), "{requested}");
    Ok(())
}

#[test]
fn a_relabel_to_spam_after_phish_withdraws_the_first_label() -> Result<()> {
    let mut p = Pipeline::start()?;
    let scored = p.send_until("bounce@parcel-notice.example", 0, "NONE", message)?;
    let message_id = scored["message_id"].as_str().context("message id")?.to_owned();

    let first = reclassify(&p, &message_id, "MALICIOUS")?;
    ensure!(
        first["training"]
            == serde_json::json!({"taught": true, "label": "phish", "withdrawn": false, "withdrew": null}),
        "{first}"
    );
    let second = reclassify(&p, &message_id, "SPAM")?;
    ensure!(
        second["training"]
            == serde_json::json!({"taught": true, "label": "spam", "withdrawn": false, "withdrew": "phish"}),
        "{second}"
    );
    let ids = [first["submission_id"].as_str().context("id")?, second["submission_id"].as_str().context("id")?];
    let expected = ["teach phish", "withdraw phish", "teach spam"];
    ensure!(training_of(&p, &ids)? == expected, "{:?}", training_of(&p, &ids)?);

    // A restarted projector folds on from its checkpoint and its reactor from its durable
    // consumer, where both decisions are acknowledged: nothing is published twice.
    let (before, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_TRAINING")?;
    p.projector_restart()?;
    std::thread::sleep(Duration::from_secs(2));
    let (after, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_TRAINING")?;
    ensure!(before == after, "MAIL_TRAINING went from {before} to {after} after a restart");
    ensure!(training_of(&p, &ids)? == expected);

    // A replay: the reactor's consumer is gone, so the restarted projector reacts to every
    // decision again from the first; the reactions carry the same ids (derived from the
    // decisions'), and JetStream's duplicate window stores none of them twice.
    p.projector.kill()?;
    testkit::jetstream::delete_consumer(&p.nats.url(), "MAIL_EVENTS", "projector-reactor")?;
    p.projector_restart()?;
    testkit::eventually(Duration::from_secs(30), "the reactor has read the decisions again", || {
        Ok((p.projector.log().matches("reacting to reclassification decisions").count() >= 3).then_some(()))
    })
    .with_context(|| p.logs())?;
    testkit::eventually(Duration::from_secs(30), "the replayed reactions are published (and dropped)", || {
        let log = p.projector.log();
        Ok((log.matches("projector::reactor: published").count() >= 2 * 3).then_some(()))
    })
    .with_context(|| p.logs())?;
    let (replayed, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_TRAINING")?;
    ensure!(replayed == before, "MAIL_TRAINING went from {before} to {replayed} after a replay");
    ensure!(training_of(&p, &ids)? == expected);
    let trace = p.traces(&message_id)?.into_iter().next().context("trace")?;
    ensure!(trace["disposition"] == "SPAM", "{trace}");
    Ok(())
}
