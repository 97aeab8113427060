"""Reference trainer for Reuse Transformers: masked-LM training of a reuse config.

    python train.py CONFIG.reuse.json --data SHARDS_DIR|TOKENS --out RUN_DIR [options]
    torchrun --nproc_per_node N train.py CONFIG.reuse.json ...   (gloo on CPU, nccl on GPU)

--data is a token-shard folder (``attention-reuse tokenize``; memory-mapped, held-out shards
for evaluation) or a single tokens@1 file. --batch-size is the global batch: N processes
(DistributedDataParallel) each take their share, split into --accumulate micro-batches, and
take the step one process with one batch would. Mixed precision: --precision bf16 (CPU or
GPU autocast) or fp16 (CUDA, with a gradient scaler).

Writes RUN_DIR/metrics.jsonl (one JSON object per logged step: step, loss, lr,
tokensPerSecond, elapsedSeconds, maskedTokens, gradNorm, maxRssMiB, and evalLoss,
evalAccuracy, evalPerplexity, evalTokens on evaluation steps), RUN_DIR/run.json (the
settings a resume must keep), RUN_DIR/checkpoint.pt (the latest, with optimizer, scaler and
random-number state, so --resume continues exactly), RUN_DIR/status.json and, when all
steps are done, RUN_DIR/model.pt.

Exit codes: 0 done (or stopped at --stop-at-step or --max-minutes, resumable), 2 bad input,
130 interrupted (SIGINT or SIGTERM: the step in progress finishes and a checkpoint is saved).
"""

import argparse
import json
import os
import resource
import signal
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ inside the installed extension

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

import run_state as rs  # noqa: E402
from reuse_model import NORMS, POSITIONS, ConfigError, ModelOptions, ReuseBertForMaskedLM, count_parameters, load_config  # noqa: E402
from shards import ShardSet, is_shard_folder  # noqa: E402
from steps import PRECISIONS, Precision, evaluate, lr_at, train_step  # noqa: E402
from token_data import DataError, read_token_file, sha256_file  # noqa: E402

# Test hook: SIGKILL this process right after the given step (a hard kill, no clean-up), so
# that resuming after a kill can be tested at a known step.
KILL_AT_STEP = "ATTENTION_REUSE_KILL_AT_STEP"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="train.py", description="Masked-LM training of a reuse config (attention-reuse/config@1).")
    p.add_argument("config", help="the reuse config, NAME.reuse.json")
    p.add_argument("--data", required=True, help="token-shard folder (attention-reuse tokenize) or token file (attention-reuse/tokens@1)")
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
    p.add_argument("--norm", choices=NORMS, default="post", help="post: BERT; pre: LayerNorm before attention and FFN")
    p.add_argument("--position", choices=POSITIONS, default="absolute", help="relative: a learned bias per computed head and offset")
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
    """(training rows, held-out rows or None, fingerprint) of --data."""
    if is_shard_folder(args.data):
        shards = ShardSet(args.data, args.tokenizer_sha256)
        return shards.train, shards.held_out, shards.fingerprint()
    if os.path.isdir(args.data):
        raise DataError("--data %s is a folder without index.json (write shards with attention-reuse tokenize)" % args.data)
    data = read_token_file(args.data)
    return data, None, data.fingerprint()


def check_inputs(args, config, data, world):
    dims = config["dims"]
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
    for name in ("steps", "batch_size", "accumulate", "checkpoint_every", "log_every", "eval_batches"):
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


def pick_device(choice, local_rank):
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise rs.RunError("--device cuda, but this PyTorch sees no CUDA device")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def optimizer_for(model, args):
    # BERT's recipe: no weight decay on biases, LayerNorms and the relative position bias.
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if name.endswith("bias") or "norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr)


def max_rss_mib():
    # ru_maxrss is KiB on Linux and bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024


def main(argv=None):
    args = parse_args(argv)
    try:
        return run(args)
    except (ConfigError, DataError, rs.RunError) as err:
        print("attention-reuse trainer: %s" % err, file=sys.stderr, flush=True)
        return 2


