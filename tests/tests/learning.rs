//! The learning loop through the real servers: `scorer train` publishes a labelled corpus
//! as training events, the running scorer folds them and scores a new message of the same
//! campaign SPAM; withdrawing the examples restores the first behaviour. No restart.

use anyhow::{Context, Result, ensure};
use testkit::pipeline::Pipeline;

const HAM_TOPICS: [&str; 5] = [
    "the quarterly planning meeting moves to Thursday afternoon, agenda attached below",
    "please review the draft contract for the warehouse lease before our call",
    "minutes from the design review: we agreed on the schema changes and the rollout",
    "reminder that the office is closed on Monday for the public holiday",
    "the build is green again after the dependency update, thanks for the quick fix",
];

fn ham(i: usize) -> Vec<u8> {
    format!(
        "From: Colleague {i} <colleague{i}@corp.example>\r\nTo: team@corp.example\r\nSubject: Re: project update {i}\r\n\
Message-ID: <ham-{i}@corp.example>\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\nContent-Type: text/plain\r\n\r\n\
Hi all,\r\n{}\r\nBest, colleague {i}\r\n",
        HAM_TOPICS[i % HAM_TOPICS.len()]
    )
    .into_bytes()
}

/// One campaign: same sender domain, template and link, a little variation per copy.
fn campaign(i: usize, message_id: &str) -> Vec<u8> {
    format!(
        "From: Luxury Deals <offers{i}@replica-watch-deals.example>\r\nTo: user@corp.example\r\n\
Subject: Replica watches {i}0% off, limited stock!\r\nMessage-ID: <{message_id}>\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n\
Content-Type: text/plain\r\n\r\nDear customer, genuine replica luxury watches at wholesale prices.\r\n\
Order today and get free shipping worldwide: http://replica-watch-deals.example/shop?id={i}\r\n\
Rolex Omega Cartier replicas, guaranteed quality, discreet packaging. Act now!\r\n"
    )
    .into_bytes()
}

/// 15 ham messages and 15 of the replica-watch campaign, in the folder layout.
fn labelled_corpus() -> Result<tempfile::TempDir> {
    let corpus = tempfile::tempdir()?;
    for label in ["clean", "spam"] {
        std::fs::create_dir_all(corpus.path().join(label))?;
    }
    for i in 0..15 {
        std::fs::write(corpus.path().join(format!("clean/{i}.eml")), ham(i))?;
        std::fs::write(
            corpus.path().join(format!("spam/{i}.eml")),
            campaign(100 + i, &format!("train-{i}@replica-watch-deals.example")),
        )?;
    }
    Ok(corpus)
}

fn run_train(p: &Pipeline, corpus: &std::path::Path, extra: &[&str]) -> Result<String> {
    let corpus = corpus.to_str().context("corpus path")?;
    let args: Vec<&str> =
        ["train", "--corpus", corpus, "--tenant", "default"].into_iter().chain(extra.iter().copied()).collect();
    p.cli("scorer", &args)?.ok()
}

fn campaign_until(p: &Pipeline, expected: &str, first: usize) -> Result<serde_json::Value> {
    p.send_until("bounce@replica-watch-deals.example", first, expected, campaign)
}

