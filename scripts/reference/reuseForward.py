"""KL and top-1 of a reuse config on the sample model, by an independent numpy forward pass.

The reference `attention-reuse whatif` is checked against: the sample model's weights are
read from the ONNX file's initializers by their PyTorch parameter names (nothing of the
graph's structure is used), and the forward pass of scripts/sample/mlmModel.py is written
out in float64 numpy, once with every head exact and once with the config's head map: a
reuse head takes the probabilities its source head computed earlier in the same pass (its
own value projection stays), a skip layer adds nothing to its residual. Each example runs
alone, so every token is real.

usage: reuseForward.py MODEL.onnx CONFIG.reuse.json IDS.jsonl
IDS.jsonl: one {"input_ids": [...]} per line. Prints one JSON line: kl (nats per token,
mean over every token of every example), top1 (fraction of tokens whose arg-max agrees),
tokens.
"""
import json
import math
import sys

import numpy as np
import onnx
from onnx import numpy_helper

EPS = 1e-12  # the sample model's LayerNorm epsilon (scripts/sample/mlmModel.py)


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def forward(w, ids, heads_map, n_heads):
    """Logits [n, vocab] of one example under a head map (None: every head exact)."""
    n = len(ids)
    x = layer_norm(w["token.weight"][ids] + w["position.weight"][:n], w["embedding_norm.weight"], w["embedding_norm.bias"])
    hidden = x.shape[1]
    dh = hidden // n_heads
    layers = sum(1 for k in w if k.endswith("attention.query.weight"))
    computed = {}  # (layer, head) -> probabilities [n, n] computed in this pass
    for layer in range(layers):
        p = f"layers.{layer}"
        row = heads_map[layer] if heads_map else ["exact"] * n_heads
        if all(e == "skip" for e in row):
            attended = np.zeros_like(x)
        else:
            q = linear(x, w, p + ".attention.query").reshape(n, n_heads, dh)
            k = linear(x, w, p + ".attention.key").reshape(n, n_heads, dh)
            v = linear(x, w, p + ".attention.value").reshape(n, n_heads, dh)
            context = np.zeros((n, n_heads, dh))
            for h, entry in enumerate(row):
                if entry == "exact":
                    probs = softmax(q[:, h] @ k[:, h].T / math.sqrt(dh))
                    computed[(layer, h)] = probs
                else:
                    probs = computed[(entry["reuse"]["layer"], entry["reuse"]["head"])]
                context[:, h] = probs @ v[:, h]
            attended = linear(context.reshape(n, hidden), w, p + ".attention.output")
        x = layer_norm(x + attended, w[p + ".attention_norm.weight"], w[p + ".attention_norm.bias"])
        x = layer_norm(x + linear(gelu(linear(x, w, p + ".up")), w, p + ".down"), w[p + ".ffn_norm.weight"], w[p + ".ffn_norm.bias"])
    h = layer_norm(gelu(linear(x, w, "head_dense")), w["head_norm.weight"], w["head_norm.bias"])
    return h @ w["token.weight"].T + w["decoder_bias"]


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def main(model_path, config_path, ids_path):
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in onnx.load(model_path).graph.initializer}
    config = json.load(open(config_path))
    n_heads = config["dims"]["heads"]
    kl_sum, agree, tokens = 0.0, 0, 0
    for line in open(ids_path):
        if not line.strip():
            continue
        ids = np.array(json.loads(line)["input_ids"])
        a = forward(w, ids, None, n_heads)
        b = forward(w, ids, config["heads"], n_heads)
        lp, lq = log_softmax(a), log_softmax(b)
        kl_sum += float((np.exp(lp) * (lp - lq)).sum())
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        tokens += len(ids)
    print(json.dumps({"kl": kl_sum / tokens, "top1": agree / tokens, "tokens": tokens}))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
