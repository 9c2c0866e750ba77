#!/usr/bin/env bash
# How faithfully the scorer runs SpamAssassin's rules: real SpamAssassin (Debian's
# `spamassassin`, local tests only, no Bayes: what the scorer runs) and `scorer eval` score
# the same corpus files with the same rule files, and the rule hits are compared per file
# (rules the scorer lists as unable to run are left out of both). Prints the agreement
# (hits in both / hits in either), and the disagreements weighted by each rule's score,
# largest first. SpamAssassin runs in one Perl process over the files
# (scripts/research/spamassassin_hits.pl: the rules are read once, about a tenth of a second
# a message, where `spamassassin -t` per file took over a second), so the default is every
# file of the manifest (2,467 here, about 5 minutes); EVERY=8 takes every 8th.
# Usage: scripts/sa-agreement.sh [CORPUS] [EVERY]   (default: $POSTERN_CORPUS or ../shared/corpus, 1)
set -euo pipefail
corpus="${1:-${POSTERN_CORPUS:-../shared/corpus}}"
every="${2:-1}"
[[ "$every" =~ ^[1-9][0-9]*$ ]] || { echo "sa-agreement: EVERY must be a whole number, 1 or more (got '$every')" >&2; exit 2; }
[ -f "$corpus/MANIFEST.tsv" ] || { echo "sa-agreement: no corpus manifest at $corpus (set POSTERN_CORPUS)" >&2; exit 2; }
command -v spamassassin >/dev/null || { echo "sa-agreement: spamassassin is not installed (bash scripts/setup.sh)" >&2; exit 2; }
rules="${SA_RULES:-/usr/share/spamassassin}"

cargo build --release -p postern-scorer --bin scorer >&2
work="$(mktemp -d /tmp/postern-sa-agreement.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Every file: the corpus itself. Every Nth: a sample copied out, as a corpus of its own
# (same labels, same relative paths).
sample="$corpus"
if [ "$every" != 1 ]; then
    sample="$work/sample"
    mkdir -p "$sample"
    awk -F'\t' -v every="$every" 'NR == 1 || (NR > 1 && NR % every == 0)' "$corpus/MANIFEST.tsv" > "$sample/MANIFEST.tsv"
    tail -n +2 "$sample/MANIFEST.tsv" | cut -f1 | while read -r file; do
        mkdir -p "$sample/$(dirname "$file")"
        cp "$corpus/$file" "$sample/$file"
    done
fi
count="$(tail -n +2 "$sample/MANIFEST.tsv" | wc -l)"
echo "sa-agreement: $count files, SpamAssassin $(spamassassin --version | head -n 1 | awk '{print $3}') with $rules" >&2

# SpamAssassin: the rules that hit (local tests, no Bayes), one line a file: FILE <TAB>
# RULE,RULE,... (the hits script writes RULE=SCORE; the scores are left out here).
SA_RULES="$rules" perl scripts/research/spamassassin_hits.pl "$sample" \
    | awk -F'\t' '{
        n = split($3, hits, ",");
        tests = "";
        for (i = 1; i <= n; i++) { sub(/=.*/, "", hits[i]); if (hits[i] != "") tests = tests (tests == "" ? "" : ",") hits[i] }
        print $1 "\t" tests
      }' > "$work/spamassassin.tsv"
[ -s "$work/spamassassin.tsv" ] || { echo "sa-agreement: SpamAssassin scored no file" >&2; exit 1; }

# The scorer: its detections per file (rules only; the classifier does not matter here).
./target/release/scorer eval --corpus "$sample" --untrained --sa-rules "$rules" --json > "$work/scorer.jsonl"
./target/release/scorer rules check --rules "$rules" --verbose \
    | grep -E '^ {8,}[A-Za-z_0-9]+ \(' | awk '{print $1}' > "$work/cannot-run.txt" || true
[ -s "$work/cannot-run.txt" ] || { echo "sa-agreement: could not read the list of rules the scorer cannot run" >&2; exit 1; }

python3 scripts/sa_agreement.py "$work/spamassassin.tsv" "$work/scorer.jsonl" "$work/cannot-run.txt" "$rules"
