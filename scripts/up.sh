#!/usr/bin/env bash
# Runs the whole pipeline locally with the default settings: nats-server (nats.conf: durable,
# store in var/nats), ingest on 127.0.0.1:2525, one scorer, the projector (views in
# var/projector, API on 127.0.0.1:8025). Logs are appended to var/log/<name>.log.
#
# With --cluster (`just up-cluster`): a three-node JetStream cluster instead (nats-cluster/:
# clients on 127.0.0.1:4222-4224, routes on 6222-6224, stores in var/cluster/n1..n3), every
# stream and bucket on three replicas, and two scorers; everything else under var/cluster.
#
# It supervises: a process that exits (a crash, a kill -9) is restarted with backoff (1 s,
# doubling to 30 s; back to 1 s after a minute of running) and the others go on; each restart
# is logged to var/log/up.log and stderr. Ctrl-C (or SIGTERM) stops them all cleanly: the
# services first (each drains), nats-server last.
#
# Environment (all optional):
#   POSTERN_NATS_DURABILITY  durable (default: fsync before each acknowledgement, nats.conf)
#                            or fast (the server's default, nats-fast.conf)
#   POSTERN_VAR_DIR          where the store, views, logs and pid files go (default var,
#                            var/cluster with --cluster)
#   POSTERN_NATS_PORT        nats-server's client port on 127.0.0.1 (default 4222; the
#                            cluster's ports are those of nats-cluster/)
#   POSTERN_INGEST_LISTEN    SMTP address (default 127.0.0.1:2525)
#   POSTERN_HTTP_LISTEN      the projector's API address (default 127.0.0.1:8025; also its
#                            /metrics, /health and /ready)
#   POSTERN_INGEST_OPS_LISTEN  ingest's /metrics, /health and /ready (default 127.0.0.1:9181)
#   POSTERN_SCORER_OPS_PORT  the first scorer's /metrics port on 127.0.0.1 (default 9182; the
#                            second scorer of --cluster takes the next)
#   POSTERN_BIN_DIR          where the built binaries are (default $CARGO_TARGET_DIR/debug,
#                            else target/debug)
#   POSTERN_DNS              the scorer's resolver: offline (default here) or system
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "up: $*" >&2; exit 1; }

cluster=0
case "${1:-}" in
  --cluster) cluster=1 ;;
  "") ;;
  *) die "unknown argument '$1' (the only one is --cluster)" ;;
esac

bin=${POSTERN_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
if [ "$cluster" = 1 ]; then var=${POSTERN_VAR_DIR:-var/cluster}; else var=${POSTERN_VAR_DIR:-var}; fi
nats_port=${POSTERN_NATS_PORT:-4222}
smtp_listen=${POSTERN_INGEST_LISTEN:-127.0.0.1:2525}
http_listen=${POSTERN_HTTP_LISTEN:-127.0.0.1:8025}
ingest_ops=${POSTERN_INGEST_OPS_LISTEN:-127.0.0.1:9181}
scorer_ops_port=${POSTERN_SCORER_OPS_PORT:-9182}
case "${POSTERN_NATS_DURABILITY:-durable}" in
  durable) nats_conf=nats.conf ;;
  fast) nats_conf=nats-fast.conf ;;
  *) die "POSTERN_NATS_DURABILITY must be durable or fast, not '${POSTERN_NATS_DURABILITY}'" ;;
esac

for b in postern ingest scorer projector; do
  [ -x "$bin/$b" ] || die "$bin/$b is not built; run 'just build'"
done
# The release setup installs (scripts/setup.sh); Debian's 2.9 cannot fsync before it
# acknowledges and refuses nats.conf.
nats_server=/usr/local/bin/nats-server
[ -x "$nats_server" ] || nats_server=$(command -v nats-server) || die "nats-server is not installed; run 'just setup'"
case "$("$nats_server" --version 2>/dev/null)" in
  "nats-server: v2.1"[0-9].*) ;;
  *) die "$nats_server is $("$nats_server" --version 2>&1); Postern needs 2.10 or newer (2.15.1): run 'just setup'" ;;
