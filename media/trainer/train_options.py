"""The trainer's command line: flags, the data they name, and the checks made before a run starts."""

import argparse
import os

import torch

import run_state as rs
from reuse_model import NORMS, POSITIONS
from shards import ShardSet, is_shard_folder
from steps import PRECISIONS
from token_data import DataError, read_token_file


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train.py", description="Masked-LM training of a reuse config (attention-reuse/config@1).")
    p.add_argument("config", help="the reuse config, NAME.reuse.json")
    p.add_argument(
        "--data", help="token-shard folder (attention-reuse tokenize) or token file (attention-reuse/tokens@1); optional with --steps 0"
    )
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step over all processes and micro-batches")
    p.add_argument("--accumulate", type=int, default=1, help="micro-batches per step (gradient accumulation)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: autocast on CPU or GPU; fp16: CUDA with a grad scaler")
    p.add_argument("--lr", type=float, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--warmup-steps", type=int, default=None, help="linear warm-up (default: 10%% of --steps), then linear decay")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=None, help="tokens per example (default: the shards' length, else maxPositions)")
    p.add_argument("--mask-prob", type=float, default=0.15)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--attention-dropout", type=float, default=0.1)
    p.add_argument("--norm", choices=NORMS, default=None, help="post (default): BERT; pre: LayerNorm before attention and FFN")
    p.add_argument("--position", choices=POSITIONS, default="absolute", help="relative: a learned bias per computed head and offset")
    p.add_argument("--init-from", default=None, help="weights folder (attention-reuse/weights@1) of the analysed model to start from")
    p.add_argument("--distill", action="store_true", help="also learn the --init-from model's outputs (a frozen exact copy as teacher)")
    p.add_argument("--distill-temperature", type=float, default=2.0, help="softmax temperature T of the distillation KL")
    p.add_argument("--distill-weight", type=float, default=0.5, help="w in (1 - w)·MLM + w·T²·KL")
    p.add_argument("--eval-every", type=int, default=200, help="steps between evaluations on the held-out shards (0: never)")
    p.add_argument("--eval-batches", type=int, default=20, help="global batches of held-out rows per evaluation")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--max-minutes", type=float, default=None, help="save a checkpoint and stop after this much time")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--tokenizer-sha256", default=None, help="refuse shards written with another tokenizer.json")
    p.add_argument("--stop-at-step", type=int, default=None, help="save a checkpoint and stop after this step, as an interruption would")
    p.add_argument(
        "--save-rank-params",
        action="store_true",
        help="every process writes its final parameters and last summed gradient to RUN_DIR/params-rank{R}.pt",
    )
    return p.parse_args(argv)


def open_data(args):
    """(training rows, held-out rows or None, fingerprint) of --data; all None without --data (--steps 0)."""
    if args.data is None:
        if args.steps != 0:
            raise rs.RunError("--data is needed to train (only --steps 0, export only, runs without it)")
        return None, None, None
    if is_shard_folder(args.data):
        shards = ShardSet(args.data, args.tokenizer_sha256)
        return shards.train, shards.held_out, shards.fingerprint()
    if os.path.isdir(args.data):
        raise DataError("--data %s is a folder without index.json (write shards with attention-reuse tokenize)" % args.data)
    data = read_token_file(args.data)
    return data, None, data.fingerprint()


def check_inputs(args, config, data, world):
    dims = config["dims"]
    check_flags(args, world)
    if data is None:
        args.max_length = args.max_length or dims["maxPositions"]
        return
    if data.header["vocabSize"] > dims["vocab"]:
        raise DataError(
            "vocabSize: the data's ids go up to %d, but the config's vocabulary has %d entries (tokenized with the model's tokenizer?)"
            % (data.header["vocabSize"] - 1, dims["vocab"])
        )
    if data.fixed_width is not None:
        if data.fixed_width > dims["maxPositions"]:
            raise DataError(
                "sequenceLength: the shards hold rows of %d tokens, more than the config's maxPositions %d (tokenize with --max-length %d)"
                % (data.fixed_width, dims["maxPositions"], dims["maxPositions"])
            )
        if args.max_length not in (None, data.fixed_width):
            raise rs.RunError(
                "--max-length %d differs from the shards' sequenceLength %d (tokenize again to change it)"
                % (args.max_length, data.fixed_width)
            )
        args.max_length = data.fixed_width
    elif args.max_length is None:
        args.max_length = dims["maxPositions"]
    if not 1 <= args.max_length <= dims["maxPositions"]:
        raise rs.RunError("--max-length %d must be in 1..%d (the config's maxPositions)" % (args.max_length, dims["maxPositions"]))


def check_flags(args, world):
    """The flags that need no data."""
    if args.steps < 0:
        raise rs.RunError("--steps must be >= 0 (0: evaluate and export only)")
    for name in ("batch_size", "accumulate", "checkpoint_every", "log_every", "eval_batches"):
        if getattr(args, name) < 1:
            raise rs.RunError("--%s must be >= 1" % name.replace("_", "-"))
    if args.eval_every < 0:
        raise rs.RunError("--eval-every must be >= 0 (0: never)")
    if args.warmup_steps is not None and args.warmup_steps < 0:
        raise rs.RunError("--warmup-steps must be >= 0")
    if not args.lr > 0:
        raise rs.RunError("--lr must be positive")
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise rs.RunError("--max-minutes must be positive")
    if args.batch_size % (world * args.accumulate):
        raise rs.RunError(
            "--batch-size %d must be a multiple of %d processes × --accumulate %d (each micro-batch is equal)"
            % (args.batch_size, world, args.accumulate)
        )
    if args.distill and args.init_from is None:
        raise rs.RunError("--distill learns from the --init-from model: give --init-from")
    if not args.distill_temperature > 0:
        raise rs.RunError("--distill-temperature must be positive")
    if not 0 <= args.distill_weight <= 1:
        raise rs.RunError("--distill-weight must be in 0..1")


def pick_device(choice, local_rank):
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise rs.RunError("--device cuda, but this PyTorch sees no CUDA device")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")
