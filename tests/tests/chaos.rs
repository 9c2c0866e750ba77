//! Chaos: SMTP load (Python's smtplib, retrying as an MTA does: a 4xx or a broken
//! connection means "send it again later") while, in turn and at random moments, the
//! pipeline's processes are killed with SIGKILL and restarted. At the end every message was
//! accepted, MAIL_RAW holds each exactly once, each has one record with a disposition in
//! the views, and a fresh `projector rebuild` of the streams equals the live views key for
//! key (`projector verify`). One poison message is planted first (a test-build failpoint
//! makes its scoring panic): the dead-letter subject holds exactly it, with its reason.
//!
//! Two runs:
//! - one node (durable): ingest, the scorer, the projector and nats-server itself are killed
//!   in turn;
//! - a three-node cluster with two scorers and the remediator (against a real Dovecot):
//!   ingest, a scorer, the projector, the remediator and a cluster node are killed in turn.
//!   Beside the load, newsletters arrive that the tenant's policy moves to Junk at first
//!   scoring: each is remediated exactly once (one outcome, DONE) and is in Junk at the end,
//!   whatever was killed between the move and the record of it.
//!
//! The suite runs short versions (a kill every 0.3 to 1.5 s, at most two and a half
//! minutes each); `just chaos` runs a long single-node one (POSTERN_CHAOS_MESSAGES,
//! POSTERN_CHAOS_SECONDS, POSTERN_CHAOS_PAUSE_MS) and `just chaos-cluster` a long cluster
//! one (the same variables). Loopback only, bounded in count and time.

use anyhow::{Context, Result, ensure};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::dovecot::Dovecot;
use testkit::load::{Offer, Sent, SteadyLoad};
use testkit::nats::{Durability, NatsServer};
use testkit::pipeline::{ClusterPipeline, Pipeline};

/// Messages per second the sender offers: slow enough that the load outlasts several rounds
/// of kills.
const RATE: u32 = 25;
/// The cluster run's rate (newsletters come at one a second besides).
const CLUSTER_RATE: u32 = 8;
/// The scorers honour the test builds' failpoints: one planted message makes scoring panic.
const SCORER_CONFIG: &str = "ack_wait = \"10s\"\nfailpoints = true\n";
/// The recipient of every message under load: a Dovecot user in the cluster run.
const RECIPIENT: &str = "user@corp.example";

/// A small deterministic generator: the run is the same every time.
struct Lcg(u64);
impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// How long a run is: from the environment (`just chaos`), else the suite's short run.
struct RunLength {
    count: usize,
    seconds: u64,
    /// The pause between two kills, drawn from this range (milliseconds): the suite's short
    /// run kills often; a long run spaces them so that the pipeline is up most of the time.
    pause: (u64, u64),
}

impl RunLength {
    fn from_env(count: usize, seconds: u64) -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok();
        let count = var("POSTERN_CHAOS_MESSAGES").and_then(|v| v.parse().ok()).unwrap_or(count);
        let seconds = var("POSTERN_CHAOS_SECONDS").and_then(|v| v.parse().ok()).unwrap_or(seconds);
        let pause = var("POSTERN_CHAOS_PAUSE_MS")
            .and_then(|v| v.split_once('-').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))))
            .unwrap_or((300, 1500));
        ensure!(pause.0 < pause.1, "POSTERN_CHAOS_PAUSE_MS must read LOW-HIGH, LOW < HIGH");
        Ok(RunLength { count, seconds, pause })
    }
}

/// Sends the poison message (its scoring panics) and checks it was accepted.
fn plant_poison(smtp: SocketAddr) -> Result<()> {
    let poison = testkit::smtp::message(
        "poison@chaos.example",
        "chaos@load.example",
        RECIPIENT,
        "poison",
        "X-Postern-Failpoint: score-panic\r\n",
    );
    let planted =
        testkit::smtp::send_with_smtplib(smtp, &[testkit::smtp::Outgoing::to_journal("chaos@load.example", poison)])?;
    ensure!(planted[0].code == 250, "the poison message: {:?}", planted[0]);
    Ok(())
}

/// What the end checks found.
struct Audit {
    retried: u64,
    lost: usize,
    duplicated: usize,
}

