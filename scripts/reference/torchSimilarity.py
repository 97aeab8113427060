"""Attention similarity of the sample model computed in PyTorch, from PyTorch's own attention.

The reference the TypeScript pipeline (ONNX Runtime + streaming accumulators) is checked
against: the model is rebuilt in PyTorch from the ONNX file's initializers (they carry the
PyTorch parameter names), run one example at a time in float64 with no padding, and the
similarity of every head pair (Reuse Transformers eq. 2) is computed with torch.cdist(p=1).

usage: torchSimilarity.py MODEL.onnx IDS.jsonl OUT.json
IDS.jsonl: one {"input_ids": [...]} per line (the TypeScript tokenizer's output).
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sample"))
from mlmModel import BertMlm  # noqa: E402


def load_model(path):
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    vocab, hidden = weights["token.weight"].shape
    layers = sum(1 for k in weights if k.endswith("attention.query.weight"))
    ffn = weights["layers.0.up.weight"].shape[0]
    max_positions = weights["position.weight"].shape[0]
    heads = int(os.environ.get("SAMPLE_HEADS", "4"))
    model = BertMlm(vocab, hidden, heads, layers, ffn, max_positions)
    state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items() if k in model.state_dict()}
    # The tied decoder weight is the token embedding; every other parameter must be present.
    missing = set(model.state_dict()) - set(state) - {"head_dense.weight", "head_dense.bias", "head_norm.weight", "head_norm.bias"}
    if missing:
        raise SystemExit(f"{path}: initializers missing for {sorted(missing)}")
    model.load_state_dict(state, strict=False)
    return model.double().eval()


def head_pairs(attentions):
    """[L][H][L][H] mean over query rows of 1 - TV, for one example's [L] x [H, m, m]."""
    a = torch.stack([x[0] for x in attentions])  # [L, H, m, m]
    L, H, m, _ = a.shape
    rows = a.reshape(L * H, m, m).transpose(0, 1)  # [m, N, m]: one query row of every head
    l1 = torch.cdist(rows, rows, p=1)  # [m, N, N]
    s = 1.0 - 0.5 * l1.mean(dim=0)
    return s.reshape(L, H, L, H)


def uniform_similarity(attentions):
    a = torch.stack([x[0] for x in attentions])
    m = a.shape[-1]
    return 1.0 - 0.5 * (a - 1.0 / m).abs().sum(-1).mean(-1)  # [L, H]


def main():
    model_path, ids_path, out_path = sys.argv[1:4]
    torch.set_num_threads(1)
    model = load_model(model_path)
    total_pairs, total_uniform, count = None, None, 0
    with open(ids_path) as f, torch.no_grad():
        for line in f:
            if not line.strip():
                continue
            ids = torch.tensor([json.loads(line)["input_ids"]], dtype=torch.long)
            _, attentions = model.encode(ids, torch.ones_like(ids))
            pairs, uniform = head_pairs(attentions), uniform_similarity(attentions)
            total_pairs = pairs if total_pairs is None else total_pairs + pairs
            total_uniform = uniform if total_uniform is None else total_uniform + uniform
            count += 1
    result = {"examples": count, "headPairs": (total_pairs / count).tolist(), "uniform": (total_uniform / count).tolist()}
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
