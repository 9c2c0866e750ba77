#!/usr/bin/env bash
# How faithfully the scorer runs SpamAssassin's rules: real SpamAssassin (Debian's
# `spamassassin`, local tests only, no Bayes: what the scorer runs) and `scorer eval` score
# the same corpus files with the same rule files, and the rule hits are compared per file
# (rules the scorer lists as unable to run are left out of both). Prints the agreement
# (hits in both / hits in either), and the disagreements weighted by each rule's score,
# largest first. SpamAssassin takes about a second a message: the default sample is every
# 8th file of the manifest (308 of 2,467, about 6 minutes).
# Usage: scripts/sa-agreement.sh [CORPUS] [EVERY]   (default: $POSTERN_CORPUS or ../shared/corpus, 8)
set -euo pipefail
corpus="${1:-${POSTERN_CORPUS:-../shared/corpus}}"
every="${2:-8}"
[ -f "$corpus/MANIFEST.tsv" ] || { echo "sa-agreement: no corpus manifest at $corpus (set POSTERN_CORPUS)" >&2; exit 2; }
command -v spamassassin >/dev/null || { echo "sa-agreement: spamassassin is not installed (bash scripts/setup.sh)" >&2; exit 2; }
rules="${SA_RULES:-/usr/share/spamassassin}"

cargo build --release -p postern-scorer --bin scorer >&2
work="$(mktemp -d /tmp/postern-sa-agreement.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sample"
# The sample, as a corpus of its own (same labels, same relative paths).
awk -F'\t' -v every="$every" 'NR == 1 || (NR > 1 && NR % every == 0)' "$corpus/MANIFEST.tsv" > "$work/sample/MANIFEST.tsv"
tail -n +2 "$work/sample/MANIFEST.tsv" | cut -f1 | while read -r file; do
    mkdir -p "$work/sample/$(dirname "$file")"
    cp "$corpus/$file" "$work/sample/$file"
done
count="$(tail -n +2 "$work/sample/MANIFEST.tsv" | wc -l)"
echo "sa-agreement: $count files, SpamAssassin $(spamassassin --version | head -n 1 | awk '{print $3}') with $rules" >&2

# SpamAssassin: the rules that hit, from its X-Spam-Status header (local tests, no Bayes).
tail -n +2 "$work/sample/MANIFEST.tsv" | cut -f1 | while read -r file; do
    tests="$(timeout 120 spamassassin -t -L --cf='use_bayes 0' \
        < "$work/sample/$file" 2>/dev/null \
        | awk '/^X-Spam-Status:/ {s = 1} s && /^[^ \t]/ && !/^X-Spam-Status:/ {exit} s {print}' \
        | tr -d ' \t\r\n' | sed -n 's/.*tests=\([A-Z0-9_,]*\).*/\1/p' || true)"
    printf '%s\t%s\n' "$file" "$tests"
done > "$work/spamassassin.tsv"

# The scorer: its detections per file (rules only; the classifier does not matter here).
./target/release/scorer eval --corpus "$work/sample" --untrained --sa-rules "$rules" --json > "$work/scorer.jsonl"
./target/release/scorer rules check --rules "$rules" --verbose \
    | grep -E '^ {8,}[A-Za-z_0-9]+ \(' | awk '{print $1}' > "$work/cannot-run.txt" || true
[ -s "$work/cannot-run.txt" ] || { echo "sa-agreement: could not read the list of rules the scorer cannot run" >&2; exit 1; }

python3 scripts/sa_agreement.py "$work/spamassassin.tsv" "$work/scorer.jsonl" "$work/cannot-run.txt" "$rules"
