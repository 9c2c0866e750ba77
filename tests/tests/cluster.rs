//! A three-node JetStream cluster under SMTP load (Python's smtplib, retrying on 4xx as an
//! MTA does): the node that leads MAIL_RAW is killed with SIGKILL and restarted, then the
//! node that leads MAIL_EVENTS. Every message that got a 250 is in MAIL_RAW once and in the
//! views once, with a disposition; every refusal during the elections is a 451; no service
//! is restarted (ingest, the two scorers and the projector move to another node by
//! themselves). Then: a component configured for another replica count refuses to start on
//! the streams, naming the stream and both counts.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::jetstream::{placement, stored_per_message, stream_counts};
use testkit::load::{Offer, SteadyLoad};
use testkit::nats::Durability;
use testkit::pipeline::{ClusterPipeline, traces};

const MESSAGES: usize = 300;
const RATE: u32 = 20;

#[test]
fn losing_each_stream_leader_under_load_loses_nothing() -> Result<()> {
    let mut p = ClusterPipeline::start(Durability::Fast)?;
    let url = p.cluster.url();
    // Every stream and bucket the services made lives on the three nodes.
    for stream in ["MAIL_RAW", "MAIL_EVENTS", "MAIL_TRAINING", "KV_POSTERN_POLICIES", "OBJ_MAIL_RAW_BODIES"] {
        let placed = testkit::eventually(Duration::from_secs(30), &format!("stream {stream} exists"), || {
            Ok(placement(&url, stream).ok())
        })
        .with_context(|| p.logs())?;
        ensure!(placed.replicas == 3, "{stream}: {placed:?}");
    }

    let results = p.dir.path().join("sent.jsonl");
    let mut load = SteadyLoad::start(p.smtp, &Offer::new("cluster", MESSAGES, RATE, 150), &results)?;
    let mut killed = Vec::new();
    for (stream, after) in [("MAIL_RAW", 40), ("MAIL_EVENTS", 150)] {
        testkit::eventually(Duration::from_secs(60), &format!("{after} messages sent"), || {
            Ok((load.reported() >= after).then_some(()))
        })
        .with_context(|| p.logs())?;
        let leader = placement(&url, stream)?.leader.with_context(|| format!("{stream} has no leader"))?;
        p.cluster.kill(&leader)?;
        std::thread::sleep(Duration::from_millis(1500));
        p.cluster.restart(&leader)?;
        // Back in the group and caught up before anything else is killed: a second node
        // lost while the first is still behind would leave no majority.
        for s in ["MAIL_RAW", "MAIL_EVENTS"] {
            testkit::eventually(Duration::from_secs(60), &format!("{s} current again after {leader}"), || {
                let placed = placement(&url, s)?;
                Ok((placed.leader.is_some() && placed.all_current).then_some(()))
            })
            .with_context(|| p.logs())?;
        }
        killed.push(format!("{leader} (led {stream})"));
    }
    ensure!(load.is_running()? || load.reported() == MESSAGES, "the sender stopped early");
    let sent = load.finish()?;

    let unaccepted: Vec<usize> = sent.iter().filter(|s| s.queued.is_none()).map(|s| s.index).collect();
    ensure!(unaccepted.is_empty(), "never accepted: {unaccepted:?}\n{}", p.logs());
    let refusals: Vec<u16> = sent.iter().flat_map(|s| s.refusals.iter().copied()).collect();
    ensure!(refusals.iter().all(|&c| c == 451), "refusals other than 451: {refusals:?}");
    let broken: u64 = sent.iter().map(|s| s.broken).sum();
    ensure!(broken == 0, "{broken} connections broke: ingest must answer, not hang up\n{}", p.logs());

    // MAIL_RAW: every message exactly once.
    let stored = stored_per_message(&url, "MAIL_RAW")?;
    ensure!(stored.values().all(|&n| n == 1), "a message stored twice: {stored:?}");
    ensure!(stored.len() == MESSAGES, "MAIL_RAW holds {} messages, {MESSAGES} were accepted", stored.len());

    // The views: one record per Message-ID, with a disposition.
    let (raw_seq, events_seq) = (stream_counts(&url, "MAIL_RAW")?.1, stream_counts(&url, "MAIL_EVENTS")?.1);
    testkit::eventually(Duration::from_secs(120), "the projector folds both streams", || {
        let (r, e) = testkit::pipeline::checkpoints(p.http)?;
        Ok((r >= raw_seq && e >= events_seq).then_some(()))
    })
    .with_context(|| p.logs())?;
    for s in &sent {
        let message_id = format!("cluster-{}@load.example", s.index);
        let found = testkit::eventually(Duration::from_secs(60), &format!("{message_id} has a disposition"), || {
            let found = traces(p.http, &message_id)?;
            Ok((found.len() == 1 && !found[0]["disposition"].is_null()).then_some(found))
        })
        .with_context(|| format!("{:?}\n{}", traces(p.http, &message_id), p.logs()))?;
        ensure!(found[0]["postern_id"].as_str() == s.queued.as_deref(), "{message_id}: {}", found[0]);
    }

    // Nobody restarted a service: each one moved to another node by itself.
    ensure!(p.ingest.is_running(), "ingest exited:\n{}", p.ingest.log());
    for s in &mut p.scorers {
        ensure!(s.is_running(), "{} exited:\n{}", s.name, s.log());
    }
    ensure!(p.projector.is_running(), "the projector exited:\n{}", p.projector.log());
    let retried = sent.iter().filter(|s| s.tries > 1).count();
    eprintln!(
        "cluster: sent {MESSAGES}, accepted {MESSAGES}, {retried} retried after {} refusals (all 451), killed {}",
        refusals.len(),
        killed.join(", ")
    );

    // A component configured for one replica on these three-replica streams stops at start.
    let conf = p.dir.path().join("ingest-r1.toml");
    std::fs::write(
        &conf,
        format!("listen = \"127.0.0.1:{}\"\nnats_url = \"{url}\"\nreplicas = 1\n", testkit::free_port()),
    )?;
    let out =
        testkit::cli::run("ingest", &[std::ffi::OsStr::new("--config"), conf.as_os_str()], &[("RUST_LOG", "warn")])?;
    let text = out.text();
    ensure!(!out.success, "ingest started on streams with another replica count:\n{text}");
    ensure!(
        text.contains("stream MAIL_RAW exists with replicas = 3, the configuration asks for 1"),
        "the error names the stream and both counts:\n{text}"
    );
    Ok(())
}