esac
port_of() { echo "${1##*:}"; }
if [ "$cluster" = 1 ]; then
  nats_ports=(4222 4223 4224 6222 6223 6224)
else
  nats_ports=("$nats_port")
fi
for port in "${nats_ports[@]}" "$(port_of "$smtp_listen")" "$(port_of "$http_listen")"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is already in use; stop what uses it first"
  fi
done
mkdir -p "$var/log" "$var/run"

if [ "$cluster" = 1 ]; then
  # The client tries the nodes in turn and moves to another when one goes away; every
  # stream and bucket the services create is kept on the three nodes.
  export NATS_URL="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
  export POSTERN_NATS_REPLICAS=3
else
  export NATS_URL="nats://127.0.0.1:$nats_port"
fi
export POSTERN_INGEST_LISTEN="$smtp_listen" POSTERN_HTTP_LISTEN="$http_listen"
export POSTERN_PROJECTOR_DB="${POSTERN_PROJECTOR_DB:-$var/projector}"
# Local runs authenticate offline unless POSTERN_DNS=system is set: no DNS traffic leaves
# the machine while you try Postern with local mail.
export POSTERN_DNS="${POSTERN_DNS:-offline}"

say() { echo "up: $(date -u +%FT%TZ) $*" | tee -a "$var/log/up.log" >&2; }

# Runs one program in its own session (so Ctrl-C reaches only this script), restarts it when
# it exits, and on SIGTERM passes the signal on and waits for it to drain.
supervise() {
  local name=$1
  shift
  local child="" stopping=0 backoff=1 started code
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM
  # Ctrl-C reaches the whole process group: the supervisors leave it to the script, which
  # stops them in order with SIGTERM (a supervisor killed by SIGINT would leave its child,
  # in a session of its own, running).
  trap '' INT
  while :; do
    started=$SECONDS
    setsid "$@" >>"$var/log/$name.log" 2>&1 &
    child=$!
    echo "$child" >"$var/run/$name.pid"
    code=0
    wait "$child" || code=$?
    if [ "$stopping" = 1 ]; then
      # The trap interrupted the wait; wait again for the child to finish draining.
      wait "$child" 2>/dev/null || true
      rm -f "$var/run/$name.pid"
      exit 0
    fi
    [ $((SECONDS - started)) -ge 60 ] && backoff=1
    say "$name (pid $child) exited with status $code; restarting in ${backoff}s (log: $var/log/$name.log)"
    child=""
    sleep "$backoff" &
    wait $! || true
    [ "$stopping" = 1 ] && exit 0
    backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
  done
}

