//! Chaos: SMTP load (Python's smtplib, retrying as an MTA does: a 4xx or a broken
//! connection means "send it again later") while, in turn and at random moments, ingest, the
//! scorer and the projector are killed with SIGKILL and restarted, and nats-server (durable)
//! is killed and restarted. At the end every message was accepted, MAIL_RAW holds each
//! exactly once, each has one record with a disposition in the views, and a fresh `projector
//! rebuild` of the streams equals the live views key for key (`projector verify`). One
//! poison message is planted first (a test-build failpoint makes its scoring panic): the
//! dead-letter subject holds exactly it, with its reason.
//!
//! The suite runs a short version (400 messages at 25 a second, a kill every 0.3 to 1.5 s, at
//! most two minutes); `just chaos` runs a long one (POSTERN_CHAOS_MESSAGES,
//! POSTERN_CHAOS_SECONDS, POSTERN_CHAOS_PAUSE_MS). Loopback only, bounded in count and time. (The remediator is not in this run: it is not part of the pipeline's
//! harness yet.)

use anyhow::{Context, Result, ensure};
use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::load::SteadyLoad;
use testkit::nats::{Durability, NatsServer};
use testkit::pipeline::{JOURNAL, Pipeline};

/// Messages per second the sender offers: slow enough that the load outlasts several rounds
/// of kills.
const RATE: u32 = 25;

/// A small deterministic generator: the run is the same every time.
struct Lcg(u64);
impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
fn chaos_loses_nothing_and_repeats_nothing() -> Result<()> {
    let count: usize = std::env::var("POSTERN_CHAOS_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
    let seconds: u64 = std::env::var("POSTERN_CHAOS_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(120);
    // The pause between two kills, drawn from this range (milliseconds): the suite's short
    // run kills often; a long run spaces them so that the pipeline is up most of the time.
    let pause: (u64, u64) = std::env::var("POSTERN_CHAOS_PAUSE_MS")
        .ok()
        .and_then(|v| v.split_once('-').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))))
        .unwrap_or((300, 1500));
    ensure!(pause.0 < pause.1, "POSTERN_CHAOS_PAUSE_MS must read LOW-HIGH, LOW < HIGH");
    // The scorer honours the test builds' failpoints: one planted message makes scoring panic.
    let mut p = Pipeline::start_on_with_scorer_config(
        NatsServer::start_with(Durability::Durable)?,
        "ack_wait = \"10s\"\nfailpoints = true\n",
    )?;
    let poison = testkit::smtp::message(
        "poison@chaos.example",
        "chaos@load.example",
        "user@corp.example",
        "poison",
        "X-Postern-Failpoint: score-panic\r\n",
    );
    let planted =
        testkit::smtp::send_with_smtplib(p.smtp, &[testkit::smtp::Outgoing::to_journal("chaos@load.example", poison)])?;
    ensure!(planted[0].code == 250, "the poison message: {:?}", planted[0]);
    let results = p.dir.path().join("sent.jsonl");
    let mut sender = SteadyLoad::start(p.smtp, JOURNAL, "chaos", count, RATE, seconds, &results, 1_300)?;

    let started = Instant::now();
    let mut rng = Lcg(0x5eed);
    let mut kills: HashMap<&str, usize> = HashMap::new();
    let components = ["scorer", "ingest", "projector", "nats-server"];
    let mut turn = 0;
    while sender.is_running()? && started.elapsed() < Duration::from_secs(seconds + 30) {
        std::thread::sleep(Duration::from_millis(rng.next_ms(pause.0, pause.1)));
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
    let retried: u64 = sent.iter().map(|s| s.tries.saturating_sub(1)).sum();
    let unaccepted = sent.iter().filter(|s| s.queued.is_none()).count();
    ensure!(unaccepted == 0, "{unaccepted} messages were never accepted within {seconds} s\n{}", p.logs());

    // MAIL_RAW: every message exactly once (a retry after a lost reply is dropped by the
    // duplicate window and answered with the same id).
    let stored = testkit::jetstream::stored_per_message(&p.nats.url(), "MAIL_RAW")?;
    let duplicated = stored.values().filter(|&&n| n > 1).count();
    ensure!(duplicated == 0, "{duplicated} messages stored more than once");
    ensure!(stored.len() == count + 1, "MAIL_RAW holds {} messages, {count} and the poison were sent", stored.len());

    // The views: each accepted message has its record with a disposition.
    let mut lost = 0;
    for s in &sent {
        let id = s.queued.as_deref().unwrap_or_default();
        let found = testkit::eventually(Duration::from_secs(120), &format!("{id} has a disposition"), || {
            let (status, body) = testkit::http::get_json(p.http, &format!("/api/v1/messages/{id}"))?;
            Ok((status == 200 && !body["disposition"].is_null()).then_some(()))
        });
        if found.is_err() {
            lost += 1;
        }
    }
    ensure!(lost == 0, "{lost} accepted messages have no disposition in the views\n{}", p.logs());

    // Audit: a fresh rebuild of the streams equals the live views, key for key.
    let rebuilt = p.dir.path().join("rebuilt");
    let cli = |args: &[&str]| -> Result<String> {
        let out = Command::new(testkit::bin("projector")?).args(args).env("NATS_URL", p.nats.url()).output()?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(out.status.success(), "projector {args:?}: {text}");
        Ok(text)
    };
    let (raw_seq, events_seq) = (
        testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_RAW")?.1,
        testkit::jetstream::stream_counts(&p.nats.url(), "MAIL_EVENTS")?.1,
    );
    p.wait_for_checkpoints(raw_seq, events_seq, Duration::from_secs(60))?;
    cli(&["rebuild", "--db", rebuilt.to_str().unwrap()])?;
    let verdict = cli(&["verify", p.dir.path().join("views").to_str().unwrap(), rebuilt.to_str().unwrap()])?;
    ensure!(verdict.starts_with("identical"), "live views and rebuild differ: {verdict}");

    // The dead letters: exactly the planted poison, with its reason (the panic; or, when the
    // kills used up its deliveries first, that it was never scored).
    let letters: Vec<_> = testkit::jetstream::read_stream(&p.nats.url(), "MAIL_EVENTS")?
        .into_iter()
        .filter(|m| m.subject.starts_with("mail.deadletter."))
        .collect();
    let poison_id = p.traces("poison@chaos.example")?.first().and_then(|t| t["postern_id"].as_str().map(str::to_owned));
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

    let line = format!(
        "chaos: sent {count}, accepted {count}, retried {retried}, kills {}, lost {lost}, duplicated {duplicated}, dead letters 1 (the planted poison), {:.0} s",
        components.iter().map(|c| format!("{c} {}", kills.get(c).unwrap_or(&0))).collect::<Vec<_>>().join(" / "),
        started.elapsed().as_secs_f64()
    );
    println!("{line}");
    eprintln!("{line}");
    ensure!(components.iter().all(|c| kills.get(c).copied().unwrap_or(0) >= 1), "every component was killed: {line}");
    let _ = std::io::stderr().flush();
    Ok(())
}
