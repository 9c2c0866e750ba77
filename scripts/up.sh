#!/usr/bin/env bash
# Runs the whole pipeline locally with the default settings: nats-server (nats.conf, store in
# var/nats), ingest on 127.0.0.1:2525, one scorer, the projector (views in var/projector,
# API on 127.0.0.1:8025). Ctrl-C (or SIGTERM) stops them all cleanly. Logs go to var/log/.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/debug
for b in ingest scorer projector; do
  [ -x "$bin/$b" ] || { echo "up: $bin/$b is not built; run 'just build'" >&2; exit 1; }
done
nats_server=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$nats_server" ] || { echo "up: nats-server is not installed; run 'just setup'" >&2; exit 1; }
for port in 4222 2525 8025; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "up: port $port on 127.0.0.1 is already in use; stop what uses it first" >&2
    exit 1
  fi
done
mkdir -p var/log var/nats

# Each child runs in its own session, so Ctrl-C reaches only this script, which then
# stops them in order: services first (they drain), nats-server last.
pids=()
stop() {
  local code=$1
  trap - INT TERM EXIT
  echo
  echo "up: stopping (SIGTERM, waiting for each to drain)"
  # Services first, in reverse order, then nats-server once they have drained.
  for (( i=${#pids[@]}-1 ; i>=0 ; i-- )); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "up: stopped"
  exit "$code"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "up: nothing listens on port $1; see var/log/" >&2
  return 1
}

setsid "$nats_server" -c nats.conf >var/log/nats.log 2>&1 &
pids+=($!)
wait_port 4222
setsid "$bin/ingest" >var/log/ingest.log 2>&1 &
pids+=($!)
wait_port 2525
# Local runs authenticate offline unless POSTERN_DNS=system is set: no DNS traffic leaves
# the machine while you try Postern with local mail.
POSTERN_DNS="${POSTERN_DNS:-offline}" setsid "$bin/scorer" run >var/log/scorer.log 2>&1 &
pids+=($!)
setsid "$bin/projector" serve >var/log/projector.log 2>&1 &
pids+=($!)
wait_port 8025

cat <<'MSG'
up: Postern is running (logs in var/log/).
  SMTP   127.0.0.1:2525   journal address journal@postern.localhost (tenant "default")
  API    http://127.0.0.1:8025/api/v1/health
Try, from another terminal:
  swaks --server 127.0.0.1:2525 --to journal@postern.localhost --header 'Message-ID: <hello@example.com>'
  ./target/debug/projector trace --message-id '<hello@example.com>'
Ctrl-C stops everything.
MSG
# Wait until a child exits on its own (a failure) or the user presses Ctrl-C.
wait -n "${pids[@]}"
echo "up: a process exited on its own; see var/log/" >&2
stop 1
