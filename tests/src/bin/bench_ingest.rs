//! `just bench-ingest`: Postfix's smtp-source sends the same load to ingest (every message
//! acknowledged by JetStream before the 250) and to Postfix's smtp-sink (accepts and drops:
//! the no-work ceiling of this machine), for 5 KB, 20 KB and 100 KB messages, and prints
//! messages/s and MB/s for both, their ratio, and a last line of JSON. It does so twice, with
//! nats-server in each durability mode: `fast` (the server's default; acknowledged from the
//! page cache) and `durable` (`sync_interval: always`: fsync before the PubAck, hence before
//! the 250). `--durability fast` or `--durability durable` runs only one.
//!
//! Everything runs on 127.0.0.1 and stops by itself (bounded message counts).
//! `POSTERN_BENCH_MESSAGES` caps each size's count (20,000 / 10,000 / 2,500 in `fast`, a
//! quarter of that in `durable`): the suite's short run sends a few hundred.

use anyhow::{Context, Result, bail, ensure};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::nats::{Durability, NatsServer};
use testkit::process::Service;
use testkit::{free_port, wait_for_port};

const SESSIONS: &str = "16";

struct Rate {
    msgs_per_s: f64,
    mb_per_s: f64,
}

fn smtp_source(addr: SocketAddr, count: usize, body: usize) -> Result<Duration> {
    let started = Instant::now();
    let out = Command::new("smtp-source")
        .args(["-s", SESSIONS, "-d", "-m", &count.to_string(), "-l", &body.to_string()])
        .args(["-f", "bench@example.com", "-t", "journal@postern.localhost", "-M", "bench.localhost"])
        .arg(format!("{}:{}", addr.ip(), addr.port()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running smtp-source (Debian package postfix)")?;
    let elapsed = started.elapsed();
    ensure!(out.status.success(), "smtp-source failed: {}", String::from_utf8_lossy(&out.stderr));
    ensure!(out.stderr.is_empty(), "smtp-source reported: {}", String::from_utf8_lossy(&out.stderr));
    Ok(elapsed)
}

fn rate(count: usize, body: usize, elapsed: Duration) -> Rate {
    let secs = elapsed.as_secs_f64();
    Rate { msgs_per_s: count as f64 / secs, mb_per_s: (count * body) as f64 / secs / 1e6 }
}

fn main() -> Result<()> {
    let modes = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => vec![Durability::Fast, Durability::Durable],
        [flag, mode] if flag == "--durability" && mode == "fast" => vec![Durability::Fast],
        [flag, mode] if flag == "--durability" && mode == "durable" => vec![Durability::Durable],
        _ => bail!("usage: bench_ingest [--durability fast|durable]  (both when not given)"),
    };
    let work = tempfile::Builder::new().prefix("postern-bench-").tempdir()?;

    // smtp-sink: accept and discard. It must not run as root.
    let sink = testkit::smtp::SmtpSink::start()?;
    let sink_addr = sink.addr;

    let mut json = serde_json::Map::new();
    println!(
        "{:<8} {:<6} {:>8} {:>14} {:>10} {:>14} {:>10} {:>7}",
        "mode", "size", "messages", "ingest msg/s", "MB/s", "sink msg/s", "MB/s", "ratio"
    );
    for durability in modes {
        bench_mode(durability, sink_addr, work.path(), &mut json)?;
    }
    drop(sink);
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}

/// One durability mode: a fresh nats-server and ingest, the three sizes against both targets.
fn bench_mode(
    durability: Durability,
    sink_addr: SocketAddr,
    work: &std::path::Path,
    json: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let sizes: [(&str, usize, usize); 3] = [("5k", 5_000, 20_000), ("20k", 20_000, 10_000), ("100k", 100_000, 2_500)];
    let cap: usize = std::env::var("POSTERN_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let (mode, key_prefix, durable_count) = match durability {
        Durability::Fast => ("fast", "", None),
        // fsync per acknowledgement: fewer messages, the same sizes.
        Durability::Durable => ("durable", "durable_", Some(4)),
    };
    // ingest, release build, against a fresh nats-server with JetStream.
    let nats = NatsServer::start_with(durability)?;
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = work.join(format!("ingest-{mode}.toml"));
    std::fs::write(
        &config,
        format!("listen = \"{smtp}\"\nnats_url = \"{}\"\nmax_connections_per_ip = 64\n", nats.url()),
    )?;
    let ingest =
        Service::start(&format!("ingest-{mode}"), "ingest", &["--config", config.to_str().context("path")?], work)?;
    wait_for_port(smtp, Duration::from_secs(30)).with_context(|| ingest.log())?;
    if !testkit::bin_dir()?.ends_with("release") {
        eprintln!("warning: ingest is a debug build; run `just bench-ingest` for release figures");
    }

    let mut stored_before = 0u64;
    for (name, body, count) in sizes {
        let count = durable_count.map_or(count, |divisor| count / divisor).min(cap).max(1);
        // Warm-up, then the measured run, for each target.
        smtp_source(sink_addr, 200, body)?;
        let sink_rate = rate(count, body, smtp_source(sink_addr, count, body)?);
        smtp_source(smtp, 200, body)?;
        let ingest_rate = rate(count, body, smtp_source(smtp, count, body)?);
        // Every message answered 250 must be in MAIL_RAW.
        let stored = testkit::jetstream::stream_counts(&nats.url(), "MAIL_RAW")?.0;
        let expected = stored_before + 200 + count as u64;
        if stored != expected {
            bail!("MAIL_RAW holds {stored} events, expected {expected}");
        }
        stored_before = stored;
        let ratio = ingest_rate.msgs_per_s / sink_rate.msgs_per_s;
        println!(
            "{mode:<8} {name:<6} {count:>8} {:>14.0} {:>10.1} {:>14.0} {:>10.1} {:>7.2}",
            ingest_rate.msgs_per_s, ingest_rate.mb_per_s, sink_rate.msgs_per_s, sink_rate.mb_per_s, ratio
        );
        json.insert(format!("{key_prefix}ingest_msgs_per_s_{name}"), round(ingest_rate.msgs_per_s).into());
        json.insert(format!("{key_prefix}ingest_mb_per_s_{name}"), round(ingest_rate.mb_per_s).into());
        json.insert(format!("{key_prefix}sink_msgs_per_s_{name}"), round(sink_rate.msgs_per_s).into());
        json.insert(format!("{key_prefix}sink_mb_per_s_{name}"), round(sink_rate.mb_per_s).into());
        json.insert(format!("{key_prefix}ratio_{name}"), ((ratio * 100.0).round() / 100.0).into());
    }
    drop(ingest);
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
