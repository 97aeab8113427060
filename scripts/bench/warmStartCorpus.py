#!/usr/bin/python3
"""Token shards for the warm-start table: WordNet glosses split as the sample model was trained (scripts/sample/
corpus.py, the same seed and held-out share), so that training rows come from its training synsets and evaluation rows
from synsets it never saw (less media/sample/sentences.txt, which the analysis and plan read). One sentence per row,
[CLS] sentence [SEP] cut to 64 tokens with the sample's own WordPiece (the rows the sample model was trained on), so
that the table measures what reuse costs and training recovers, not a change of row format.

    /usr/bin/python3 scripts/bench/warmStartCorpus.py OUT_DIR [--train 48000] [--held-out 2000]
"""
import argparse
import hashlib
import json
import os
import random
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "sample"))
sys.path.insert(0, os.path.join(ROOT, "media", "trainer"))
import corpus  # noqa: E402
import wordpiece  # noqa: E402
from shards import write_shards  # noqa: E402

WIDTH = 64  # trainSample.py's MAX_TOKENS

SAMPLE_SEED = 20211005  # trainSample.py's seed: the same split
SAMPLE_HELD_OUT = 0.04


def rows(tokenizer, sentences):
    ids = np.full((len(sentences), WIDTH), wordpiece.PAD, dtype=np.int64)
    lengths = np.zeros(len(sentences), dtype=np.int64)
    for r, text in enumerate(sentences):
        x = tokenizer.encode(text)
        x = x if len(x) <= WIDTH else x[: WIDTH - 1] + [wordpiece.SEP]
        ids[r, : len(x)] = x
        lengths[r] = len(x)
    return ids, lengths


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=48000)
    p.add_argument("--held-out", type=int, default=2000)
    args = p.parse_args()
    train, held = corpus.split(corpus.load_synsets(), held_out_fraction=SAMPLE_HELD_OUT, seed=SAMPLE_SEED)
    with open(os.path.join(ROOT, "media", "sample", "sentences.txt"), encoding="utf-8") as f:
        analysed = set(line.strip() for line in f)
    held = [s for s in held if s not in analysed]
    rng = random.Random(1)
    train = rng.sample(train, args.train)
    held = rng.sample(held, args.held_out)
    path = os.path.join(ROOT, "media", "sample", "tokenizer.json")
    with open(path, "rb") as f:
        raw = f.read()
    vocab = json.loads(raw)["model"]["vocab"]
    tokenizer = wordpiece.WordPiece([t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])])
    special = list(range(len(wordpiece.SPECIALS)))
    sha = hashlib.sha256(raw).hexdigest()
    write_shards(args.out, rows(tokenizer, train), rows(tokenizer, held), len(vocab), wordpiece.PAD, wordpiece.MASK, special, sha)
    print(json.dumps({"trainRows": args.train, "heldOutRows": args.held_out, "sequenceLength": WIDTH, "shards": os.path.abspath(args.out)}))


if __name__ == "__main__":
    main()
