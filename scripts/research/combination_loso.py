#!/usr/bin/env python3
"""Leave-one-source-out experiments on the combination, outside the scorer.

Reads the feature table that `scorer eval --corpus ../shared/corpus --group-by source
--features-out FILE` writes (one JSON object per file: label, source, detections, and the
token classifier's opinion from a model trained without each pair of sources) and replays
the scorer's evaluation with scikit-learn's logistic regression in place of
`scorer/src/combine.rs`: for each left-out source, a model trained on the other sources
(their classifier features from models that saw neither them nor the left-out source), its
threshold chosen out of source inside the training sources (at most 0.4% of their clean
mail, each scored by a model trained without it). It prints per-source and overall rates.

Alone it reads the figures a little under the scorer's own (the scorer's verdict also has
detections that decide alone); with `--eval` (the `scorer eval --json` output of the same
run) those count as flagged too, and the figures come within a few messages of the scorer's
(1,076 caught against its 1,079 at postern-rules/99: its gradient descent stops a little short
of the optimum scikit-learn reaches). Use it to compare feature sets and learners, then
measure the winner in the scorer with `just eval`.

    pip install scikit-learn
    python3 scripts/research/combination_loso.py FEATURES.jsonl [--eval EVAL.jsonl]
        [--per-rule] [--embedding] [--l2 0.001] [--learner logistic|trees] [--monotone-sa]
        [--split-default /usr/share/spamassassin]
        [--spamassassin-hits HITS.tsv [--simulate RULE,RULE,...]]

`--spamassassin-hits` reads real SpamAssassin's hits on the same files
(`spamassassin_hits.pl`) and prints its own figures (score at least its required 5);
`--simulate` adds SpamAssassin's own hits of the named rules (those the scorer cannot run)
to each file's rule hits, with their scores: what implementing them exactly would do to the
figures, before anyone writes them.

`--monotone-sa` fits the logistic regression with the rule score's and its steps' weights
held at zero or more (scipy's L-BFGS-B, the same loss).

`--split-default RULES_DIR` adds, as a feature of its own, the score of the rules hit that
have no score line in RULES_DIR's files (SpamAssassin gives them 1 point: Debian's package
ships no `72_scores.cf`, so most of `72_active.cf`'s rules score that placeholder, not a
mass-check's figure), so that the fit can weigh them apart from the scored ones.

`--embedding` adds the sentence-embedding opinion that `embedding_loso.py --features-in`
writes into the table (same pairs of left-out sources as the classifier's).
"""
import argparse
import collections
import json

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

# The scorer's 0/1 detections (combine.rs INDICATORS), in its order.
INDICATORS = """link_text_mismatch link_ip_host link_shortener credential_form homograph_url
from_envelope_differs reply_to_differs display_name_address dkim_fail spf_fail arc_fail
executable_attachment office_macro bec_impersonation lookalike_domain
brand_impersonation risky_link_host obfuscated_url risky_attachment
credential_lure payment_lure sender_abused_tld link_abused_tld brand_link_spoof snowshoe_campaign""".split()
TARGET_CLEAN_FALSE_POSITIVES = 0.004
# combine.rs SA_SCORE_STEPS: the rule score sum as steps too.
SA_SCORE_STEPS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
# content_classifier.rs: no opinion below these.
MIN_EVIDENCE_TOKENS, MIN_BODY_WORDS = 15, 8


def classifier(row, key):
    cell = row["classifier"].get(key)
    if cell is None or cell[2] < MIN_EVIDENCE_TOKENS or row["body_words"] < MIN_BODY_WORDS:
        return [0.5, 0.5]
    return [cell[0], cell[1]]


CAUGHT = {"MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM"}
COMBINATION = {"combined_spam", "combined_phish"}
SPAMASSASSIN_REQUIRED_SCORE = 5.0


def read_spamassassin_hits(path):
    """file -> (score, {rule: score}) from spamassassin_hits.pl's output."""
    hits = {}
    for line in open(path):
        file, score, tests = line.rstrip("\n").split("\t")
        rules = dict(t.split("=", 1) for t in tests.split(",") if "=" in t)
        hits[file] = (float(score), {rule: float(value) for rule, value in rules.items()})
    return hits


