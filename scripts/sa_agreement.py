"""Compares SpamAssassin's rule hits with the scorer's (see scripts/sa-agreement.sh).

Arguments: SpamAssassin's hits (file TAB comma-separated rules), `scorer eval --json`
output, the rules the scorer cannot run (one a line), the rule folder (for the scores).
Prints the agreement and the largest disagreements, weighted by the rule's score in
SpamAssassin's first score set (no network tests, no Bayes); the last line is JSON.
"""

import collections
import glob
import json
import re
import sys


def main() -> None:
    spamassassin_tsv, scorer_jsonl, cannot_run_txt, rules_dir = sys.argv[1:5]
    spamassassin = {}
    # newline="\n": SpamAssassin's folded header leaves carriage returns in the lines.
    with open(spamassassin_tsv, encoding="utf-8", errors="replace", newline="\n") as f:
        for line in f:
            name, _, tests = line.rstrip("\n").partition("\t")
            spamassassin[name] = {t for t in tests.replace("\r", "").split(",") if t}
    scorer = {}
    with open(scorer_jsonl, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if "file" in row:
                scorer[row["file"]] = {d["name"][3:] for d in row["detections"] if d["name"].startswith("sa:")}
    with open(cannot_run_txt, encoding="utf-8") as f:
        cannot_run = {line.strip() for line in f if line.strip()}
    scores = {}
    # In name order, as SpamAssassin reads them: a later file's score replaces an earlier one's.
    for path in sorted(glob.glob(f"{rules_dir}/*.cf")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"\s*score\s+(\S+)\s+(-?[\d.]+)", line)
                if m:
                    scores[m.group(1)] = float(m.group(2))

    both = only_spamassassin = only_scorer = 0
    weighted = collections.Counter()
    counted = collections.Counter()
    files = 0
    for name, theirs in spamassassin.items():
        if name not in scorer:
            continue
        files += 1
        theirs = {t for t in theirs if t not in cannot_run and not t.startswith("BAYES_")}
        ours = scorer[name]
        both += len(theirs & ours)
        only_spamassassin += len(theirs - ours)
        only_scorer += len(ours - theirs)
        for rule in theirs - ours:
            weighted[("SpamAssassin only", rule)] += abs(scores.get(rule, 1.0))
            counted[("SpamAssassin only", rule)] += 1
        for rule in ours - theirs:
            weighted[("scorer only", rule)] += abs(scores.get(rule, 1.0))
            counted[("scorer only", rule)] += 1
    total = both + only_spamassassin + only_scorer
    agreement = both / total if total else 0.0
    print(f"{files} files: rule hits in both {both}, SpamAssassin only {only_spamassassin}, "
          f"scorer only {only_scorer}; agreement {agreement * 100:.1f}%")
    print(f"disagreements weighted by score (total {sum(weighted.values()):.0f}), largest first:")
    for (side, rule), weight in weighted.most_common(20):
        print(f"  {weight:7.1f}  {side:17}  {rule} ({counted[(side, rule)]} files)")
    print(json.dumps({
        "files": files,
        "hits_both": both,
        "hits_spamassassin_only": only_spamassassin,
        "hits_scorer_only": only_scorer,
        "agreement": round(agreement, 4),
        "weighted_disagreement": round(sum(weighted.values()), 1),
    }))


if __name__ == "__main__":
    main()
