"""Reference trainer for Reuse Transformers: masked-LM training of a reuse config.

    python train.py CONFIG.reuse.json --data TOKENS --out RUN_DIR [options]
    torchrun --nproc_per_node N train.py CONFIG.reuse.json ...   (gloo on CPU, nccl on GPU)

Writes RUN_DIR/metrics.jsonl (one JSON object per logged step: step, loss, lr,
tokensPerSecond, elapsedSeconds, maskedTokens), RUN_DIR/checkpoint.pt (the latest, with
optimizer and random-number state, so --resume continues exactly) and RUN_DIR/model.pt at
the end. --batch-size is the global batch: each of N processes takes its slice of the same
batch and gradients are summed, so N processes take the step one process would.

Exit codes: 0 done (or stopped at --stop-at-step), 2 bad input, 130 interrupted (SIGINT or
SIGTERM: the step in progress finishes and a checkpoint is saved).
"""

import argparse
import hashlib
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ inside the installed extension

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from reuse_model import ConfigError, ReuseBertForMaskedLM, count_parameters, load_config  # noqa: E402
from token_data import DataError, masked_lm_batch, read_token_file  # noqa: E402

CHECKPOINT_FORMAT = "attention-reuse/checkpoint@1"


class RunError(ValueError):
    """A run directory or flag the trainer refuses."""


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train.py", description="Masked-LM training of a reuse config (attention-reuse/config@1).")
    p.add_argument("config", help="the reuse config, NAME.reuse.json")
    p.add_argument("--data", required=True, help="token file (attention-reuse/tokens@1)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32, help="examples per step over all processes")
    p.add_argument("--lr", type=float, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--warmup-steps", type=int, default=None, help="linear warm-up (default: 10%% of --steps), then linear decay")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=None, help="tokens per example (default: the config's maxPositions)")
    p.add_argument("--mask-prob", type=float, default=0.15)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--attention-dropout", type=float, default=0.1)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=1)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--stop-at-step", type=int, default=None, help="save a checkpoint and stop after this step, as an interruption would")
    p.add_argument(
        "--save-rank-params",
        action="store_true",
        help="every process writes its final parameters and last summed gradient to RUN_DIR/params-rank{R}.pt",
    )
    return p.parse_args(argv)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def lr_at(args, step):
    """Linear warm-up to --lr over the warm-up steps, then linear decay towards 0 at --steps."""
    warmup = min(args.steps, args.steps // 10 if args.warmup_steps is None else args.warmup_steps)
    if step <= warmup:
        return args.lr * step / warmup
    return args.lr * (args.steps - step + 1) / (args.steps - warmup + 1)


def atomic_save(obj, path):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(device):
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_rng(state, device):
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def truncate_metrics(path, last_step):
    """Drops metric lines after the checkpoint's step, which a resumed run writes again."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        keep = [line for line in f if line.strip() and json.loads(line).get("step", 0) <= last_step]
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(keep)
    os.replace(tmp, path)


def check_inputs(args, config, data, world):
    dims = config["dims"]
    if data.header["vocabSize"] > dims["vocab"]:
        raise DataError(
            "token file ids go up to %d, but the config's vocabulary has %d entries (was it tokenized with the model's tokenizer?)"
            % (data.header["vocabSize"] - 1, dims["vocab"])
        )
    max_length = dims["maxPositions"] if args.max_length is None else args.max_length
    if not 1 <= max_length <= dims["maxPositions"]:
        raise RunError("--max-length %d must be in 1..%d (the config's maxPositions)" % (max_length, dims["maxPositions"]))
    for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
        if getattr(args, name) < 1:
            raise RunError("--%s must be >= 1" % name.replace("_", "-"))
    if not args.lr > 0:
        raise RunError("--lr must be positive")
    if args.batch_size % world:
        raise RunError("--batch-size %d must be a multiple of the %d processes" % (args.batch_size, world))
    return max_length


def pick_device(choice, local_rank):
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RunError("--device cuda, but this PyTorch sees no CUDA device")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def optimizer_for(model, args):
    # BERT's recipe: no weight decay on biases and LayerNorm parameters.
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if name.endswith("bias") or "norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr)


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (ConfigError, DataError, RunError) as err:
        print("attention-reuse trainer: %s" % err, file=sys.stderr, flush=True)
        return 2


def run(args):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    config = load_config(args.config)
    config_sha = sha256_file(args.config)
    data = read_token_file(args.data)
    max_length = check_inputs(args, config, data, world)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    if args.resume and not os.path.exists(ckpt_path):
        raise RunError("--resume: %s has no checkpoint.pt" % args.out)
    if not args.resume and os.path.exists(ckpt_path):
        raise RunError("%s already holds a run (checkpoint.pt): pass --resume or choose another --out" % args.out)
    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    torch.manual_seed(args.seed)  # the same initial model on every process
    model = ReuseBertForMaskedLM(config, args.dropout, args.attention_dropout).to(device)
    optimizer = optimizer_for(model, args)
    params = list(model.parameters())
    start_step, elapsed_before = 0, 0.0
    if args.resume:
        ckpt = torch.load(ckpt_path, map_location=device)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise RunError("%s is not a checkpoint of this trainer" % ckpt_path)
        if ckpt["configSha256"] != config_sha:
            raise RunError("%s was trained from a different reuse config than %s" % (ckpt_path, args.config))
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_step, elapsed_before = ckpt["step"], ckpt["elapsedSeconds"]
        states = ckpt["rng"]
        restore_rng(states[rank] if rank < len(states) else states[0], device)
    else:
        torch.manual_seed(args.seed + 7919 * rank)  # dropout differs between processes, as their data does
    if world > 1:
        for p in params:
            dist.broadcast(p.data, 0)

    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if rank == 0:
        if args.resume:
            truncate_metrics(metrics_path, start_step)
        print(
            "model: %d parameters, %d processes on %s, steps %d..%d"
            % (count_parameters(model), world, device.type, start_step + 1, args.steps),
            flush=True,
        )
    stop = {"signal": False}

    def on_signal(signum, frame):
        stop["signal"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def save_checkpoint(step, elapsed):
        states = [None] * world
        if world > 1:
            dist.all_gather_object(states, rng_state(device))
        else:
            states = [rng_state(device)]
        if rank == 0:
            atomic_save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": states,
                    "elapsedSeconds": elapsed,
                    "configSha256": config_sha,
                    "args": vars(args),
                },
                ckpt_path,
            )

    per_rank = args.batch_size // world
    started = time.time()
    mark, tokens_since = started, 0
    code, step, last_grads = 0, start_step, {}
    metrics = open(metrics_path, "a", encoding="utf-8") if rank == 0 else None
    try:
        for step in range(start_step + 1, args.steps + 1):
            ids, mask, labels = masked_lm_batch(data, args.seed, step, args.batch_size, max_length, args.mask_prob)
            predicted = int((labels != -100).sum())
            tokens_since += int(mask.sum())
            rows = slice(rank * per_rank, (rank + 1) * per_rank)
            model.train()
            logits, targets, _ = model(ids[rows].to(device), mask[rows].to(device), labels=labels[rows].to(device))
            loss_sum = F.cross_entropy(logits.float(), targets, reduction="sum")
            # Divided by the global count, so that summing over processes gives one process's gradient.
            (loss_sum / predicted).backward()
            flat = torch.cat(
                [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
                + [loss_sum.detach().reshape(1), torch.tensor([float(stop["signal"])], device=device)]
            )
            if world > 1:
                dist.all_reduce(flat)
            at = 0
            for p in params:
                p.grad = flat[at : at + p.numel()].view_as(p).clone()
                at += p.numel()
            loss, interrupted = flat[at].item() / predicted, flat[at + 1].item() > 0
            if args.save_rank_params:
                last_grads = {name: p.grad.detach().cpu().clone() for name, p in model.named_parameters()}
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            lr = lr_at(args, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            now = time.time()
            elapsed = elapsed_before + now - started
            if rank == 0 and (step % args.log_every == 0 or step == args.steps):
                tps = tokens_since / max(now - mark, 1e-9)
                record = {
                    "step": step,
                    "loss": loss,
                    "lr": lr,
                    "tokensPerSecond": tps,
                    "elapsedSeconds": elapsed,
                    "maskedTokens": predicted,
                }
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                print("step %d/%d  loss %.4f  lr %.3g  %.0f tok/s" % (step, args.steps, loss, lr, tps), flush=True)
                mark, tokens_since = now, 0
            stopping = interrupted or step == args.stop_at_step
            if stopping or step % args.checkpoint_every == 0 or step == args.steps:
                save_checkpoint(step, elapsed)
            if stopping:
                code = 130 if interrupted else 0
                if rank == 0:
                    print("stopped after step %d; checkpoint saved, continue with --resume" % step, flush=True)
                break
        if code == 0 and step == args.steps and rank == 0:
            atomic_save(
                {
                    "format": "attention-reuse/model@1",
                    "config": config,
                    "step": step,
                    "model": model.state_dict(),
                    "parameters": count_parameters(model),
                },
                os.path.join(args.out, "model.pt"),
            )
        if args.save_rank_params:
            # The summed gradient of the last step (before clipping) and the parameters after it.
            torch.save(
                {"params": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "grads": last_grads},
                os.path.join(args.out, "params-rank%d.pt" % rank),
            )
    finally:
        if metrics is not None:
            metrics.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