def simulated(rows, hits, rules):
    """Each row with SpamAssassin's own hits of `rules` added where the scorer has none."""
    added = collections.Counter()
    for row in rows:
        have = {name for name, _ in row["detections"]}
        _, theirs = hits.get(row["file"], (0.0, {}))
        for rule in rules:
            if rule in theirs and f"sa:{rule}" not in have:
                row["detections"].append([f"sa:{rule}", int(round(theirs[rule] * 1000))])
                added[row["label"]] += 1
    return added


# --split-default: rules with a score line in the rule files (the others score SpamAssassin's
# default: 1, or 0.01 for a T_ test rule).
EXPLICITLY_SCORED = None


def features(row, key, rule_vocabulary, embedding=False):
    sa = [score / 1000 for name, score in row["detections"] if name.startswith("sa:")]
    names = {name for name, _ in row["detections"]}
    total = max(-10, min(25, sum(sa)))
    x = [total, min(20, sum(1 for s in sa if s > 0))]
    x += [1.0 if total >= step else 0.0 for step in SA_SCORE_STEPS]
    # After the steps, so that --monotone-sa's bounds (the first 2 + steps) stay where they are.
    if EXPLICITLY_SCORED is not None:
        x += [sum(score / 1000 for name, score in row["detections"]
                  if name.startswith("sa:") and name[3:] not in EXPLICITLY_SCORED)]
    x += classifier(row, key)
    if embedding:
        x += [row["embedding"].get(key, 0.5)]
    x += [1.0 if name in names else 0.0 for name in INDICATORS]
    x += [1.0 if rule in names else 0.0 for rule in rule_vocabulary]
    return x


class BoundedLogistic:
    """Logistic regression with mean log-loss + l2/2 |w|^2 (as combine.rs), some weights
    held at zero or above (L-BFGS-B)."""

    def __init__(self, l2, nonnegative):
        self.l2, self.nonnegative = l2, set(nonnegative)

    def fit(self, xs, ys):
        from scipy.optimize import minimize
        xs, ys = np.asarray(xs), np.asarray(ys, dtype=float)
        n, d = xs.shape

        def loss(theta):
            w, b = theta[:d], theta[d]
            z = xs @ w + b
            p = 1 / (1 + np.exp(-z))
            value = np.mean(np.logaddexp(0, z) - ys * z) + self.l2 / 2 * w @ w
            grad = np.append(xs.T @ (p - ys) / n + self.l2 * w, np.mean(p - ys))
            return value, grad

        bounds = [(0, None) if j in self.nonnegative else (None, None) for j in range(d)] + [(None, None)]
        self.theta = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", bounds=bounds).x
        return self

    def predict_proba(self, xs):
        d = len(self.theta) - 1
        p = 1 / (1 + np.exp(-(np.asarray(xs) @ self.theta[:d] + self.theta[d])))
        return np.stack([1 - p, p], axis=1)


