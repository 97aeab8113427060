#!/usr/bin/python3
"""Trains the bundled sample model (media/sample/): a small BERT masked-LM on WordNet glosses.

Writes tokenizer.json, model.onnx, sentences.txt (held-out), model.expected.json (PyTorch
attention for the first 3 sentences) and training.json (held-out figures), then checks the
tokenizer against @huggingface/tokenizers and the ONNX attention against PyTorch.

Run with Debian's interpreter (python3-torch, libopenblas0-pthread, python3-onnx, wordnet-base):
    OMP_NUM_THREADS=1 /usr/bin/python3 scripts/sample/trainSample.py
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import torch
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import corpus  # noqa: E402
import wordpiece  # noqa: E402
from mlmModel import BertMlm  # noqa: E402
from onnxEdits import attention_probe  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CONFIG = dict(hidden=128, heads=4, layers=4, ffn=512, max_positions=128)
VOCAB_SIZE = 4096
MAX_TOKENS = 64
SAMPLE_SENTENCES = 300
EVAL_SENTENCES = 3000


def log(*args):
    print(*args, flush=True)


def truncate(ids):
    return ids if len(ids) <= MAX_TOKENS else ids[: MAX_TOKENS - 1] + [wordpiece.SEP]


def pad(batch):
    n = max(len(x) for x in batch)
    ids = torch.full((len(batch), n), wordpiece.PAD, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return ids, mask


def mask_tokens(ids, attention_mask, rng, vocab, train=True):
    """BERT masking of 15% of real, non-special tokens (at least one per sentence).
    Training uses 80/10/10 [MASK]/random/unchanged; evaluation always [MASK]."""
    ids = ids.clone()
    candidates = (attention_mask == 1) & (ids > wordpiece.MASK)
    chosen = torch.from_numpy(rng.random(ids.shape) < 0.15) & candidates
    for i in range(ids.shape[0]):
        if not chosen[i].any():
            real = candidates[i].nonzero().flatten()
            chosen[i, real[int(rng.integers(len(real)))]] = True
    labels = ids[chosen]
    if train:
        roll = torch.from_numpy(rng.random(ids.shape))
        ids[chosen & (roll < 0.8)] = wordpiece.MASK
        swap = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[swap] = torch.from_numpy(rng.integers(len(wordpiece.SPECIALS), vocab, ids.shape))[swap]
    else:
        ids[chosen] = wordpiece.MASK
    return ids, chosen, labels


def batches(lengths, batch_size, rng):
    """One epoch of batches of similar length (less padding), in random order."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    out = []
    for s in range(0, len(order), chunk):
        part = sorted(order[s : s + chunk], key=lambda i: lengths[i])
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    return [out[i] for i in rng.permutation(len(out)) if len(out[i]) == batch_size]