/// A scorer, ingest and the projector started while the cluster has no majority (two of
/// three nodes down) do not exit: each start-up step is tried again, logged, until the
/// nodes are back (the projector serves its API meanwhile); then a message sent through
/// the new ingest is scored and in the new projector's views. A scorer configured for
/// another replica count stops at once instead (waiting cannot change a stream's settings).
#[test]
fn a_scorer_ingest_and_projector_started_without_a_majority_wait_for_one() -> Result<()> {
    let mut p = ClusterPipeline::start(Durability::Fast)?;
    let consuming = |log: &str| log.matches("scorer consuming MAIL_RAW").count();
    testkit::eventually(Duration::from_secs(60), "both scorers consume", || {
        Ok(p.scorers.iter().all(|s| consuming(&s.log()) == 1).then_some(()))
    })
    .with_context(|| p.logs())?;

    p.scorers[0].kill()?;
    p.cluster.kill("n2")?;
    p.cluster.kill("n3")?;
    // A scorer, ingest and the projector all start while one node of three is up.
    p.scorers[0].restart()?;
    p.ingest.restart()?;
    p.projector.restart()?;
    testkit::eventually(Duration::from_secs(60), "the scorer says it waits", || {
        Ok(p.scorers[0].log().contains("JetStream cannot do this yet; trying again").then_some(()))
    })
    .with_context(|| p.logs())?;
    // Ingest either waits for MAIL_RAW (logged) or, once the stream answers, listens and
    // answers 451 while nothing can be stored; either way it stays up.
    // The projector serves its API meanwhile (the views it has), and waits to follow.
    testkit::wait_for_port(p.http, Duration::from_secs(30)).with_context(|| p.logs())?;
    std::thread::sleep(Duration::from_secs(3));
    ensure!(p.scorers[0].is_running(), "the scorer exited without a majority:\n{}", p.scorers[0].log());
    ensure!(p.ingest.is_running(), "ingest exited without a majority:\n{}", p.ingest.log());
    ensure!(p.projector.is_running(), "the projector exited without a majority:\n{}", p.projector.log());

    p.cluster.restart("n2")?;
    p.cluster.restart("n3")?;
    testkit::eventually(Duration::from_secs(90), "the scorer consumes once the nodes are back", || {
        Ok((consuming(&p.scorers[0].log()) == 2).then_some(()))
    })
    .with_context(|| p.logs())?;
    ensure!(p.scorers[0].is_running(), "{}", p.scorers[0].log());
    let after =
        testkit::smtp::message("after-majority@sender.example", "a@sender.example", "b@corp.example", "after", "");
    // The scorer may consume before MAIL_RAW has its leader back and ingest has
    // reconnected: until then ingest answers 451, and the sender tries again, as an MTA does.
    testkit::eventually(Duration::from_secs(60), "ingest accepts again", || {
        let sent = testkit::smtp::send_with_smtplib(
            p.smtp,
            &[testkit::smtp::Outgoing::to_journal("a@sender.example", after.clone())],
        )?;
        match sent[0].code {
            250 => Ok(Some(())),
            451 => Ok(None),
            _ => anyhow::bail!("neither accepted nor deferred: {sent:?}"),
        }
    })
    .with_context(|| p.logs())?;
    testkit::eventually(Duration::from_secs(60), "the message has a disposition", || {
        let found = traces(p.http, "after-majority@sender.example")?;
        Ok(found.first().filter(|t| !t["disposition"].is_null()).map(|_| ()))
    })
    .with_context(|| p.logs())?;

    // Another replica count: the start stops at once, naming the stream.
    let conf = p.dir.path().join("scorer-r1.toml");
    std::fs::write(&conf, format!("nats_url = \"{}\"\nreplicas = 1\ndns = \"offline\"\n", p.cluster.url()))?;
    let started = std::time::Instant::now();
    let out =
        testkit::cli::run("scorer", &["--config", conf.to_str().context("path")?, "run"], &[("RUST_LOG", "warn")])?;
    let text = out.text();
    ensure!(!out.success, "the scorer started on streams with another replica count:\n{text}");
    ensure!(text.contains("MAIL_EVENTS exists with replicas = 3"), "{text}");
    ensure!(!text.contains("trying again"), "a settings mismatch is not waited out:\n{text}");
    eprintln!(
        "a scorer without a majority waited and started; one with replicas = 1 stopped in {:?}",
        started.elapsed()
    );
    Ok(())
}
