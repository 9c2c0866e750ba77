#!/usr/bin/env bash
# Side by side: Postern's scorer and rspamd (Debian's, network checks off) on the same
# corpus messages, in one run. Rates are messages per CPU second (per core): the scorer on
# one thread, rspamd's one normal worker fed by rspamc. The last line is JSON.
# Usage: scripts/bench-scorer.sh [CORPUS] (default: $POSTERN_CORPUS or ../shared/corpus)
set -euo pipefail
corpus="${1:-${POSTERN_CORPUS:-../shared/corpus}}"
[ -d "$corpus" ] || { echo "bench-scorer: no corpus at $corpus (set POSTERN_CORPUS)" >&2; exit 2; }
command -v rspamd >/dev/null || { echo "bench-scorer: rspamd is not installed (bash scripts/setup.sh)" >&2; exit 2; }
seconds="${BENCH_SECONDS:-10}"

cargo build --release -p postern-scorer --bin scorer >&2
# Hyperscan's databases, as a deployment has them (`scorer rules compile`, cached).
./target/release/scorer rules compile >&2
scorer_out="$(./target/release/scorer bench --corpus "$corpus" --seconds "$seconds")"
echo "$scorer_out" | head -n -1
scorer_rate="$(echo "$scorer_out" | tail -n 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["scorer_msgs_per_s"])')"

work="$(mktemp -d /tmp/postern-rspamd.XXXXXX)"
chmod 755 "$work"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cport="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/local.d" "$work/override.d" "$work/db" "$work/run" "$work/log"
chown -R _rspamd:_rspamd "$work/db" "$work/run" "$work/log"
cat > "$work/override.d/worker-normal.inc" <<CONF
bind_socket = "127.0.0.1:$port";
count = 1;
task_timeout = 30s;
CONF
cat > "$work/override.d/worker-controller.inc" <<CONF
bind_socket = "127.0.0.1:$cport";
count = 1;
CONF
echo 'enabled = false;' > "$work/override.d/worker-proxy.inc"
echo 'enabled = false;' > "$work/override.d/worker-fuzzy.inc"
# Network checks off: no DNS lists, no DNS-backed authentication, no Redis, no external services.
for module in rbl surbl emails spf dkim dmarc arc asn fuzzy_check neural mx_check greylist ratelimit replies \
    history_redis dcc reputation bimi clickhouse elastic metadata_exporter external_services antivirus p0f \
    url_redirector aws_s3 dkim_signing milter_headers spamtrap; do
  echo 'enabled = false;' > "$work/local.d/$module.conf"
done
cat > "$work/local.d/options.inc" <<CONF
dns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 1; }
CONF
cat > "$work/local.d/logging.inc" <<CONF
level = "error";
CONF
cat > "$work/local.d/classifier-bayes.conf" <<CONF
backend = "sqlite3";
CONF
rspamd -f -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf \
  --var "LOCAL_CONFDIR=$work" --var "DBDIR=$work/db" --var "RUNDIR=$work/run" --var "LOGDIR=$work/log" \
  > "$work/stdout.log" 2>&1 &
main_pid=$!
cleanup() { kill "$main_pid" 2>/dev/null || true; wait "$main_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  if rspamc -h "127.0.0.1:$port" -t 5 ping >/dev/null 2>&1 || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.2
done
sleep 1

cpu_of_rspamd() {
  # utime+stime of every rspamd process (clock ticks), as seconds.
  local total=0
  for pid in "$main_pid" $(pgrep -P "$main_pid" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    ticks="$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")"
    total=$((total + ticks))
  done
  echo "$total"
}

mapfile -t files < <(find "$corpus" -name '*.eml' | sort)
# Warm-up pass, not measured.
rspamc -h "127.0.0.1:$port" -n 4 -t 30 "${files[@]}" >/dev/null 2>&1 || true
before="$(cpu_of_rspamd)"
start="$(date +%s.%N)"
passes=0
while :; do
  rspamc -h "127.0.0.1:$port" -n 4 -t 30 "${files[@]}" > "$work/rspamc.out" 2>&1 || true
  passes=$((passes + 1))
  now="$(date +%s.%N)"
  python3 -c "import sys; sys.exit(0 if $now - $start >= $seconds else 1)" && break
done
end="$(date +%s.%N)"
after="$(cpu_of_rspamd)"
scanned="$(grep -c '^Action:' "$work/rspamc.out" || true)"
[ "$scanned" -gt 0 ] || { echo "bench-scorer: rspamd scanned nothing:"; tail -20 "$work/rspamc.out"; tail -20 "$work/stdout.log"; exit 1; }

python3 - "$passes" "${#files[@]}" "$before" "$after" "$start" "$end" "$scorer_rate" "$scanned" <<'PY'
import json, sys
passes, files, before, after, start, end, scorer, scanned = sys.argv[1:]
messages = int(passes) * int(files)
cpu = (int(after) - int(before)) / 100.0
wall = float(end) - float(start)
rspamd = messages / cpu if cpu > 0 else float("nan")
print(f"rspamd: {messages} messages ({files} files x {passes}; last pass {scanned} scanned) in {wall:.2f} s wall, "
      f"{cpu:.2f} s CPU ({cpu / messages * 1000:.2f} ms per message): {rspamd:.0f} msg/s per core")
ratio = float(scorer) / rspamd
print(f"scorer / rspamd per core: {ratio:.1f}x")
print(json.dumps({"scorer_msgs_per_s": float(scorer), "rspamd_msgs_per_s": round(rspamd, 1), "ratio": round(ratio, 2)}))
PY
