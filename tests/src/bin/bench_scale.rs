//! `just bench-scale`: scoring throughput with one and with two scorer processes on the
//! shared durable consumer, on this machine. For each setup: a fresh nats-server, ingest,
//! the corpus's messages (POSTERN_CORPUS or ../shared/corpus, cycled up to
//! POSTERN_BENCH_MESSAGES, default 3,000) sent through SMTP while no scorer runs, then the
//! scorers started together; the clock runs from the first disposition to the last (the
//! rules' start-up is left out), and the scorers' CPU seconds over the same span come from
//! /proc. Prints messages per second, per CPU second, and the two-to-one ratio; the last line
//! is JSON. Loopback only; it stops by itself.

use anyhow::{Context, Result, bail, ensure};
use std::time::{Duration, Instant};
use testkit::jetstream::stream_counts;
use testkit::nats::NatsServer;
use testkit::process::Service;
use testkit::smtp::{Outgoing, send_with_smtplib};
use testkit::{free_port, wait_for_port};

struct Setup {
    scorers: usize,
    messages: u64,
    seconds: f64,
    cpu_seconds: f64,
}

fn corpus_messages(limit: usize) -> Result<Vec<Vec<u8>>> {
    let dir = testkit::corpus_dir().context("no corpus: set POSTERN_CORPUS or put it at ../shared/corpus")?;
    let mut files = Vec::new();
    for label in ["clean", "spam", "phish", "bulk"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(label))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        files.extend(names);
    }
    ensure!(!files.is_empty(), "the corpus has no messages");
    let mut out = Vec::with_capacity(limit);
    for (i, path) in files.iter().cycle().take(limit).enumerate() {
        // A distinct Message-ID for every copy, so that each is its own message.
        let raw = std::fs::read(path)?;
        let mut data = format!("Message-ID: <bench-scale-{i}@bench.example>\r\n").into_bytes();
        data.extend(strip_message_id(&raw));
        out.push(data);
    }
    Ok(out)
}

/// The message without its own Message-ID header line (and its continuation lines).
fn strip_message_id(raw: &[u8]) -> Vec<u8> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| raw.windows(2).position(|w| w == b"\n\n"));
    let Some(end) = head_end else { return raw.to_vec() };
    let (head, body) = raw.split_at(end);
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in head.split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if continuation && skipping {
            continue;
        }
        skipping = line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

fn run(scorers: usize, messages: &[Vec<u8>]) -> Result<Setup> {
    let nats = NatsServer::start()?;
    let dir = tempfile::Builder::new().prefix("postern-bench-scale-").tempdir()?;
    let smtp = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("ingest.toml"), format!("listen = \"{smtp}\"\nnats_url = \"{}\"\n", nats.url()))?;
    std::fs::write(path("scorer.toml"), format!("nats_url = \"{}\"\ndns = \"offline\"\n", nats.url()))?;
    let ingest = Service::start("ingest", "ingest", &["--config", &path("ingest.toml")], dir.path())?;
    wait_for_port(smtp, Duration::from_secs(20)).with_context(|| ingest.log())?;
    for chunk in messages.chunks(500) {
        let outgoing: Vec<Outgoing> =
            chunk.iter().map(|m| Outgoing::to_journal("bench@bench.example", m.clone())).collect();
        let outcomes = send_with_smtplib(smtp, &outgoing)?;
        if let Some(bad) = outcomes.iter().find(|o| o.code != 250) {
            bail!("ingest refused a message: {} {}", bad.code, bad.text);
        }
    }
    let total = messages.len() as u64;
    ensure!(stream_counts(&nats.url(), "MAIL_RAW")?.0 == total, "MAIL_RAW does not hold every message");

    let services: Vec<Service> = (0..scorers)
        .map(|i| {
            Service::start(&format!("scorer-{i}"), "scorer", &["--config", &path("scorer.toml"), "run"], dir.path())
        })
        .collect::<Result<_>>()?;
    let dispositions = || -> Result<u64> { Ok(stream_counts(&nats.url(), "MAIL_EVENTS").map(|c| c.0).unwrap_or(0)) };
    let deadline = Instant::now() + Duration::from_secs(1800);
    while dispositions()? == 0 {
        ensure!(Instant::now() < deadline, "no disposition within 30 minutes:\n{}", services[0].log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let cpu_at_start: f64 = services.iter().map(|s| s.cpu_seconds()).sum::<Result<f64>>()?;
    let first = dispositions()?;
    loop {
        let done = dispositions()?;
        if done >= total {
            break;
        }
        ensure!(Instant::now() < deadline, "{done} of {total} scored within 30 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = services.iter().map(|s| s.cpu_seconds()).sum::<Result<f64>>()? - cpu_at_start;
    drop(services);
    drop(ingest);
    Ok(Setup { scorers, messages: total - first, seconds, cpu_seconds })
}

fn main() -> Result<()> {
    let count: usize = std::env::var("POSTERN_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let messages = corpus_messages(count)?;
    let mut setups = Vec::new();
    for scorers in [1, 2] {
        let s = run(scorers, &messages)?;
        println!(
            "{} scorer process(es): {} messages in {:.1} s: {:.0} msg/s, {:.0} msg per CPU second ({:.2} CPU s)",
            s.scorers,
            s.messages,
            s.seconds,
            s.messages as f64 / s.seconds,
            s.messages as f64 / s.cpu_seconds.max(1e-9),
            s.cpu_seconds
        );
        setups.push(s);
    }
    let rate = |s: &Setup| s.messages as f64 / s.seconds;
    let per_cpu = |s: &Setup| s.messages as f64 / s.cpu_seconds.max(1e-9);
    let ratio = rate(&setups[1]) / rate(&setups[0]);
    println!(
        "two processes against one: {ratio:.2}x (this machine has {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{}",
        serde_json::json!({
            "messages": count,
            "scorer_1_msgs_per_s": rate(&setups[0]),
            "scorer_2_msgs_per_s": rate(&setups[1]),
            "scorer_1_msgs_per_cpu_s": per_cpu(&setups[0]),
            "scorer_2_msgs_per_cpu_s": per_cpu(&setups[1]),
            "scale_ratio": ratio,
        })
    );
    Ok(())
}
