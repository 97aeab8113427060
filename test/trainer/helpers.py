"""Shared fixtures of the trainer tests: tiny reuse configs and token files."""

import os
import sys

import torch

sys.dont_write_bytecode = True  # keep media/trainer free of __pycache__ (it ships in the .vsix)
TRAINER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "media", "trainer")
sys.path.insert(0, os.path.abspath(TRAINER))
torch.set_num_threads(1)  # other processes share the cores; OpenMP threads would thrash

from token_data import write_token_file  # noqa: E402

SHA = "0" * 64
VOCAB = 24
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4


def algorithm1(L, H, P, K):
    """The paper's slot order, 0-based, chains resolved (mirrors analysis/planner/headMap.ts)."""
    heads, recent = [], []
    for l in range(L):
        if 1 <= l <= P and recent:
            row = ["exact"] * (H - K) + [{"reuse": dict(r)} for r in recent[:K]]
            recent = [{"layer": l, "head": h} for h in range(H - K)] + recent[:K]
        else:
            row = ["exact"] * H
            recent = [{"layer": l, "head": h} for h in range(H)]
        heads.append(row)
    return heads


def make_config(L=2, H=2, hidden=16, ffn=32, vocab=VOCAB, max_positions=16, heads=None, mode="custom", P=0, K=0):
    return {
        "schema": "attention-reuse/config@1",
        "source": {"analysisSha256": SHA, "modelSha256": SHA},
        "stack": "encoder",
        "dims": {"layers": L, "heads": H, "hidden": hidden, "ffn": ffn, "vocab": vocab, "maxPositions": max_positions},
        "mode": mode,
        "P": P,
        "K": K,
        "heads": heads if heads is not None else [["exact"] * H for _ in range(L)],
    }


def write_patterns(path, examples=64, seed=0):
    """Four fixed sentences of 6 to 9 words, drawn at random: structure a tiny model learns in a few dozen steps."""
    g = torch.Generator()
    g.manual_seed(seed)
    templates = []
    for t in range(4):
        length = 6 + t
        templates.append([5 + (3 * t + 2 * k) % (VOCAB - 5) for k in range(length)])
    picks = torch.randint(len(templates), (examples,), generator=g).tolist()
    rows = [[CLS] + templates[p] + [SEP] for p in picks]
    write_token_file(path, rows, VOCAB, PAD, MASK, [PAD, UNK, CLS, SEP, MASK], 16)
    return path
