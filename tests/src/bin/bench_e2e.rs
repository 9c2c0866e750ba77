//! `just bench-e2e`: the whole pipeline (release build, loopback), in three setups in one run:
//! a single nats-server in `fast` mode, a single one in `durable` mode, and a three-node
//! cluster (durable, every stream on three replicas, two scorers as `just up-cluster` runs
//! it). The single-node setups run one scorer, as `just up` does. For each setup:
//!
//! 0. Warm-up: smtp-source sends POSTERN_BENCH_E2E_WARMUP (default 500) messages and the
//!    bench waits until the projector has folded them; not measured (a scorer that has just
//!    started builds its regexes' lazy DFAs on its first messages; deployments run warm).
//! 1. Highest rate: Postfix's smtp-source sends POSTERN_BENCH_E2E_MESSAGES (default 1,000)
//!    messages of 20 KB over 8 sessions as fast as ingest takes them; measured: accepted per
//!    second (SMTP), and end to end: messages per second from the first send until the
//!    projector has folded every disposition (its MAIL_EVENTS checkpoint, read from
//!    /api/v1/health).
//!    Also the CPU time each component (ingest, the scorers, the projector, the
//!    nats-servers) spent in that phase, per message, from /proc: where the time goes.
//! 2. A fixed rate: Python's smtplib offers POSTERN_BENCH_E2E_RATE messages per second
//!    (default 500, the rate the issue sets the latency target at) of 20 KB for
//!    POSTERN_BENCH_E2E_SECONDS (default 10) over POSTERN_BENCH_E2E_SENDERS sessions (default
//!    [`SENDERS`]; one session waits for each 250 before its next message, so alone it
//!    offers no more than the round trip allows), noting when each 250 came; a watcher
//!    reads the projector's checkpoint every 10 ms; a message is visible when the
//!    checkpoint passes its disposition's sequence.
//!    Measured: the rate the 250s came at (a setup slower than the offered rate holds the
//!    senders back) and the time from the 250 to visible, p50 / p99 / max.
//!
//! In the same run, as this machine's own limits: ingest alone (nats-server `fast`, no scorer
//! or projector) and Postfix's smtp-sink (accepts and drops), with the same smtp-source load;
//! the end-to-end rates are printed as ratios to both. The last line is JSON. Everything
//! runs on 127.0.0.1 and stops by itself (bounded counts and time).

use anyhow::{Context, Result, bail, ensure};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use testkit::jetstream::{postern_id_of, read_stream};
use testkit::load::{Offer, SteadyLoad};
use testkit::nats::{Durability, NatsServer};
use testkit::pipeline::{ClusterPipeline, JOURNAL, Pipeline, checkpoints};
use testkit::process::Service;
use testkit::smtp::run_smtp_source;
use testkit::{free_port, wait_for_port};

const BODY: usize = 20_000;
const SESSIONS: &str = "8";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Sessions the fixed rate is offered over, unless POSTERN_BENCH_E2E_SENDERS says.
const SENDERS: u32 = 4;

/// What one setup measured.
struct Figures {
    accepted_per_s: f64,
    e2e_per_s: f64,
    /// The fixed-rate phase: the rate its 250s came at, first to last.
    fixed_accepted_per_s: f64,
    visible_ms: Percentiles,
    /// CPU milliseconds per message of each component during the highest-rate phase.
    cpu_ms_per_message: Vec<(&'static str, f64)>,
}

struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
    count: usize,
}

fn percentiles(mut values: Vec<f64>) -> Result<Percentiles> {
    ensure!(!values.is_empty(), "no latency was measured");
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1];
    Ok(Percentiles { p50: at(0.50), p99: at(0.99), max: values[values.len() - 1], count: values.len() })
}