/// The end checks, shared by both runs: every message accepted, stored once, in the views
/// with a disposition; the live views equal a fresh rebuild; the dead letters are exactly
/// the poison. `sent` is every load's messages; the poison comes on top.
fn audit(nats_url: &str, http: SocketAddr, dir: &Path, sent: &[Sent], logs: &dyn Fn() -> String) -> Result<Audit> {
    let retried: u64 = sent.iter().map(|s| s.tries.saturating_sub(1)).sum();
    let unaccepted = sent.iter().filter(|s| s.queued.is_none()).count();
    ensure!(unaccepted == 0, "{unaccepted} messages were never accepted\n{}", logs());

    // MAIL_RAW: every message exactly once (a retry after a lost reply is dropped by the
    // duplicate window and answered with the same id).
    let stored = testkit::jetstream::stored_per_message(nats_url, "MAIL_RAW")?;
    let duplicated = stored.values().filter(|&&n| n > 1).count();
    ensure!(duplicated == 0, "{duplicated} messages stored more than once");
    ensure!(
        stored.len() == sent.len() + 1,
        "MAIL_RAW holds {} messages, {} and the poison were sent",
        stored.len(),
        sent.len()
    );

    // The views: each accepted message has its record with a disposition.
    let mut lost = 0;
    for s in sent {
        let id = s.queued.as_deref().unwrap_or_default();
        let found = testkit::eventually(Duration::from_secs(120), &format!("{id} has a disposition"), || {
            let (status, body) = testkit::http::get_json(http, &format!("/api/v1/messages/{id}"))?;
            Ok((status == 200 && !body["disposition"].is_null()).then_some(()))
        });
        if found.is_err() {
            lost += 1;
        }
    }
    ensure!(lost == 0, "{lost} accepted messages have no disposition in the views\n{}", logs());

    // The dead letters: exactly the planted poison, with its reason (the panic; or, when the
    // kills used up its deliveries first, that it was never scored).
    // The poison is dead-lettered after its redeliveries (each after a backoff), which may
    // come after the last ordinary message was folded: it is waited for.
    let dead_letters = || -> Result<Vec<testkit::jetstream::Stored>> {
        Ok(testkit::jetstream::read_stream(nats_url, "MAIL_EVENTS")?
            .into_iter()
            .filter(|m| m.subject.starts_with("mail.deadletter."))
            .collect())
    };
    testkit::eventually(Duration::from_secs(120), "the poison is dead-lettered", || {
        Ok((!dead_letters()?.is_empty()).then_some(()))
    })
    .with_context(logs)?;
    let letters = dead_letters()?;
    let poison_id = testkit::pipeline::traces(http, "poison@chaos.example")?
        .first()
        .and_then(|t| t["postern_id"].as_str().map(str::to_owned));
    ensure!(letters.len() == 1, "dead letters: exactly the planted poison, not {}", letters.len());
    ensure!(
        testkit::jetstream::postern_id_of(&letters[0].payload).map(|(_, id)| id) == poison_id,
        "the dead letter is the poison message ({poison_id:?})"
    );
    let reason = letters[0]
        .headers
        .iter()
        .find(|(k, _)| k == "Postern-Dead-Letter-Reason")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    ensure!(reason.contains("failpoint score-panic") || reason.contains("never scored"), "its reason: {reason}");
    // Audit: a fresh rebuild of the streams equals the live views, key for key. After the
    // dead letter, the last event the run causes: read before it, the streams' ends could
    // move on between the live fold's wait and the rebuild (the rebuild then held the dead
    // letter and the live checkpoint did not yet).
    let rebuilt = dir.join("rebuilt");
    let cli = |args: &[&str]| -> Result<String> {
        let run = testkit::cli::run("projector", args, &[("NATS_URL", nats_url)])?;
        let text = run.text();
        run.ok()?;
        Ok(text)
    };
    let (raw_seq, events_seq) = (
        testkit::jetstream::stream_counts(nats_url, "MAIL_RAW")?.1,
        testkit::jetstream::stream_counts(nats_url, "MAIL_EVENTS")?.1,
    );
    testkit::eventually(Duration::from_secs(60), "the projector folds both streams", || {
        let (r, e) = testkit::pipeline::checkpoints(http)?;
        Ok((r >= raw_seq && e >= events_seq).then_some(()))
    })
    .with_context(logs)?;
    cli(&["rebuild", "--db", rebuilt.to_str().context("path")?])?;
    let verdict = cli(&["verify", dir.join("views").to_str().context("path")?, rebuilt.to_str().context("path")?])?;
    ensure!(verdict.starts_with("identical"), "live views and rebuild differ: {verdict}");

    Ok(Audit { retried, lost, duplicated })
}

