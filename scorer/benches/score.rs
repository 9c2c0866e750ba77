//! Scoring throughput on one core over the labelled corpus (POSTERN_CORPUS or
//! ../shared/corpus): parse, every check (SpamAssassin's rules included), the learned
//! combination, the verdict. Authentication is left out (its
//! cost is DNS, not CPU). Reports messages/s through criterion's throughput in bytes and
//! prints messages/s and MB/s once more at the end.

use criterion::{Criterion, Throughput, criterion_group};
use scorer::analysis::MessageFacts;
use scorer::score::score;
use std::time::Instant;

fn corpus() -> Option<Vec<Vec<u8>>> {
    let dir = testkit::corpus_dir()?;
    let files = scorer::eval::find_messages(&dir).ok()?;
    Some(files.iter().filter_map(|f| std::fs::read(f).ok()).collect())
}

fn bench(c: &mut Criterion) {
    let Some(messages) = corpus() else {
        eprintln!("SKIPPED: no corpus (set POSTERN_CORPUS or put it at ../shared/corpus)");
        return;
    };
    let bytes: usize = messages.iter().map(Vec::len).sum();
    // As the scorer runs by default: SpamAssassin's rules and the shipped combination.
    let detection = scorer::config::Config::default().detection().expect("SpamAssassin rules (scripts/setup.sh)");
    let facts = MessageFacts {
        envelope_sender: "sender@example.com".into(),
        spamassassin: detection.spamassassin.clone(),
        combination: detection.combination.clone(),
        ..Default::default()
    };
    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function(format!("corpus ({} messages, {:.1} MB)", messages.len(), bytes as f64 / 1e6), |b| {
        b.iter(|| {
            for m in &messages {
                std::hint::black_box(score(m, &facts));
            }
        })
    });
    group.finish();

    // A plain figure too: three passes, the best.
    let best = (0..3)
        .map(|_| {
            let started = Instant::now();
            for m in &messages {
                std::hint::black_box(score(m, &facts));
            }
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    println!(
        "scorer: {:.0} messages/s, {:.1} MB/s on one core ({} messages, {:.1} MB)",
        messages.len() as f64 / best,
        bytes as f64 / best / 1e6,
        messages.len(),
        bytes as f64 / 1e6
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