#[test]
fn training_events_teach_the_running_scorer_and_withdrawal_unteaches() -> Result<()> {
    let p = Pipeline::start()?;
    let corpus = labelled_corpus()?;
    std::fs::write(corpus.path().join("notes.eml"), ham(99))?;

    // Untrained: the classifier has no opinion, the campaign is NONE.
    let before = campaign_until(&p, "NONE", 0)?;
    ensure!(!before["detections"].to_string().contains("content_"), "an untrained classifier said something: {before}");

    let out = run_train(&p, corpus.path(), &[])?;
    ensure!(out.contains("published 30 MessageLabelled"), "{out}");
    ensure!(out.contains("1 files teach nothing"), "{out}");
    let trained = campaign_until(&p, "SPAM", 1000)?;
    ensure!(trained["detections"].to_string().contains("content_spam"), "{trained}");

    // Published again: the same examples teach once (the stream holds them twice).
    run_train(&p, corpus.path(), &[])?;
    let (messages, _) = testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_TRAINING")?;
    ensure!(messages == 60, "MAIL_TRAINING holds {messages}");

    let out = run_train(&p, corpus.path(), &["--withdraw"])?;
    ensure!(out.contains("withdrew 30 LabelWithdrawn"), "{out}");
    let after = campaign_until(&p, "NONE", 2000)?;
    ensure!(!after["detections"].to_string().contains("content_"), "withdrawn examples still teach: {after}");

    // A scorer started now folds the whole stream (learned, learned again, withdrawn) to the
    // same state: the campaign stays NONE.
    let mut p = p;
    p.scorer.restart()?;
    let restarted = campaign_until(&p, "NONE", 3000)?;
    ensure!(!restarted["detections"].to_string().contains("content_"), "{restarted}");
    Ok(())
}

/// Another campaign, in words the base training never saw.
fn giveaway(i: usize, message_id: &str) -> Vec<u8> {
    format!(
        "From: Bitcoin Foundation <rewards{i}@coin-bonus-giveaway.example>\r\nTo: user@corp.example\r\n\
Subject: Claim your {i} BTC airdrop bonus\r\nMessage-ID: <{message_id}>\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n\
Content-Type: text/plain\r\n\r\nCongratulations wallet holder, the foundation airdrop distributes bitcoin \
to verified wallets.\r\nConnect your wallet and double your deposit within hours: http://coin-bonus-giveaway.example/claim?w={i}\r\n\
Limited airdrop window, blockchain confirmed, instant payout guaranteed.\r\n"
    )
    .into_bytes()
}

fn projector_cli(p: &Pipeline, args: &[&str]) -> Result<String> {
    p.cli("projector", args)?.ok()
}

/// The loop: a message scored NONE is reclassified SPAM by the team; the next message of
/// the same campaign is scored SPAM by what that taught; withdrawing the reclassification
/// unteaches it and the campaign is NONE again.
#[test]
fn a_reclassification_teaches_the_scorer_and_its_withdrawal_unteaches() -> Result<()> {
    let p = Pipeline::start()?;
    let corpus = labelled_corpus()?;
    run_train(&p, corpus.path(), &[])?;
    let first = p.send_until("bounce@coin-bonus-giveaway.example", 0, "NONE", giveaway)?;
    ensure!(!first["detections"].to_string().contains("content_spam"), "{first}");
    let message_id = first["message_id"].as_str().context("message id")?.to_owned();

    let answer = projector_cli(
        &p,
        &["reclassify", "--message-id", &message_id, "--disposition", "SPAM", "--type", "team", "--json"],
    )?;
    let answer: serde_json::Value = serde_json::from_str(&answer)?;
    ensure!(answer["status"] == "ACCEPTED" && answer["training"]["taught"] == true, "{answer}");
    let learned = p.send_until("bounce@coin-bonus-giveaway.example", 1000, "SPAM", giveaway)?;
    ensure!(learned["detections"].to_string().contains("content_spam"), "{learned}");

    let sid = answer["submission_id"].as_str().context("submission id")?;
    let withdrawn = projector_cli(&p, &["resolve", sid, "--outcome", "withdraw", "--json"])?;
    let withdrawn: serde_json::Value = serde_json::from_str(&withdrawn)?;
    ensure!(withdrawn["training"]["taught"] == true && withdrawn["training"]["withdrawn"] == true, "{withdrawn}");
    let after = p.send_until("bounce@coin-bonus-giveaway.example", 2000, "NONE", giveaway)?;
    ensure!(!after["detections"].to_string().contains("content_spam"), "unlearned: {after}");
    // The first message shows the whole story.
    let trace = p.traces(&message_id)?.into_iter().next().context("trace")?;
    ensure!(trace["disposition"] == "NONE" && trace["reclassifications"][0]["status"] == "WITHDRAWN", "{trace}");
    Ok(())
}