supervisors=()
stop() {
  local code=$1
  trap - INT TERM EXIT
  echo
  say "stopping (SIGTERM, waiting for each to drain)"
  # Services first, in reverse order, then nats-server once they have drained.
  for (( i=${#supervisors[@]}-1 ; i>=0 ; i-- )); do
    kill -TERM "${supervisors[$i]}" 2>/dev/null || true
    wait "${supervisors[$i]}" 2>/dev/null || true
  done
  say "stopped"
  exit "$code"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# Waits for something to listen on port $1, up to $2 seconds (15 by default).
wait_port() {
  for _ in $(seq 1 $(( ${2:-15} * 10 ))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on port $1; see $var/log/"
}

# Each server's store goes under $var: the chosen config with its store_dir set there (the
# server refuses -sd beside a store_dir of the file's); a single server's address and port
# come as flags, the cluster's from nats-cluster/.
abs_var=$(cd "$var" && pwd)
# A config with its store_dir set to $2 (and, in fast mode, without sync_interval), as $3,
# with nats-users.conf beside it (nats-server reads an include relative to the config).
node_config() {
  sed -e "s|^\([[:space:]]*store_dir:\).*|\1 \"$2\"|" \
    -e "s|^include \".*nats-users.conf\"|include \"nats-users.conf\"|" "$1" >"$3"
  grep -q "store_dir: \"$2\"" "$3" || die "$1 has no store_dir line to set"
  grep -q '^include "nats-users.conf"' "$3" || die "$1 does not include nats-users.conf"
  cp nats-users.conf "$(dirname "$3")/nats-users.conf"
  if [ "${POSTERN_NATS_DURABILITY:-durable}" = fast ]; then sed -i '/^[[:space:]]*sync_interval:/d' "$3"; fi
}
# Each component connects as its own NATS user (nats-users.conf): the keys are made once
# under $var/nats-keys and kept; nats-server reads the public ones from its environment.
keys=$abs_var/nats-keys
"$bin/postern" nats-keys --dir "$keys" >/dev/null || die "cannot make the NATS keys in $keys"
set -a
# shellcheck disable=SC1091
. "$keys/public-keys.env"
set +a
as() { echo "POSTERN_NATS_NKEY_FILE=$keys/$1.nk"; }

if [ "$cluster" = 1 ]; then
  say "starting the three-node cluster of nats-cluster/ (${POSTERN_NATS_DURABILITY:-durable}), stores in $abs_var/n1..n3"
  for n in 1 2 3; do
    mkdir -p "$var/n$n"
    node_config "nats-cluster/n$n.conf" "$abs_var/n$n" "$var/run/nats-n$n.conf"
    supervise "nats-n$n" "$nats_server" -c "$var/run/nats-n$n.conf" &
    supervisors+=($!)
  done
  for port in 4222 4223 4224; do wait_port "$port"; done
else
  mkdir -p "$var/nats"
  node_config "$nats_conf" "$abs_var/nats" "$var/run/nats.conf"
  say "starting with $nats_conf (${POSTERN_NATS_DURABILITY:-durable}), store in $abs_var/nats"
  supervise nats "$nats_server" -c "$var/run/nats.conf" -a 127.0.0.1 -p "$nats_port" &
  supervisors+=($!)
  wait_port "$nats_port"
fi
supervise ingest env "$(as ingest)" POSTERN_OPS_LISTEN="$ingest_ops" "$bin/ingest" &
supervisors+=($!)
# ingest listens once MAIL_RAW is ready: a new cluster elects its leaders first.
wait_port "$(port_of "$smtp_listen")" 60
# Hyperscan's databases of SpamAssassin's patterns: compiled once (about 45 s), then read
# by every scorer at start (without them the scorer runs the same rules, slower).
export POSTERN_HYPERSCAN_CACHE=${POSTERN_HYPERSCAN_CACHE:-$abs_var/hyperscan}
say "$("$bin/scorer" rules compile 2>&1 | tail -n 1)"
if [ "$cluster" = 1 ]; then
  for n in 1 2; do
    supervise "scorer-$n" env "$(as scorer)" POSTERN_OPS_LISTEN="127.0.0.1:$((scorer_ops_port + n - 1))" "$bin/scorer" run &
    supervisors+=($!)
  done
else
  supervise scorer env "$(as scorer)" POSTERN_OPS_LISTEN="127.0.0.1:$scorer_ops_port" "$bin/scorer" run &
  supervisors+=($!)
fi
supervise projector env "$(as projector)" "$bin/projector" serve &
supervisors+=($!)
wait_port "$(port_of "$http_listen")"

cat <<MSG
up: Postern is running$([ "$cluster" = 1 ] && echo " on a three-node cluster, two scorers") (logs in $var/log/, pids in $var/run/).
  SMTP   $smtp_listen   journal address journal@postern.localhost (tenant "default")
  API    http://$http_listen/api/v1/health
  console http://$http_listen/console/ (the API is open here: no tokens configured, no sign-in)
  ops    /metrics, /health, /ready on http://$ingest_ops (ingest), http://127.0.0.1:$scorer_ops_port (scorer), http://$http_listen (projector)
Try, from another terminal:
  swaks --server $smtp_listen --to journal@postern.localhost --header 'Message-Id: <hello@example.com>'
  $bin/projector trace --message-id '<hello@example.com>'
NATS: each component connects as its own user (nats-users.conf); the operator's commands
(scorer policy set, scorer train) need the admin key:
  POSTERN_NATS_NKEY_FILE=$keys/admin.nk $bin/scorer policy show --tenant default
Ctrl-C stops everything.
MSG
# The supervisors run until they are told to stop: wait returns early only when a signal
# arrives (the trap then stops everything), or when every supervisor is gone.
wait || true
say "every supervisor exited"
stop 1