/// Prints the summary line (stdout and stderr, so that it shows in the suite's output) and
/// checks that every component was killed at least once.
fn summary(title: &str, components: &[&str], kills: &HashMap<&str, usize>, detail: &str) -> Result<()> {
    let line = format!(
        "{title}: {detail}, kills {}",
        components.iter().map(|c| format!("{c} {}", kills.get(c).unwrap_or(&0))).collect::<Vec<_>>().join(" / "),
    );
    println!("{line}");
    eprintln!("{line}");
    let _ = std::io::stderr().flush();
    ensure!(components.iter().all(|c| kills.get(c).copied().unwrap_or(0) >= 1), "every component was killed: {line}");
    Ok(())
}

#[test]
fn chaos_loses_nothing_and_repeats_nothing() -> Result<()> {
    let run = RunLength::from_env(400, 120)?;
    let mut p = Pipeline::start_on_with_scorer_config(NatsServer::start_with(Durability::Durable)?, SCORER_CONFIG)?;
    plant_poison(p.smtp)?;
    let results = p.dir.path().join("sent.jsonl");
    let mut sender = SteadyLoad::start(p.smtp, &Offer::new("chaos", run.count, RATE, run.seconds), &results)?;

    let started = Instant::now();
    let mut rng = Lcg(0x5eed);
    let mut kills: HashMap<&str, usize> = HashMap::new();
    let components = ["scorer", "ingest", "projector", "nats-server"];
    let mut turn = 0;
    while sender.is_running()? && started.elapsed() < Duration::from_secs(run.seconds + 30) {
        std::thread::sleep(Duration::from_millis(rng.next_ms(run.pause.0, run.pause.1)));
        let component = components[turn % components.len()];
        turn += 1;
        match component {
            "scorer" => p.scorer.restart()?,
            "ingest" => {
                p.ingest.restart()?;
                testkit::wait_for_port(p.smtp, Duration::from_secs(20)).context("ingest after its restart")?;
            }
            "projector" => {
                p.projector.kill()?;
                p.projector_restart()?;
            }
            _ => {
                p.nats.stop()?;
                std::thread::sleep(Duration::from_millis(rng.next_ms(200, 1500)));
                p.nats.restart()?;
            }
        }
        *kills.entry(component).or_default() += 1;
    }
    let sent = sender.finish()?;
    let Audit { retried, lost, duplicated } = audit(&p.nats.url(), p.http, p.dir.path(), &sent, &|| p.logs())?;
    let detail = format!(
        "sent {n}, accepted {n}, retried {retried}, lost {lost}, duplicated {duplicated}, dead letters 1 (the planted poison), {:.0} s",
        started.elapsed().as_secs_f64(),
        n = run.count,
    );
    summary("chaos", &components, &kills, &detail)
}

/// The Message-ID of newsletter `i` (SteadyLoad's form for the tag `newsletter`).
fn newsletter_id(i: usize) -> String {
    format!("<newsletter-{i}@load.example>")
}