/// A 2002-style pharmacy spam that SpamAssassin's own autolearning takes as spam (16.7
/// points, 6.6 of them from header rules: `scorer/tests/fixtures/autolearned_pharmacy_spam.eml`),
/// under a Message-ID of the test's.
fn pharmacy(message_id: &str) -> Result<Vec<u8>> {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scorer/tests/fixtures/autolearned_pharmacy_spam.eml");
    let text = std::fs::read_to_string(&fixture).with_context(|| fixture.display().to_string())?;
    let (before, after) = text.split_once("Message-Id: ").context("the fixture's Message-Id")?;
    let rest = after.split_once("\r\n").context("the end of the Message-Id line")?.1;
    Ok(format!("{before}Message-Id: <{message_id}>\r\n{rest}").into_bytes())
}

/// Autolearning through the servers: spam that SpamAssassin's rules are sure of (and the
/// verdict agrees) is taught to the tenant's classifier as a `MessageLabelled` on
/// `mail.training.default`, once, with the copy's digest; an analyst who calls the copy
/// wanted teaches ham for that same digest, which the learner puts in its place (unit test
/// `learner::tests::a_persons_label_takes_the_place_of_an_autolearned_one`).
#[test]
fn spam_the_rules_are_sure_of_is_autolearned_for_its_tenant() -> Result<()> {
    let p = Pipeline::start()?;
    let trace = p.send_until("bounce@cheap-meds4u.example", 0, "SUSPICIOUS", |_, id| {
        pharmacy(id).expect("the pharmacy fixture")
    })?;
    ensure!(trace["detections"].to_string().contains("spamassassin_autolearn"), "{trace}");
    let message_id = trace["message_id"].as_str().context("message id")?.to_owned();
    let training = testkit::eventually(std::time::Duration::from_secs(20), "the autolearned example", || {
        let stored = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_TRAINING")?;
        Ok((!stored.is_empty()).then_some(stored))
    })?;
    ensure!(training.len() == 1, "one example, not {}", training.len());
    let lesson = &training[0];
    ensure!(lesson.subject == "mail.training.default", "{}", lesson.subject);
    let labelled = |payload: &[u8]| -> Result<proto::MessageLabelled> {
        match proto::decode(payload)? {
            (_, proto::Event::MessageLabelled(m)) => Ok(m),
            (envelope, other) => anyhow::bail!("{:?} on the training subject: {other:?}", envelope.event_type),
        }
    };
    let autolearned = labelled(&lesson.payload)?;
    ensure!(
        autolearned.label == proto::TrainingLabel::Spam && autolearned.source.starts_with("autolearn:"),
        "{:?} from {}",
        autolearned.label,
        autolearned.source
    );

    // The analyst says it is wanted: the reactor teaches ham for the same copy.
    let answer = p.cli(
        "projector",
        &["reclassify", "--message-id", &message_id, "--disposition", "NONE", "--type", "team", "--json"],
    )?;
    let answer: serde_json::Value = serde_json::from_str(&answer.ok()?)?;
    ensure!(answer["status"] == "ACCEPTED" && answer["training"]["taught"] == true, "{answer}");
    let training = testkit::eventually(std::time::Duration::from_secs(20), "the analyst's example", || {
        let stored = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_TRAINING")?;
        Ok((stored.len() >= 2).then_some(stored))
    })?;
    let analysts = labelled(&training[1].payload)?;
    ensure!(analysts.label == proto::TrainingLabel::Ham, "{:?}", analysts.label);
    ensure!(
        analysts.content_digest == autolearned.content_digest,
        "the analyst's label is for another copy: {} against {}",
        analysts.content_digest,
        autolearned.content_digest
    );
    Ok(())
}
