"""Shared fixtures of the trainer tests: tiny reuse configs, token files and token shards."""

import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep media/trainer free of __pycache__ (it ships in the .vsix)
TRAINER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "media", "trainer")
sys.path.insert(0, os.path.abspath(TRAINER))
torch.set_num_threads(1)  # other processes share the cores; OpenMP threads would thrash

from shards import write_shards  # noqa: E402
from token_data import write_token_file  # noqa: E402

TRAIN_PY = os.path.join(os.path.abspath(TRAINER), "train.py")

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


def templates():
    return [[5 + (3 * t + 2 * k) % (VOCAB - 5) for k in range(6 + t)] for t in range(4)]


def write_pattern_shards(folder, rows=48, held_out=16, width=16, seed=0, tokenizer_sha=SHA, shard_rows=20):
    """The pattern sentences packed as the CLI packs them: [CLS] s1 [SEP] s2 [SEP] …, rows of `width` tokens."""
    g = np.random.default_rng(seed)

    def packed(count):
        stream = []
        while len(stream) < count * (width - 1):
            stream += templates()[g.integers(4)] + [SEP]
        ids = np.array([[CLS] + stream[r * (width - 1) : (r + 1) * (width - 1)] for r in range(count)], dtype=np.int64)
        return ids, np.full(count, width)

    special = [PAD, UNK, CLS, SEP, MASK]
    return write_shards(folder, packed(rows), packed(held_out), VOCAB, PAD, MASK, special, tokenizer_sha, shard_rows=shard_rows)


def write_config(path, **kwargs):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(make_config(**kwargs), f)
    return path


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def run_trainer(args, env=None, timeout=300):
    """train.py in its own process, one thread, as the CLI starts it."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    return subprocess.run(
        [sys.executable, TRAIN_PY, *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=timeout,
    )


def write_weights(folder, model, sha=SHA):
    """A weights folder (attention-reuse/weights@1) holding an all-exact ReuseBertForMaskedLM's parameters by role,
    as the CLI writes one from an ONNX model."""
    os.makedirs(folder, exist_ok=True)
    p = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    roles = {"embeddings.word": p["word.weight"], "embeddings.position": p["position.weight"]}
    if "token_type.weight" in p:
        roles["embeddings.tokenType"] = p["token_type.weight"]
    roles.update({"embeddings.norm.scale": p["embedding_norm.weight"], "embeddings.norm.bias": p["embedding_norm.bias"]})
    names = {
        "attention.query": "attention.query",
        "attention.key": "attention.key",
        "attention.value": "attention.value",
        "attention.output": "attention_output",
        "ffn.up": "intermediate",
        "ffn.down": "output",
    }
    for l in range(len(model.layers)):
        for role, name in names.items():
            for part in ("weight", "bias"):
                roles["layers.%d.%s.%s" % (l, role, part)] = p["layers.%d.%s.%s" % (l, name, part)]
        for role, name in (("attentionNorm", "attention_norm"), ("ffnNorm", "output_norm")):
            roles["layers.%d.%s.scale" % (l, role)] = p["layers.%d.%s.weight" % (l, name)]
            roles["layers.%d.%s.bias" % (l, role)] = p["layers.%d.%s.bias" % (l, name)]
    if model.options.head == "mlm":
        roles.update({"head.dense.weight": p["head_dense.weight"], "head.dense.bias": p["head_dense.bias"]})
        roles.update({"head.norm.scale": p["head_norm.weight"], "head.norm.bias": p["head_norm.bias"]})
    if model.decoder is not None:
        roles["head.decoder.weight"] = p["decoder.weight"]
    roles["head.decoder.bias"] = p["decoder_bias"]
    tensors = []
    for role, array in roles.items():
        np.save(os.path.join(folder, role + ".npy"), array)
        tensors.append({"role": role, "file": role + ".npy", "shape": list(array.shape), "dtype": "float32"})
    o = model.options
    activation = {"gelu": "gelu-erf", "gelu_tanh": "gelu-tanh", "relu": "relu"}[o.activation]
    architecture = {
        "norm": o.norm,
        "layerNormEpsilon": o.layer_norm_eps,
        "activation": activation,
        "tokenTypes": o.type_vocab_size,
        "head": o.head,
        "tiedOutput": o.tie_output,
    }
    manifest = {
        "format": "attention-reuse/weights@1",
        "model": {"path": "/model.onnx", "sha256": sha},
        "stack": "encoder",
        "dims": {k: model.dims[k] for k in ("layers", "heads", "hidden", "ffn", "vocab", "maxPositions")},
        "architecture": architecture,
        "tensors": tensors,
    }
    with open(os.path.join(folder, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return folder