#[test]
fn chaos_on_a_cluster_with_the_remediator_loses_nothing_and_moves_each_message_once() -> Result<()> {
    let run = RunLength::from_env(300, 150)?;
    let newsletters = (run.count / 10).max(1);
    let mut p = ClusterPipeline::start_with_scorer_config(Durability::Fast, SCORER_CONFIG)?;
    let url = p.cluster.url();
    let dovecot = Dovecot::start(&[RECIPIENT], true)?;
    let mut remediator = dovecot.start_remediator(p.dir.path(), &url, 3)?;
    let policy = p.dir.path().join("policy.toml");
    std::fs::write(&policy, "auto_remediate = true\n[actions]\nBULK = \"move_to_junk\"\n")?;
    testkit::cli::run(
        "scorer",
        &["policy", "set", "--tenant", "default", policy.to_str().context("path")?],
        &[("NATS_URL", &url), ("POSTERN_NATS_REPLICAS", "3")],
    )?
    .ok()?;
    for scorer in &p.scorers {
        testkit::eventually(Duration::from_secs(30), &format!("{} has the policy", scorer.name), || {
            Ok(scorer.log().contains("policy in force").then_some(()))
        })
        .with_context(|| p.logs())?;
    }
    // Each newsletter is in the recipient's inbox before the journal copy arrives.
    let list_header = "List-Unsubscribe: <mailto:leave@load.example>\r\n";
    for i in 0..newsletters {
        let copy = format!(
            "From: newsletter@load.example\r\nTo: {RECIPIENT}\r\nSubject: newsletter {i}\r\nMessage-ID: {}\r\n{list_header}\r\nnews\r\n",
            newsletter_id(i)
        );
        dovecot.deliver(RECIPIENT, copy.as_bytes())?;
    }
    plant_poison(p.smtp)?;

    let dir = p.dir.path().to_owned();
    // Slower than the single-node run: a round of five kills takes longer here (a node must
    // catch up before the next), and the load should outlast several rounds.
    let offer = Offer::new("chaos", run.count, CLUSTER_RATE, run.seconds);
    let mut load = SteadyLoad::start(p.smtp, &offer, &dir.join("load.jsonl"))?;
    let offer = Offer { bytes: 600, headers: list_header, ..Offer::new("newsletter", newsletters, 1, run.seconds) };
    let mut news = SteadyLoad::start(p.smtp, &offer, &dir.join("newsletters.jsonl"))?;

    let started = Instant::now();
    let mut rng = Lcg(0xc1a05);
    let mut kills: HashMap<&str, usize> = HashMap::new();
    let components = ["scorer", "ingest", "projector", "remediator", "nats node"];
    let mut turn = 0;
    while (load.is_running()? || news.is_running()?) && started.elapsed() < Duration::from_secs(run.seconds + 30) {
        std::thread::sleep(Duration::from_millis(rng.next_ms(run.pause.0, run.pause.1)));
        let component = components[turn % components.len()];
        turn += 1;
        match component {
            "scorer" => {
                let i = turn / components.len() % p.scorers.len();
                p.scorers[i].restart()?;
            }
            "ingest" => {
                p.ingest.restart()?;
                testkit::wait_for_port(p.smtp, Duration::from_secs(20)).context("ingest after its restart")?;
            }
            "projector" => {
                p.projector.restart()?;
                testkit::wait_for_port(p.http, Duration::from_secs(20)).context("projector after its restart")?;
            }
            "remediator" => remediator.restart()?,
            _ => {
                let node = format!("n{}", 1 + rng.next_ms(0, 3));
                p.cluster.kill(&node)?;
                std::thread::sleep(Duration::from_millis(rng.next_ms(200, 1500)));
                p.cluster.restart(&node)?;
                // Back in every group and caught up before the next node is killed: a second
                // node lost while the first is behind would leave no majority (a loss the
                // cluster is not built to survive, and not what this run is about).
                for stream in ["MAIL_RAW", "MAIL_EVENTS", "KV_POSTERN_REMEDIATIONS"] {
                    testkit::eventually(Duration::from_secs(60), &format!("{stream} current after {node}"), || {
                        let placed = testkit::jetstream::placement(&url, stream)?;
                        Ok((placed.leader.is_some() && placed.all_current).then_some(()))
                    })
                    .with_context(|| p.logs())?;
                }
            }
        }
        *kills.entry(component).or_default() += 1;
    }
    let mut sent = load.finish()?;
    sent.extend(news.finish()?);
    let logs = || format!("{}\n--- remediator ---\n{}", p.logs(), remediator.log());
    let Audit { retried, lost, duplicated } = audit(&url, p.http, &dir, &sent, &logs)?;

    // Each newsletter: exactly one remediation outcome, DONE, and the message in Junk.
    for i in 0..newsletters {
        let message_id = newsletter_id(i);
        let outcomes = testkit::eventually(Duration::from_secs(90), &format!("{message_id} remediated"), || {
            let trace = testkit::pipeline::traces(p.http, message_id.trim_matches(['<', '>']))?;
            let outcomes: Vec<String> = trace
                .first()
                .and_then(|t| t["events"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter(|e| e["event_type"] == "RemediationCompleted")
                .map(|e| e["summary"].as_str().unwrap_or("").to_owned())
                .collect();
            Ok((!outcomes.is_empty()).then_some(outcomes))
        })
        .with_context(logs)?;
        ensure!(outcomes.len() == 1, "{message_id}: one outcome, not {outcomes:?}");
        ensure!(outcomes[0].starts_with("move_to_junk DONE"), "{message_id}: {outcomes:?}\n{}", remediator.log());
    }
    let folders = dovecot.folders(RECIPIENT)?;
    let in_junk = folders.iter().find(|(f, _)| f == "Junk").map_or(0, |(_, ids)| ids.len());
    let in_inbox = folders.iter().find(|(f, _)| f == "INBOX").map_or(0, |(_, ids)| ids.len());
    ensure!(in_junk == newsletters && in_inbox == 0, "Junk holds {in_junk}, INBOX {in_inbox}: {folders:?}");

    let detail = format!(
        "sent {n} and {newsletters} newsletters, accepted {total}, retried {retried}, lost {lost}, duplicated {duplicated}, \
         remediated {newsletters} of {newsletters} once, dead letters 1 (the planted poison), {:.0} s",
        started.elapsed().as_secs_f64(),
        n = run.count,
        total = sent.len(),
    );
    summary("chaos (cluster)", &components, &kills, &detail)
}