fn epoch_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// smtp-source against `addr`: `count` messages of 20 KB; returns the elapsed time.
fn smtp_source(addr: SocketAddr, count: usize) -> Result<Duration> {
    let started = Instant::now();
    let run = run_smtp_source(
        addr,
        &[
            "-s",
            SESSIONS,
            "-d",
            "-m",
            &count.to_string(),
            "-l",
            &BODY.to_string(),
            "-f",
            "bench@bench.example",
            "-t",
            JOURNAL,
        ],
    )
    .map(|run| (run, started.elapsed()))?;
    let (run, elapsed) = run;
    ensure!(
        run.refused.is_empty() && run.other_errors.is_empty(),
        "smtp-source: refused {:?}, errors {:?}",
        run.refused.first(),
        run.other_errors.first()
    );
    Ok(elapsed)
}

/// The pipeline under test: where to send and where to look.
struct Target {
    smtp: SocketAddr,
    http: SocketAddr,
    nats_url: String,
    /// Each component's processes (nats-server: every node).
    components: Vec<(&'static str, Vec<u32>)>,
}

impl Target {
    /// The target of a started pipeline: its services (each counted under its name, as
    /// `scorer` for every scorer) and its nats-servers' process ids.
    fn of<'s>(
        smtp: SocketAddr,
        http: SocketAddr,
        nats_url: String,
        services: impl IntoIterator<Item = &'s Service>,
        nats_pids: Vec<u32>,
    ) -> Result<Target> {
        let mut components: Vec<(&'static str, Vec<u32>)> =
            ["ingest", "scorer", "projector"].into_iter().map(|c| (c, Vec::new())).collect();
        for service in services {
            let pid = service.pid().with_context(|| format!("{} is not running", service.name))?;
            let (_, pids) = components
                .iter_mut()
                .find(|(c, _)| service.name.starts_with(c))
                .with_context(|| format!("{}: not a component of the pipeline", service.name))?;
            pids.push(pid);
        }
        components.push(("nats-server", nats_pids));
        Ok(Target { smtp, http, nats_url, components })
    }

    /// CPU seconds each component has used so far.
    fn cpu_seconds(&self) -> Result<Vec<f64>> {
        self.components
            .iter()
            .map(|(_, pids)| pids.iter().map(|pid| testkit::process::cpu_seconds_of(*pid)).sum::<Result<f64>>())
            .collect()
    }
}

/// The run's settings (POSTERN_BENCH_E2E_*).
#[derive(Debug, Clone, Copy)]
struct Settings {
    /// Messages sent before measuring, not measured.
    warmup: usize,
    /// Messages of the highest-rate phase.
    messages: usize,
    /// The fixed rate (messages a second), for `seconds`, over `senders` sessions.
    rate: u32,
    seconds: u64,
    senders: u32,
}

/// Runs both phases against a started pipeline.
fn measure(name: &str, target: &Target, settings: Settings, work: &std::path::Path) -> Result<Figures> {
    let Settings { warmup, messages, rate, seconds, senders } = settings;
    // 0. Warm-up, not measured: a scorer that has just started builds its regexes' lazy
    // DFAs and its threads' caches on the first messages (a cold thousand cost it 6 to 7 ms
    // each, a thousand after the warm-up about 4); a deployment's scorers run warm.
    if warmup > 0 {
        let folded_before = checkpoints(target.http)?.1;
        smtp_source(target.smtp, warmup)?;
        testkit::eventually(Duration::from_secs(600), &format!("{name}: the warm-up folded"), || {
            Ok((checkpoints(target.http)?.1 >= folded_before + warmup as u64).then_some(()))
        })?;
    }

    // 1. The highest rate.
    let folded_before = checkpoints(target.http)?.1;
    let cpu_before = target.cpu_seconds()?;
    let started = Instant::now();
    let smtp_elapsed = smtp_source(target.smtp, messages)?;
    testkit::eventually(Duration::from_secs(900), &format!("{name}: every disposition folded"), || {
        Ok((checkpoints(target.http)?.1 >= folded_before + messages as u64).then_some(()))
    })?;
    let e2e_elapsed = started.elapsed();
    let cpu_ms_per_message = target
        .components
        .iter()
        .zip(target.cpu_seconds()?.iter().zip(&cpu_before))
        .map(|((component, _), (after, before))| (*component, (after - before) * 1000.0 / messages as f64))
        .collect();

    // 2. A fixed rate, with the time from each 250 to its disposition being visible.
    let folded_before = checkpoints(target.http)?.1;
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (http, watching) = (target.http, watching.clone());
        std::thread::spawn(move || {
            let mut timeline: Vec<(f64, u64)> = Vec::new();
            while watching.load(Ordering::Relaxed) {
                if let Ok((_, folded)) = checkpoints(http)
                    && timeline.last().is_none_or(|(_, last)| folded > *last)
                {
                    timeline.push((epoch_seconds(), folded));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            timeline
        })
    };
    // The rate split over the senders (the first ones take the remainder).
    let senders = senders.min(rate);
    let mut loads = Vec::new();
    for k in 0..senders {
        let share = rate / senders + u32::from(k < rate % senders);
        let tag = format!("e2e-{name}-{k}");
        let offer =
            Offer { bytes: BODY, ..Offer::new(&tag, (u64::from(share) * seconds) as usize, share, seconds + 60) };
        loads.push(SteadyLoad::start(target.smtp, &offer, &work.join(format!("fixed-{name}-{k}.jsonl")))?);
    }
    let mut sent = Vec::new();
    for load in loads {
        sent.extend(load.finish()?);
    }
    let count = sent.len();
    ensure!(sent.iter().all(|s| s.queued.is_some()), "{name}: a message of the fixed-rate phase was not accepted");
    let accepted_at: Vec<f64> = sent.iter().filter_map(|s| s.accepted_at).collect();
    let span =
        accepted_at.iter().copied().fold(f64::MIN, f64::max) - accepted_at.iter().copied().fold(f64::MAX, f64::min);
    let fixed_accepted_per_s = if span > 0.0 { (count - 1) as f64 / span } else { 0.0 };
    testkit::eventually(Duration::from_secs(600), &format!("{name}: the fixed-rate dispositions folded"), || {
        Ok((checkpoints(target.http)?.1 >= folded_before + count as u64).then_some(()))
    })?;
    std::thread::sleep(Duration::from_millis(50));
    watching.store(false, Ordering::Relaxed);
    let timeline = watcher.join().map_err(|_| anyhow::anyhow!("the watcher panicked"))?;

    // Each message's disposition: its sequence in MAIL_EVENTS.
    let mut disposition_seq: HashMap<String, u64> = HashMap::new();
    for m in read_stream(&target.nats_url, "MAIL_EVENTS")?.iter().filter(|m| m.seq > folded_before) {
        if m.subject.starts_with("mail.disposition.")
            && let Some((_, id)) = postern_id_of(&m.payload)
        {
            disposition_seq.entry(id).or_insert(m.seq);
        }
    }
    let mut latencies = Vec::with_capacity(sent.len());
    for s in &sent {
        let (Some(id), Some(at)) = (s.queued.as_deref(), s.accepted_at) else { continue };
        let seq = *disposition_seq.get(id).with_context(|| format!("{name}: no disposition for {id}"))?;
        let visible = timeline
            .iter()
            .find(|(_, folded)| *folded >= seq)
            .map(|(t, _)| *t)
            .with_context(|| format!("{name}: the watcher never saw sequence {seq}"))?;
        latencies.push(((visible - at) * 1000.0).max(0.0));
    }
    Ok(Figures {
        accepted_per_s: messages as f64 / smtp_elapsed.as_secs_f64(),
        e2e_per_s: messages as f64 / e2e_elapsed.as_secs_f64(),
        fixed_accepted_per_s,
        visible_ms: percentiles(latencies)?,
        cpu_ms_per_message,
    })
}

/// ingest alone (fast nats-server, nothing reading the stream) and smtp-sink, with the same
/// smtp-source load: (ingest msg/s, sink msg/s).
fn limits(messages: usize, work: &std::path::Path) -> Result<(f64, f64)> {
    let nats = NatsServer::start_with(Durability::Fast)?;
    let smtp = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = work.join("ingest-alone.toml");
    std::fs::write(
        &config,
        format!("listen = \"{smtp}\"\nnats_url = \"{}\"\nmax_connections_per_ip = 64\n", nats.url()),
    )?;
    let ingest = Service::start("ingest-alone", "ingest", &["--config", config.to_str().context("path")?], work)?;
    wait_for_port(smtp, Duration::from_secs(30)).with_context(|| ingest.log())?;
    smtp_source(smtp, 100)?;
    let ingest_rate = messages as f64 / smtp_source(smtp, messages)?.as_secs_f64();
    drop(ingest);

    let sink = testkit::smtp::SmtpSink::start()?;
    smtp_source(sink.addr, 100)?;
    let sink_rate = messages as f64 / smtp_source(sink.addr, messages)?.as_secs_f64();
    Ok((ingest_rate, sink_rate))
}

fn round(x: f64) -> f64 {
    round_to(x, 10.0)
}

fn round_to(x: f64, per_unit: f64) -> f64 {
    (x * per_unit).round() / per_unit
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn main() -> Result<()> {
    if std::env::args().len() > 1 {
        bail!(
            "usage: bench_e2e  (settings: POSTERN_BENCH_E2E_WARMUP, POSTERN_BENCH_E2E_MESSAGES, POSTERN_BENCH_E2E_RATE, POSTERN_BENCH_E2E_SECONDS, POSTERN_BENCH_E2E_SENDERS, POSTERN_BENCH_E2E_SCORING_THREADS)"
        );
    }
    let warmup: usize = env_or("POSTERN_BENCH_E2E_WARMUP", 500);
    let messages: usize = env_or("POSTERN_BENCH_E2E_MESSAGES", 1_000);
    let rate: u32 = env_or("POSTERN_BENCH_E2E_RATE", 500);
    let seconds: u64 = env_or("POSTERN_BENCH_E2E_SECONDS", 10);
    let senders: u32 = env_or("POSTERN_BENCH_E2E_SENDERS", SENDERS);
    ensure!(messages > 0 && rate > 0 && seconds > 0 && senders > 0, "the settings must be positive");
    let settings = Settings { warmup, messages, rate, seconds, senders };
    if !testkit::bin_dir()?.ends_with("release") {
        eprintln!("warning: a debug build; run `just bench-e2e` for release figures");
    }
    let work = tempfile::Builder::new().prefix("postern-bench-e2e-").tempdir()?;
    let (ingest_alone, sink) = limits(messages, work.path())?;
    println!(
        "ingest alone {ingest_alone:.0} msg/s, smtp-sink {sink:.0} msg/s (20 KB, smtp-source, {SESSIONS} sessions)"
    );

    let mut json = serde_json::Map::new();
    json.insert("ingest_alone_msgs_per_s".into(), round(ingest_alone).into());
    json.insert("sink_msgs_per_s".into(), round(sink).into());
    json.insert("messages".into(), messages.into());
    json.insert("fixed_rate_msgs_per_s".into(), rate.into());
    println!(
        "{:<8} {:>12} {:>10} {:>9} {:>8} {:>16} {:>9} {:>9} {:>9}",
        "setup",
        "accepted/s",
        "e2e/s",
        "/ingest",
        "/sink",
        format!("at {rate}/s: got"),
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    // The scorers' `scoring_threads` (unset: their default) when POSTERN_BENCH_E2E_SCORING_THREADS
    // says, beside the `ack_wait` the pipeline's scorers have otherwise.
    let scorer_extra = std::env::var("POSTERN_BENCH_E2E_SCORING_THREADS")
        .ok()
        .map(|n| {
            n.parse::<usize>()
                .context("POSTERN_BENCH_E2E_SCORING_THREADS: a number")
                .map(|n| format!("ack_wait = \"10s\"\nscoring_threads = {n}\n"))
        })
        .transpose()?
        .unwrap_or_default();
    let mut cpu_lines = Vec::new();
    for setup in ["fast", "durable", "cluster"] {
        let figures = match setup {
            "fast" | "durable" => {
                let durability = if setup == "fast" { Durability::Fast } else { Durability::Durable };
                let p = Pipeline::start_on_configured(
                    NatsServer::start_with(durability)?,
                    "max_connections_per_ip = 64\n",
                    &scorer_extra,
                    "",
                )?;
                let nats = vec![p.nats.pid().context("nats-server is not running")?];
                let target = Target::of(p.smtp, p.http, p.nats.url(), [&p.ingest, &p.scorer, &p.projector], nats)?;
                measure(setup, &target, settings, work.path()).with_context(|| p.logs())?
            }
            _ => {
                let p = ClusterPipeline::start_with_scorer_config(Durability::Durable, &scorer_extra)?;
                let services = std::iter::once(&p.ingest).chain(&p.scorers).chain([&p.projector]);
                let target = Target::of(p.smtp, p.http, p.cluster.url(), services, p.cluster.pids())?;
                measure(setup, &target, settings, work.path()).with_context(|| p.logs())?
            }
        };
        let v = &figures.visible_ms;
        println!(
            "{setup:<8} {:>12.0} {:>10.1} {:>9.3} {:>8.3} {:>16.0} {:>9.0} {:>9.0} {:>9.0}",
            figures.accepted_per_s,
            figures.e2e_per_s,
            figures.e2e_per_s / ingest_alone,
            figures.e2e_per_s / sink,
            figures.fixed_accepted_per_s,
            v.p50,
            v.p99,
            v.max
        );
        json.insert(format!("accepted_msgs_per_s_{setup}"), round(figures.accepted_per_s).into());
        json.insert(format!("e2e_msgs_per_s_{setup}"), round(figures.e2e_per_s).into());
        json.insert(
            format!("e2e_to_ingest_ratio_{setup}"),
            ((figures.e2e_per_s / ingest_alone * 1000.0).round() / 1000.0).into(),
        );
        json.insert(
            format!("e2e_to_sink_ratio_{setup}"),
            ((figures.e2e_per_s / sink * 1000.0).round() / 1000.0).into(),
        );
        json.insert(format!("fixed_rate_accepted_msgs_per_s_{setup}"), round(figures.fixed_accepted_per_s).into());
        json.insert(format!("visible_p50_ms_{setup}"), round(v.p50).into());
        json.insert(format!("visible_p99_ms_{setup}"), round(v.p99).into());
        json.insert(format!("visible_max_ms_{setup}"), round(v.max).into());
        json.insert(format!("visible_count_{setup}"), v.count.into());
        for (component, ms) in &figures.cpu_ms_per_message {
            json.insert(format!("cpu_ms_per_msg_{setup}_{}", component.replace('-', "_")), round_to(*ms, 100.0).into());
        }
        cpu_lines.push(format!(
            "{setup:<8} {}, in all {:.2} ms",
            figures.cpu_ms_per_message.iter().map(|(c, ms)| format!("{c} {ms:.2}")).collect::<Vec<_>>().join(", "),
            figures.cpu_ms_per_message.iter().map(|(_, ms)| ms).sum::<f64>()
        ));
    }
    println!("CPU milliseconds per message at the highest rate (this machine has {} cores):", cores());
    for line in &cpu_lines {
        println!("{line}");
    }
    println!("{}", serde_json::Value::Object(json));
    Ok(())
}