def setup(args):
    """Everything a step needs, checked; resumes from the checkpoint when asked."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    config = load_config(args.config)
    config_sha = sha256_file(args.config)
    data, held_out, fingerprint = open_data(args)
    check_inputs(args, config, data, world)
    options = ModelOptions(norm=args.norm, position=args.position)
    settings = rs.settings_of(args, config_sha, fingerprint, options)
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    if args.resume and not os.path.exists(ckpt_path):
        raise rs.RunError("--resume: %s has no checkpoint.pt" % args.out)
    if not args.resume and os.path.exists(ckpt_path):
        raise rs.RunError("%s already holds a run (checkpoint.pt): pass --resume or choose another --out" % args.out)
    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    precision = Precision(args.precision, device)
    ckpt = rs.load_checkpoint(ckpt_path, device, config_sha) if args.resume else None
    if ckpt is not None:
        rs.check_resume(ckpt.get("settings"), settings, args.out)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    torch.manual_seed(args.seed)  # the same initial model on every process
    model = ReuseBertForMaskedLM(config, args.dropout, args.attention_dropout, options).to(device)
    optimizer = optimizer_for(model, args)
    start_step, elapsed_before = 0, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        precision.load_state_dict(ckpt.get("scaler"))
        start_step, elapsed_before = ckpt["step"], ckpt["elapsedSeconds"]
        states = ckpt["rng"]
        rs.restore_rng(states[rank] if rank < len(states) else states[0], device)
    else:
        torch.manual_seed(args.seed + 7919 * rank)  # dropout differs between processes, as their data does
    ddp = None
    if world > 1:
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    evaluating = args.eval_every > 0 and held_out is not None
    return types.SimpleNamespace(
        args=args,
        config=config,
        config_sha=config_sha,
        settings=settings,
        data=data,
        held_out=held_out if evaluating else None,
        world=world,
        rank=rank,
        device=device,
        precision=precision,
        model=model,
        ddp=ddp,
        forward=ddp if ddp is not None else model,
        optimizer=optimizer,
        start_step=start_step,
        elapsed_before=elapsed_before,
        ckpt_path=ckpt_path,
    )


def save_checkpoint(r, step, elapsed):
    states = [None] * r.world
    if r.world > 1:
        dist.all_gather_object(states, rs.rng_state(r.device))
    else:
        states = [rs.rng_state(r.device)]
    if r.rank == 0:
        rs.atomic_save(
            {
                "format": rs.CHECKPOINT_FORMAT,
                "step": step,
                "model": r.model.state_dict(),
                "optimizer": r.optimizer.state_dict(),
                "scaler": r.precision.state_dict(),
                "rng": states,
                "elapsedSeconds": elapsed,
                "configSha256": r.config_sha,
                "settings": r.settings,
            },
            r.ckpt_path,
        )


def run(args):
    r = setup(args)
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if r.rank == 0:
        rs.remove_stale_temporaries(args.out)
        if args.resume:
            rs.truncate_metrics(metrics_path, r.start_step)
        rs.write_run_file(args.out, r.settings, args)
        note = "" if r.held_out is not None else " (no evaluation: no held-out shards)" if args.eval_every else ""
        print(
            "model: %d parameters, %d processes on %s, %s, batch %d = %d × %d micro-batches of %d, steps %d..%d%s"
            % (
                count_parameters(r.model),
                r.world,
                r.device.type,
                args.precision,
                args.batch_size,
                r.world,
                args.accumulate,
                args.batch_size // (r.world * args.accumulate),
                r.start_step + 1,
                args.steps,
                note,
            ),
            flush=True,
        )
    stop = {"signal": False}

    def on_signal(signum, frame):
        stop["signal"] = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    kill_at = int(os.environ.get(KILL_AT_STEP, "0"))
    started = time.time()
    mark, tokens_since = started, 0
    code, step, state, last_grads = 0, r.start_step, "finished", {}
    params = list(r.model.parameters())
    metrics = open(metrics_path, "a", encoding="utf-8") if r.rank == 0 else None
    try:
        for step in range(r.start_step + 1, args.steps + 1):
            time_up = args.max_minutes is not None and time.time() - started >= args.max_minutes * 60
            loss, predicted, tokens, (interrupted, out_of_time) = train_step(r, step, [float(stop["signal"]), float(time_up)])
            tokens_since += tokens
            r.precision.unscale(r.optimizer)
            if args.save_rank_params:
                last_grads = {name: p.grad.detach().cpu().clone() for name, p in r.model.named_parameters()}
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
            lr = lr_at(args, step)
            for group in r.optimizer.param_groups:
                group["lr"] = lr
            r.precision.step(r.optimizer)
            r.optimizer.zero_grad(set_to_none=True)

            evaluation = {}
            if r.held_out is not None and (step % args.eval_every == 0 or step == args.steps):
                t0 = time.time()
                evaluation = evaluate(r)
                mark += time.time() - t0  # throughput counts training time only
            now = time.time()
            elapsed = r.elapsed_before + now - started
            if r.rank == 0 and (step % args.log_every == 0 or step == args.steps or evaluation):
                tps = tokens_since / max(now - mark, 1e-9)
                record = {
                    "step": step,
                    "loss": loss,
                    "lr": lr,
                    "tokensPerSecond": tps,
                    "elapsedSeconds": elapsed,
                    "maskedTokens": predicted,
                }
                record.update(gradNorm=grad_norm, maxRssMiB=round(max_rss_mib(), 1), **evaluation)
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                extra = "  eval loss %.4f acc %.3f" % (evaluation["evalLoss"], evaluation["evalAccuracy"]) if evaluation else ""
                print("step %d/%d  loss %.4f  lr %.3g  %.0f tok/s%s" % (step, args.steps, loss, lr, tps, extra), flush=True)
                mark, tokens_since = now, 0
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            stopping = interrupted > 0 or out_of_time > 0 or (step == args.stop_at_step and step < args.steps)
            if stopping or step % args.checkpoint_every == 0 or step == args.steps:
                save_checkpoint(r, step, elapsed)
            if stopping:
                code, state = (130, "interrupted") if interrupted > 0 else (0, "time-limit" if out_of_time > 0 else "stopped")
                if r.rank == 0:
                    why = " (--max-minutes %g)" % args.max_minutes if state == "time-limit" else ""
                    print("stopped after step %d%s; checkpoint saved, continue with --resume" % (step, why), flush=True)
                break
        if code == 0 and state == "finished" and r.rank == 0:
            rs.atomic_save(
                {
                    "format": "attention-reuse/model@1",
                    "config": r.config,
                    "options": r.model.options.to_dict(),
                    "step": step,
                    "model": r.model.state_dict(),
                    "parameters": count_parameters(r.model),
                },
                os.path.join(args.out, "model.pt"),
            )
        if r.rank == 0:
            rs.write_status(args.out, state, step, args.steps)
        if args.save_rank_params:
            # The summed gradient of the last step (before clipping) and the parameters after it.
            torch.save(
                {"params": {k: v.detach().cpu() for k, v in r.model.state_dict().items()}, "grads": last_grads},
                os.path.join(args.out, "params-rank%d.pt" % r.rank),
            )
    finally:
        if metrics is not None:
            metrics.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if r.world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
