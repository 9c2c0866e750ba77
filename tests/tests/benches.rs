//! The benchmarks' short runs: each `just bench-*` binary run with a few messages, as the
//! suite's check that it still runs through the servers and reports what it promises (its
//! last line JSON, every figure a number, nothing lost). The figures of a short debug run
//! mean nothing and are not judged; `just bench-*` runs the long release ones.

use anyhow::{Context, Result, ensure};
use std::process::Command;

/// Runs a benchmark binary with `env`; its last stdout line as JSON.
fn run_bench(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let work = tempfile::tempdir()?;
    let out = Command::new(testkit::bin(name)?)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(work.path())
        .output()
        .with_context(|| format!("running {name}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "{name} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().with_context(|| format!("{name} printed nothing"))?;
    let json: serde_json::Value =
        serde_json::from_str(last).with_context(|| format!("{name}'s last line is not JSON: {last}"))?;
    json.as_object().cloned().with_context(|| format!("{name}'s last line is not a JSON object: {last}"))
}

/// The figure `key`, which must be a positive number.
fn positive(json: &serde_json::Map<String, serde_json::Value>, key: &str) -> Result<f64> {
    let value =
        json.get(key).and_then(serde_json::Value::as_f64).with_context(|| format!("no figure {key} in {json:?}"))?;
    ensure!(value > 0.0, "{key} is {value}");
    Ok(value)
}

#[test]
fn bench_e2e_short_run_reports_every_setup() -> Result<()> {
    // 20 a second for 2 s over the senders: 40 messages of the fixed rate each setup.
    let json = run_bench(
        "bench_e2e",
        &[],
        &[
            ("POSTERN_BENCH_E2E_WARMUP", "10"),
            ("POSTERN_BENCH_E2E_MESSAGES", "40"),
            ("POSTERN_BENCH_E2E_RATE", "20"),
            ("POSTERN_BENCH_E2E_SECONDS", "2"),
        ],
    )?;
    positive(&json, "ingest_alone_msgs_per_s")?;
    positive(&json, "sink_msgs_per_s")?;
    for setup in ["fast", "durable", "cluster"] {
        positive(&json, &format!("accepted_msgs_per_s_{setup}"))?;
        positive(&json, &format!("e2e_msgs_per_s_{setup}"))?;
        positive(&json, &format!("fixed_rate_accepted_msgs_per_s_{setup}"))?;
        let p50 = positive(&json, &format!("visible_p50_ms_{setup}"))?;
        let p99 = positive(&json, &format!("visible_p99_ms_{setup}"))?;
        let max = positive(&json, &format!("visible_max_ms_{setup}"))?;
        ensure!(p50 <= p99 && p99 <= max, "{setup}: percentiles out of order: {p50} / {p99} / {max}");
        // Every message of the fixed rate was accepted and seen visible.
        ensure!(json[&format!("visible_count_{setup}")] == 40, "{setup}: {json:?}");
        positive(&json, &format!("cpu_ms_per_msg_{setup}_scorer"))?;
    }
    Ok(())
}

#[test]
fn bench_ingest_short_run_stores_what_it_acknowledged() -> Result<()> {
    // The binary itself fails when MAIL_RAW does not hold every message answered 250.
    let json = run_bench("bench_ingest", &["--durability", "durable"], &[("POSTERN_BENCH_MESSAGES", "100")])?;
    for size in ["5k", "20k", "100k"] {
        positive(&json, &format!("durable_ingest_msgs_per_s_{size}"))?;
        positive(&json, &format!("durable_sink_msgs_per_s_{size}"))?;
        positive(&json, &format!("durable_ratio_{size}"))?;
    }
    Ok(())
}

#[test]
fn bench_projector_short_run_folds_and_answers() -> Result<()> {
    let json = run_bench("bench_projector", &[], &[("POSTERN_BENCH_MESSAGES", "2000")])?;
    ensure!(json["messages"] == 2000, "{json:?}");
    let events = positive(&json, "events")?;
    ensure!(events >= 4000.0, "a raw event and a disposition a message at least: {events}");
    for key in
        ["fold_events_per_s", "bare_read_events_per_s", "fold_ratio", "rebuild_s", "search_p99_ms", "trace_p99_ms"]
    {
        positive(&json, key)?;
    }
    Ok(())
}

#[test]
fn bench_scale_short_run_scores_with_one_and_two_scorers() -> Result<()> {
    // Corpus messages: a clone without the corpus has nothing to send (CI has it).
    if testkit::corpus_dir().is_none() {
        ensure!(
            std::env::var_os("CI").is_none(),
            "CI is set but the corpus is missing (POSTERN_CORPUS or ../shared/corpus)"
        );
        eprintln!("skipped: no corpus (POSTERN_CORPUS or ../shared/corpus)");
        return Ok(());
    }
    let json = run_bench("bench_scale", &[], &[("POSTERN_BENCH_MESSAGES", "60")])?;
    ensure!(json["messages"] == 60, "{json:?}");
    for key in [
        "scorer_1_msgs_per_s",
        "scorer_2_msgs_per_s",
        "scorer_1_msgs_per_cpu_s",
        "scorer_2_msgs_per_cpu_s",
        "scale_ratio",
    ] {
        positive(&json, key)?;
    }
    Ok(())
}
