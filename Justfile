# Postern's tasks. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# sccache caches the C++ build of rocksdb across clean target folders, where installed.
export RUSTC_WRAPPER := `command -v sccache || true`

default:
    @just --list

# Install what Postern needs on a Debian machine, as root (idempotent).
setup:
    bash scripts/setup.sh

# Build the three services.
build:
    cargo build --workspace --bins

# Run the whole pipeline locally, supervised: nats-server (durable; POSTERN_NATS_DURABILITY=fast for the other mode), ingest (127.0.0.1:2525), scorer, projector (127.0.0.1:8025). Ctrl-C stops them all.
up: build
    bash scripts/up.sh

# The same on a local three-node JetStream cluster (nats-cluster/: clients on 127.0.0.1:4222-4224), every stream on three replicas, two scorers; state under var/cluster. Ctrl-C stops them all.
up-cluster: build
    bash scripts/up.sh --cluster

# Run every test: unit tests and the pipeline tests against real nats-server, RocksDB and SMTP clients.
test: build
    cargo nextest run --workspace --no-fail-fast

# Show one message by its Message-ID, from the running projector.
trace message_id:
    ./target/debug/projector trace --message-id '{{message_id}}'

# Benchmark ingest against Postfix's smtp-sink with smtp-source (5, 20, 100 KB), nats-server in fast and in durable mode (args: --durability fast|durable); last line is JSON.
bench-ingest *args:
    cargo build --release -p postern-ingest -p testkit
    ./target/release/bench_ingest {{args}}

# Score the labelled corpus offline (POSTERN_CORPUS or ../shared/corpus): leave one source out (the figure that counts), then 5 random folds for comparison.
eval:
    cargo build --release -p postern-scorer --bin scorer
    ./target/release/scorer eval --corpus "${POSTERN_CORPUS:-../shared/corpus}" --group-by source
    ./target/release/scorer eval --corpus "${POSTERN_CORPUS:-../shared/corpus}" --folds 5

# Retrain the shipped combination model (scorer/model/combination.json) on the corpus; commit it with the corpus it names.
train-model version:
    cargo build --release -p postern-scorer --bin scorer
    ./target/release/scorer model train --corpus "${POSTERN_CORPUS:-../shared/corpus}" --out scorer/model/combination.json --version '{{version}}'

# List which SpamAssassin rules run and which cannot, with the reasons.
rules-check:
    cargo build -p postern-scorer --bin scorer
    ./target/debug/scorer rules check --verbose

# How faithfully the scorer runs SpamAssassin's rules: real SpamAssassin (one process, about 5 minutes) and the scorer on every corpus file, rule hits compared; last line is JSON. `bash scripts/sa-agreement.sh CORPUS 8` takes every 8th file.
sa-agreement:
    bash scripts/sa-agreement.sh

# Scorer against rspamd (network checks off) on the same corpus messages, per core; last line is JSON.
bench-scorer:
    bash scripts/bench-scorer.sh

# Projector at scale: the events of 1,000,000 messages into a fresh nats-server; fold rate, rebuild time, database size, search and trace latency; last line is JSON.
bench-projector:
    cargo build --release -p postern-projector -p testkit --bins
    ./target/release/bench_projector

# Scoring throughput with one and with two scorer processes on the shared consumer (corpus messages through ingest first; POSTERN_BENCH_MESSAGES, default 3,000): msg/s, msg per CPU second, the ratio; last line is JSON.
bench-scale:
    cargo build --release -p postern-scorer -p postern-ingest -p testkit --bins
    ./target/release/scorer rules compile
    ./target/release/bench_scale

# The whole pipeline, release build: single node fast, single node durable, three-node cluster; highest end-to-end rate (smtp-source, 20 KB) and, at a fixed rate, the time from the 250 to the disposition being visible (p50/p99/max); ratios to ingest alone and smtp-sink; last line is JSON. Settings: POSTERN_BENCH_E2E_MESSAGES (1000), POSTERN_BENCH_E2E_RATE (500, over 4 sessions), POSTERN_BENCH_E2E_SECONDS (10).
bench-e2e:
    cargo build --release -p postern-ingest -p postern-scorer -p postern-projector -p testkit --bins
    ./target/release/scorer rules compile
    ./target/release/bench_e2e

# Scoring throughput on one core over the corpus (criterion).
bench-scorer-cpu:
    cargo bench -p postern-scorer --bench score

# Chaos, long: 3,000 messages offered at 25/s while ingest, the scorer, the projector and nats-server are killed in turn, a kill every 1 to 3 s (about two minutes); loses nothing, repeats nothing; prints a summary line. (The suite runs 400, a kill every 0.3 to 1.5 s.)
chaos messages="3000" seconds="900" pause_ms="1000-3000":
    cargo build --workspace --bins
    POSTERN_CHAOS_MESSAGES={{messages}} POSTERN_CHAOS_SECONDS={{seconds}} POSTERN_CHAOS_PAUSE_MS={{pause_ms}} cargo nextest run -p testkit --test chaos --no-capture chaos_loses_nothing

# The long chaos run on a three-node cluster with two scorers and the remediator (Dovecot):
# ingest, a scorer, the projector, the remediator and a cluster node killed in turn.
chaos-cluster messages="2000" seconds="900" pause_ms="1000-3000":
    cargo build --workspace --bins
    POSTERN_CHAOS_MESSAGES={{messages}} POSTERN_CHAOS_SECONDS={{seconds}} POSTERN_CHAOS_PAUSE_MS={{pause_ms}} cargo nextest run -p testkit --test chaos --no-capture chaos_on_a_cluster
