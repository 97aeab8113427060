"""Benchmark encoders with random weights and explicit softmax attention, and the PyTorch reference.

usage:
  benchModels.py export CASE OUT.onnx
      build CASE (seeded, so every call gives the same weights) and export it with
      torch.onnx.export: inputs input_ids and attention_mask [batch, tokens], output the last
      hidden state (CASE bert-base-mlm: BERT's masked-LM logits, the decoder tied to the word
      embedding); each layer's Softmax output is the attention the analysis finds.
  benchModels.py reference CASE IDS.jsonl BATCH EXAMPLES THREADS
      the PyTorch reference a user would write: the same model with attention capture,
      torch.set_num_threads(THREADS), batches of BATCH, and per batch the similarity of every
      head pair l <= l' with one batched torch.cdist(p=1) per first layer, real tokens only.
      Prints one JSON line: examples timed (the first three batches are warm-up), seconds, rate.
"""
import json
import os
import resource
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torchBlocks import Embeddings, EncoderLayer, additive_padding_mask, run_layers  # noqa: E402

# Batches left out of the rate, as in scripts/bench/measure.mjs.
WARMUP_BATCHES = 3

CASES = {
    "bert-base": dict(layers=12, heads=12, hidden=768, ffn=3072, vocab=30522, positions=512),
    "long": dict(layers=6, heads=8, hidden=512, ffn=2048, vocab=30522, positions=1024),
    # BERT-base with 4096 positions: traced on 16 tokens with a dynamic sequence axis (tracing
    # at full length does not fit in 24 GB); `analyze --rows` runs it at 4096.
    "bert-base-4096": dict(layers=12, heads=12, hidden=768, ffn=3072, vocab=30522, positions=4096),
}


class Encoder(nn.Module):
    """A post-LayerNorm BERT encoder with attention written out, so the graph keeps its Softmax."""

    def __init__(self, layers, heads, hidden, ffn, vocab, positions):
        super().__init__()
        self.embeddings = Embeddings(vocab, hidden, positions)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn) for _ in range(layers))

    def forward(self, input_ids, attention_mask):
        """(last hidden state, attention probabilities per layer [batch, heads, n, n])."""
        x = self.embeddings(input_ids)
        return run_layers(self.layers, x, additive_padding_mask(attention_mask, x.dtype))


class MaskedLm(nn.Module):
    """BERT's masked-LM head on the encoder: dense, GELU, LayerNorm, decoder tied to the word embedding."""

    def __init__(self, encoder, hidden, vocab):
        super().__init__()
        self.encoder = encoder
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.bias = nn.Parameter(torch.zeros(vocab))

    def forward(self, input_ids, attention_mask):
        h = self.norm(nn.functional.gelu(self.dense(self.encoder(input_ids, attention_mask)[0])))
        return torch.matmul(h, self.encoder.embeddings.token.weight.t()) + self.bias


class HiddenOnly(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids, attention_mask)[0]


def build(case):
    torch.manual_seed(1234)
    return Encoder(**CASES[case.removesuffix("-mlm")]).eval()


def export(case, out_path):
    encoder = build(case)
    cfg = CASES[case.removesuffix("-mlm")]
    mlm = case.endswith("-mlm")
    model = MaskedLm(encoder, cfg["hidden"], cfg["vocab"]).eval() if mlm else HiddenOnly(encoder)
    output = "logits" if mlm else "last_hidden_state"
    n = 16
    ids = torch.randint(0, cfg["vocab"], (2, n))
    mask = torch.ones(2, n, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        model,
        (ids, mask),
        out_path,
        input_names=["input_ids", "attention_mask"],
        output_names=[output],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, output: axes},
        opset_version=14,
        # Folding would store the tied decoder as a transposed copy of the word embedding.
        do_constant_folding=not mlm,
    )


def pair_similarity(probs, mask, sums):
    """Adds, per example, S of every head pair l <= l' (flat heads, [N, N], upper blocks) to `sums`."""
    a = torch.stack(probs, 1)  # [B, L, H, n, n]
    B, L, H = a.shape[:3]
    lengths = mask.sum(1).tolist()
    for m in sorted(set(lengths)):
        idx = [b for b, length in enumerate(lengths) if length == m]
        # One query row of every head per "batch" entry: [examples * m, L, H, m].
        rows = a[idx, :, :, :m, :m].permute(0, 3, 1, 2, 4).reshape(len(idx) * m, L, H, m)
        for l in range(L):
            d = torch.cdist(rows[:, l], rows[:, l:].reshape(len(idx) * m, (L - l) * H, m), p=1)
            s = 1.0 - 0.5 * d.reshape(len(idx), m, H, (L - l) * H).mean(1)  # [examples, H, (L-l)H]
            sums[l * H : (l + 1) * H, l * H :] += s.sum(0)


def reference(case, ids_path, batch, examples, threads):
    torch.set_num_threads(threads)
    model = build(case)
    rows = []
    with open(ids_path) as f:
        for line in f:
            if line.strip() and len(rows) < examples:
                rows.append(json.loads(line))
    cfg = CASES[case]
    n_heads = cfg["layers"] * cfg["heads"]
    sums = torch.zeros(n_heads, n_heads)
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    timed, started = 0, None
    with torch.no_grad():
        for i, chunk in enumerate(batches):
            width = max(len(r["input_ids"]) for r in chunk)
            ids = torch.zeros(len(chunk), width, dtype=torch.long)
            mask = torch.zeros(len(chunk), width, dtype=torch.long)
            for b, r in enumerate(chunk):
                ids[b, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
                mask[b, : len(r["input_ids"])] = torch.tensor(r.get("attention_mask", [1] * len(r["input_ids"])))
            _, probs = model(ids, mask)
            pair_similarity(probs, mask, sums)
            if i == WARMUP_BATCHES - 1:
                started = time.perf_counter()
            elif i >= WARMUP_BATCHES:
                timed += len(chunk)
    seconds = time.perf_counter() - started
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "examples": len(rows),
                "timedExamples": timed,
                "seconds": seconds,
                "rate": timed / seconds if seconds > 0 else None,
                "cpuSeconds": time.process_time(),
                "maxRSS": max_rss,
                "check": float(sums.sum()),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "reference":
        reference(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        raise SystemExit(__doc__)