def unwanted(row):
    return row["label"] in ("spam", "phish")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features")
    parser.add_argument("--per-rule", action="store_true", help="one 0/1 feature per SpamAssassin rule hitting 5+ training files")
    parser.add_argument("--embedding", action="store_true", help="add the embedding opinion (embedding_loso.py --features-in)")
    parser.add_argument("--l2", type=float, default=1e-3,
                        help="L2 strength per example, as combine.rs's fit (1e-3 there)")
    parser.add_argument("--learner", choices=("logistic", "trees"), default="logistic",
                        help="logistic regression (the scorer's) or gradient-boosted trees")
    parser.add_argument("--monotone-sa", action="store_true",
                        help="the rule score and its steps may only raise the unwanted probability (weights >= 0)")
    parser.add_argument("--eval", help="the `scorer eval --json` output of the same run: verdicts not the combination's count as flagged")
    parser.add_argument("--spamassassin-hits", help="spamassassin_hits.pl's output for the same corpus")
    parser.add_argument("--simulate", default="", help="comma-separated rules: add SpamAssassin's own hits of them")
    parser.add_argument("--split-default", metavar="RULES_DIR",
                        help="the score of rules without a score line in RULES_DIR's *.cf as a feature of its own")
    args = parser.parse_args()
    if args.split_default:
        import glob
        import re
        global EXPLICITLY_SCORED
        EXPLICITLY_SCORED = {m.group(1) for f in glob.glob(f"{args.split_default}/*.cf")
                             for m in re.finditer(r"^\s*score\s+(\S+)", open(f, errors="replace").read(), re.M)}
    rows = [json.loads(line) for line in open(args.features)]
    rows = [r for r in rows if r["label"] in ("clean", "bulk", "spam", "phish")]
    decided_alone = set()
    if args.eval:
        for line in open(args.eval):
            d = json.loads(line)
            if "file" in d and d["disposition"] in CAUGHT and not {x["name"] for x in d["detections"]} & COMBINATION:
                decided_alone.add(d["file"])
    if args.spamassassin_hits:
        hits = read_spamassassin_hits(args.spamassassin_hits)
        missing = [r["file"] for r in rows if r["file"] not in hits]
        if missing:
            parser.error(f"{len(missing)} files have no SpamAssassin result, {missing[0]} first")
        own = collections.Counter((r["label"], hits[r["file"]][0] >= SPAMASSASSIN_REQUIRED_SCORE) for r in rows)
        print("SpamAssassin alone (score >= 5): " + ", ".join(
            f"{label} {own[(label, True)]}/{own[(label, True)] + own[(label, False)]}"
            for label in ("clean", "spam", "phish", "bulk")))
        rules = [r for r in args.simulate.split(",") if r]
        if rules:
            added = simulated(rows, hits, rules)
            print(f"simulated {', '.join(rules)}: hits added " + ", ".join(f"{k} {v}" for k, v in sorted(added.items())))
    elif args.simulate:
        parser.error("--simulate needs --spamassassin-hits")

    def vocabulary(train):
        if not args.per_rule:
            return []
        counts = collections.Counter(n for r in train for n, _ in r["detections"] if n.startswith("sa:"))
        return sorted(n for n, c in counts.items() if c >= 5)

    def fit(train, key):
        vocab = vocabulary(train)
        xs = np.array([features(r, key, vocab, args.embedding) for r in train])
        scaler = StandardScaler().fit(xs)
        if args.learner == "trees":
            model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=4, random_state=0)
        elif args.monotone_sa:
            model = BoundedLogistic(args.l2, nonnegative=range(0, 2 + len(SA_SCORE_STEPS)))
        else:
            # combine.rs minimises the mean log-loss + l2/2 |w|^2: scikit-learn's C is 1/(l2 n).
            model = LogisticRegression(C=1.0 / (args.l2 * len(train)), max_iter=3000)
        model.fit(scaler.transform(xs), [unwanted(r) for r in train])
        return lambda rs: model.predict_proba(scaler.transform(np.array([features(r, key, vocab, args.embedding) for r in rs])))[:, 1]

    totals = collections.Counter()
    for left_out in sorted({r["group"] for r in rows}):
        train = [r for r in rows if r["group"] != left_out]
        test = [r for r in rows if r["group"] == left_out]
        clean_scores = []
        for inner in sorted({r["group"] for r in train}):
            clean = [r for r in train if r["group"] == inner and r["label"] == "clean"]
            if clean:
                clean_scores += list(fit([r for r in train if r["group"] != inner], left_out)(clean))
        clean_scores.sort(reverse=True)
        allowed = int(len(clean_scores) * TARGET_CLEAN_FALSE_POSITIVES)
        threshold = min(0.999, max(0.5, clean_scores[allowed] + 1e-9)) if allowed < len(clean_scores) else 0.5
        # The left-out rows: their own leave-one-source-out classifier cell.
        model = fit(train, left_out)
        counts = collections.Counter()
        for r, p in zip(test, model(test)):
            counts[(r["label"], bool(p >= threshold or r["file"] in decided_alone))] += 1
        totals.update(counts)
        cells = [
            f"{label} {counts[(label, True)]}/{counts[(label, True)] + counts[(label, False)]}"
            for label in ("clean", "spam", "phish", "bulk")
            if counts[(label, True)] + counts[(label, False)]
        ]
        print(f"{left_out[:50]:50s} threshold {threshold:.3f}  " + "  ".join(cells))

    def rate(labels):
        hit = sum(totals[(l, True)] for l in labels)
        return 100.0 * hit / max(1, hit + sum(totals[(l, False)] for l in labels))

    print(
        f"overall: clean flagged {rate(['clean']):.2f}%, spam {rate(['spam']):.1f}%, "
        f"phish {rate(['phish']):.1f}%, spam + phish caught {rate(['spam', 'phish']):.1f}% "
        f"({sum(totals[(l, True)] for l in ('spam', 'phish'))}), bulk flagged {totals[('bulk', True)]}"
    )


if __name__ == "__main__":
    main()
