"""Training throughput of the reference trainer on a BERT-base-shaped reuse model, for npm run bench.

usage:
  benchTrainer.py MODEL PRECISION STEPS BATCH THREADS CACHE_DIR
      MODEL: "reuse" (BERT-base sizes, full reuse K = 12 in layers 1..6, the paper's Table 1
      row) or "baseline" (the same without reuse); PRECISION: fp32 | bf16. Trains STEPS - 1
      steps (then stops with a checkpoint, so no model.pt is written) of BATCH rows of 128
      tokens on random token shards (written once into CACHE_DIR) with media/trainer/train.py
      in this process, torch.set_num_threads(THREADS), and prints
      one JSON line: tokens/s over the steps after the first two (warm-up), per-step figures,
      CPU seconds and peak RSS.
"""

import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "media", "trainer"))
sys.dont_write_bytecode = True

import train  # noqa: E402
from shards import write_shards  # noqa: E402

WARMUP_STEPS = 2
WIDTH = 128
L, H, HIDDEN, FFN, VOCAB = 12, 12, 768, 3072, 30522


def heads_of(model):
    if model == "baseline":
        return [["exact"] * H for _ in range(L)], "partial", 0, 0
    # Full reuse, P = 6: every head of layers 1..6 takes layer 0's probabilities (Algorithm 1, K = H).
    reuse = [{"reuse": {"layer": 0, "head": h}} for h in range(H)]
    return [["exact"] * H] + [reuse] * 6 + [["exact"] * H for _ in range(L - 7)], "full", 6, H


def prepare(cache, model):
    os.makedirs(cache, exist_ok=True)
    heads, mode, P, K = heads_of(model)
    config = os.path.join(cache, "%s.reuse.json" % model)
    dims = {"layers": L, "heads": H, "hidden": HIDDEN, "ffn": FFN, "vocab": VOCAB, "maxPositions": 512}
    with open(config, "w", encoding="utf-8") as f:
        json.dump(
            {
                "schema": "attention-reuse/config@1",
                "source": {"analysisSha256": "0" * 64, "modelSha256": "0" * 64},
                "stack": "encoder",
                "dims": dims,
                "mode": mode,
                "P": P,
                "K": K,
                "heads": heads,
            },
            f,
        )
    shards = os.path.join(cache, "shards-%d" % WIDTH)
    if not os.path.exists(os.path.join(shards, "index.json")):
        ids = np.random.default_rng(7).integers(5, VOCAB, size=(4096, WIDTH), dtype=np.uint32)
        ids[:, 0] = 2
        write_shards(shards, (ids, np.full(len(ids), WIDTH)), (ids[:64], np.full(64, WIDTH)), VOCAB, 0, 4, [0, 1, 2, 3, 4], "0" * 64)
    return config, shards


def main(model, precision, steps, batch, threads, cache):
    torch.set_num_threads(threads)
    config, shards = prepare(cache, model)
    with tempfile.TemporaryDirectory(dir=cache) as out:
        run = os.path.join(out, "run")
        args = [config, "--data", shards, "--out", run, "--steps", str(steps), "--batch-size", str(batch), "--precision", precision]
        args += ["--eval-every", "0", "--checkpoint-every", str(steps + 1), "--stop-at-step", str(steps - 1)]
        cpu0, t0 = time.process_time(), time.time()
        code = train.main(args)
        wall, cpu = time.time() - t0, time.process_time() - cpu0
        if code != 0:
            sys.exit("train.py exited with %d" % code)
        with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
    timed = [r["tokensPerSecond"] for r in rows[WARMUP_STEPS:]]
    tokens = batch * WIDTH
    print(
        json.dumps(
            {
                "model": model,
                "precision": precision,
                "rate": tokens * len(timed) / sum(tokens / t for t in timed),  # all timed tokens over all timed seconds
                "perStep": [round(t, 1) for t in timed],
                "timedSteps": len(timed),
                "tokensPerStep": tokens,
                "wallSeconds": wall,
                "cpuSeconds": cpu,
                "maxRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "torch": torch.__version__,
                "threads": threads,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