def train(model, data, steps, batch_size, lr, seed):
    rng = np.random.default_rng(seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98), eps=1e-6
    )
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    lengths = [len(x) for x in data]
    model.train()
    step, queue, start, recent = 0, [], time.time(), []
    while step < steps:
        if not queue:
            queue = batches(lengths, batch_size, rng)
        ids, attention_mask = pad([data[i] for i in queue.pop()])
        inputs, chosen, labels = mask_tokens(ids, attention_mask, rng, model.token.num_embeddings)
        hidden, _ = model.encode(inputs, attention_mask)
        # The LM head only at masked positions: most of the work saved at no cost to the loss.
        loss = F.cross_entropy(model.lm_logits(hidden[chosen]), labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        recent.append(loss.item())
        if step % 100 == 0 or step == steps:
            log(f"step {step}/{steps}  loss {np.mean(recent):.3f}  lr {sched.get_last_lr()[0]:.2e}  " f"{time.time() - start:.0f}s")
            recent = []
    return time.time() - start


@torch.no_grad()
def masked_accuracy(model, data, seed, most_frequent):
    model.eval()
    rng = np.random.default_rng(seed)
    correct = baseline = total = 0
    for s in range(0, len(data), 64):
        ids, attention_mask = pad(data[s : s + 64])
        inputs, chosen, labels = mask_tokens(ids, attention_mask, rng, model.token.num_embeddings, train=False)
        hidden, _ = model.encode(inputs, attention_mask)
        predicted = model.lm_logits(hidden[chosen]).argmax(-1)
        correct += int((predicted == labels).sum())
        baseline += int((labels == most_frequent).sum())
        total += len(labels)
    return total, correct / total, baseline / total


@torch.no_grad()
def uniform_similarity(model, data):
    """Mean over examples, layers and heads of S(A, U) = 1 - mean_p TV(A[p,:], U), U uniform
    over the m real keys, only real query rows counted. Returns (mean, per-layer means)."""
    model.eval()
    per_layer = np.zeros(len(model.layers))
    count = 0
    for s in range(0, len(data), 64):
        part = data[s : s + 64]
        ids, attention_mask = pad(part)
        _, attentions = model.encode(ids, attention_mask)
        for i, x in enumerate(part):
            m = len(x)
            for layer, probs in enumerate(attentions):
                a = probs[i, :, :m, :m].double()
                tv = 0.5 * (a - 1.0 / m).abs().sum(-1)  # [heads, m]
                per_layer[layer] += float((1 - tv.mean(-1)).mean())
            count += 1
    per_layer /= count
    return float(per_layer.mean()), per_layer.tolist()


def export(model, path):
    model.eval()
    dummy = (torch.tensor([[2, 10, 11, 12, 3], [2, 13, 14, 3, 0]]), torch.tensor([[1] * 5, [1, 1, 1, 1, 0]]))
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    # No constant folding: folding would store a transposed copy of the tied embedding
    # matrix (+2 MB); ONNX Runtime folds the Transpose nodes itself at load time.
    torch.onnx.export(
        model,
        dummy,
        path,
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes=axes,
        opset_version=14,
        do_constant_folding=False,
    )


@torch.no_grad()
def expected_attention(model, tokenized):
    model64 = copy.deepcopy(model).double().eval()
    examples = []
    for i, ids in enumerate(tokenized):
        x = torch.tensor([ids])
        _, attentions = model64.encode(x, torch.ones_like(x))
        examples.append(
            {
                "index": i,
                "length": len(ids),
                "ids": ids,
                "stacks": {"encoder": [np.vectorize(lambda v: float(f"{v:.12g}"))(a[0].numpy()).tolist() for a in attentions]},
            }
        )
    return {
        "model": "model.onnx",
        "tolerance": 1e-5,
        "stacks": [{"name": "encoder", "kind": "self", "layers": CONFIG["layers"], "heads": CONFIG["heads"]}],
        "examples": examples,
    }


def check_tokenizer(out, pairs):
    path = os.path.join(tempfile.mkdtemp(prefix="sample-tokenizer-"), "pairs.jsonl")
    with open(path, "w") as f:
        for text, ids in pairs:
            f.write(json.dumps({"text": text, "ids": ids}) + "\n")
    subprocess.run(["node", os.path.join(HERE, "checkTokenizer.cjs"), os.path.join(out, "tokenizer.json"), path], check=True, cwd=ROOT)


def check_onnx(out, expected):
    """Runs model.onnx in onnxruntime-node with its Softmax outputs exposed and compares
    them with PyTorch's float64 attention; returns the largest difference."""
    tmp = tempfile.mkdtemp(prefix="sample-probe-")
    probe, names = attention_probe(onnx.load(os.path.join(out, "model.onnx")))
    onnx.save(probe, os.path.join(tmp, "probe.onnx"))
    rows = [{"input_ids": e["ids"], "attention_mask": [1] * e["length"]} for e in expected["examples"]]
    jobs = [{"model": os.path.join(tmp, "probe.onnx"), "inputs": rows, "floatInputs": [], "outputs": names, "padBatch": True}]
    with open(os.path.join(tmp, "jobs.json"), "w") as f:
        json.dump(jobs, f)
    subprocess.run(
        ["node", os.path.join(HERE, "..", "fixtures", "runProbes.cjs"), os.path.join(tmp, "jobs.json"), os.path.join(tmp, "results.json")],
        check=True,
        cwd=ROOT,
        env=dict(os.environ, ORT_DISABLE_TELEMETRY="1"),
    )
    with open(os.path.join(tmp, "results.json")) as f:
        result = json.load(f)[0]
    worst = 0.0
    for e in expected["examples"]:
        m = e["length"]
        for layer, want in enumerate(e["stacks"]["encoder"]):
            single = result["single"][e["index"]][layer]
            batch = result["batch"][layer]
            got = np.asarray(single["data"]).reshape(single["dims"])[0]
            padded = np.asarray(batch["data"]).reshape(batch["dims"])[e["index"], :, :m, :m]
            worst = max(worst, np.abs(got - want).max(), np.abs(padded - want).max())
    return worst, len(names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=20211005)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(ROOT, "media", "sample"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    train_text, held = corpus.split(corpus.load_synsets(), held_out_fraction=0.04, seed=args.seed)
    log(f"{len(train_text)} training sentences, {len(held)} held out")
    tokenizer = wordpiece.WordPiece(wordpiece.learn_vocab(train_text, VOCAB_SIZE))
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))

    # Readable held-out sentences for the sample; evaluation uses the other held-out ones.
    order = np.random.default_rng(args.seed).permutation(len(held))
    held = [held[i] for i in order]
    samples = [s for s in held if 6 <= len(s.split()) <= 30][:SAMPLE_SENTENCES]
    sample_set = set(samples)
    evaluation = [s for s in held if s not in sample_set][:EVAL_SENTENCES]
    with open(os.path.join(args.out, "sentences.txt"), "w") as f:
        f.write("\n".join(samples) + "\n")

    data = [truncate(tokenizer.encode(s)) for s in train_text]
    eval_data = [truncate(tokenizer.encode(s)) for s in evaluation]
    counts = np.bincount([i for x in data for i in x if i > wordpiece.MASK], minlength=VOCAB_SIZE)
    most_frequent = int(counts.argmax())

    torch.manual_seed(args.seed)
    model = BertMlm(VOCAB_SIZE, **CONFIG)
    untrained = copy.deepcopy(model)  # same architecture, same seed, no training
    seconds = train(model, data, args.steps, args.batch_size, args.lr, args.seed)
    model.eval()

    held_tokens, accuracy, baseline = masked_accuracy(model, eval_data, args.seed, most_frequent)
    trained_u, trained_layers = uniform_similarity(model, eval_data[:1000])
    untrained_u, untrained_layers = uniform_similarity(untrained, eval_data[:1000])

    export(model, os.path.join(args.out, "model.onnx"))
    expected = expected_attention(model, [tokenizer.encode(s) for s in samples[:3]])
    with open(os.path.join(args.out, "model.expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")

    figures = {
        "heldOutSentences": len(eval_data),
        "heldOutMaskedTokens": held_tokens,
        "accuracy": round(accuracy, 4),
        "baselineAccuracy": round(baseline, 4),
        "baselineToken": tokenizer.vocab[most_frequent],
        "meanUniformSimilarityTrained": round(trained_u, 4),
        "meanUniformSimilarityUntrained": round(untrained_u, 4),
        "uniformSimilarityPerLayerTrained": [round(v, 4) for v in trained_layers],
        "uniformSimilarityPerLayerUntrained": [round(v, 4) for v in untrained_layers],
        "steps": args.steps,
        "batchSize": args.batch_size,
        "learningRate": args.lr,
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "trainingSentences": len(train_text),
        "vocabSize": VOCAB_SIZE,
        "model": dict(CONFIG, vocab=VOCAB_SIZE, maxTokensTrained=MAX_TOKENS, seed=args.seed),
        "torch": torch.__version__,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")
    log(json.dumps(figures, indent=2))

    failures = []
    if accuracy < 2 * baseline:
        failures.append("masked-token accuracy is below twice the most-frequent-token baseline")
    if trained_u > untrained_u - 0.1:
        failures.append("trained attention is not at least 0.1 less uniform than untrained")
    extra = ["A small dog barked.", "The Quick brown fox, (jumping) over 3 lazy dogs!", "Café naïve résumé"]
    check_tokenizer(args.out, [(s, tokenizer.encode(s)) for s in extra + samples + evaluation[:500]])
    worst, tensors = check_onnx(args.out, expected)
    log(f"onnx check: {tensors} Softmax tensors, max |onnxruntime - torch float64| = {worst:.2e}")
    if worst > 1e-5:
        failures.append("ONNX attention differs from PyTorch by more than 1e-5")
    size = os.path.getsize(os.path.join(args.out, "model.onnx"))
    log(f"model.onnx: {size / 1e6:.2f} MB")
    if failures:
        sys.exit("FAILED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
