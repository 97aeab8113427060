"""Reference trainer for Reuse Transformers: masked-LM training of a reuse config.

    python train.py CONFIG.reuse.json --data SHARDS_DIR|TOKENS --out RUN_DIR [options]
    torchrun --nproc_per_node N train.py CONFIG.reuse.json ...   (gloo on CPU, nccl on GPU)

--data is a token-shard folder (``attention-reuse tokenize``; memory-mapped, held-out shards
for evaluation) or a single tokens@1 file. --batch-size is the global batch: N processes
(DistributedDataParallel) each take their share, split into --accumulate micro-batches, and
take the step one process with one batch would. Mixed precision: --precision bf16 (CPU or
GPU autocast) or fp16 (CUDA, with a gradient scaler).

--init-from DIR starts from the weights of the analysed ONNX model (a weights folder,
warm_start.py); --distill adds a frozen exact copy of it as teacher. --steps 0 evaluates
and exports only (--data may then be left out).

Writes RUN_DIR/metrics.jsonl (one JSON object per logged step: step, loss, lr,
tokensPerSecond, elapsedSeconds, maskedTokens, gradNorm, maxRssMiB, distillKl and objective
with --distill, and evalLoss, evalAccuracy, evalPerplexity, evalTokens on evaluation steps;
a warm start also logs step 0, before training, with loss null), RUN_DIR/run.json (the
settings a resume must keep), RUN_DIR/checkpoint.pt (the latest, with optimizer, scaler and
random-number state, so --resume continues exactly; written atomically), RUN_DIR/status.json
(run_state.write_status), RUN_DIR/model.pt when all steps are done, and RUN_DIR/model.onnx
(export_onnx.py) after every run that was not interrupted.

Exit codes: 0 done (or stopped at --stop-at-step or --max-minutes, resumable), 2 bad input,
130 interrupted (SIGINT or SIGTERM: the step in progress finishes and a checkpoint is saved).
"""

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
from export_onnx import export_onnx  # noqa: E402
from reuse_model import ConfigError, ModelOptions, ReuseBertForMaskedLM, count_parameters, load_config  # noqa: E402
from steps import Precision, evaluate, lr_at, train_step  # noqa: E402
from token_data import DataError, sha256_file  # noqa: E402
from train_options import check_inputs, open_data, parse_args, pick_device  # noqa: E402
from warm_start import WarmStart  # noqa: E402

# Test hook: SIGKILL this process right after the given step (a hard kill, no clean-up), so
# that resuming after a kill can be tested at a known step.
KILL_AT_STEP = "ATTENTION_REUSE_KILL_AT_STEP"


def optimizer_for(model, args):
    # BERT's recipe: no weight decay on biases, LayerNorms and the relative position bias.
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if name.endswith("bias") or "norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=args.lr)


def gloo_on_loopback():
    """Processes on one machine (MASTER_ADDR a loopback address, as attention-reuse train
    launches torchrun) talk over the loopback interface: gloo otherwise resolves the host name
    to pick one, which hangs where the name resolves slowly or to an address nobody answers."""
    if sys.platform.startswith("linux") and os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost"):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")


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
    except Exception as err:
        # status.json says the run failed, and how far it got, for the panel; the traceback follows.
        if int(os.environ.get("RANK", "0")) == 0:
            rs.record_failure(args.out, args.steps, "%s: %s" % (type(err).__name__, err))
        raise


def setup(args):
    """Everything a step needs, checked; resumes from the checkpoint when asked."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    config = load_config(args.config)
    config_sha = sha256_file(args.config)
    warm = WarmStart(args.init_from) if args.init_from else None
    notes = []
    if warm is not None:
        config, notes = warm.fit_config(config)
        options = warm.options(position=args.position, norm=args.norm)
    else:
        options = ModelOptions(norm=args.norm or "post", position=args.position)
    data, held_out, fingerprint = open_data(args)
    check_inputs(args, config, data, world)
    settings = rs.settings_of(args, config_sha, fingerprint, options, warm.sha256 if warm else None)
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
        if device.type != "cuda":
            gloo_on_loopback()
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    torch.manual_seed(args.seed)  # the same initial model on every process
    model = ReuseBertForMaskedLM(config, args.dropout, args.attention_dropout, options)
    if warm is not None and ckpt is None:
        warm.load_into(model)  # extra layers keep the seeded initialisation
    model = model.to(device)
    teacher = warm.teacher(device, options) if args.distill else None
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
    # What the run is, where it runs, what it trains, and where it starts from.
    run = dict(args=args, config=config, config_sha=config_sha, settings=settings, notes=notes)
    run.update(data=data, held_out=held_out if evaluating else None, world=world, rank=rank, device=device, precision=precision)
    run.update(model=model, ddp=ddp, forward=ddp if ddp is not None else model, teacher=teacher, warm=warm, optimizer=optimizer)
    run.update(start_step=start_step, elapsed_before=elapsed_before, ckpt_path=ckpt_path)
    return types.SimpleNamespace(**run)


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
        rs.write_status(r.args.out, "running", step, r.args.steps, checkpoint_step=step)
    r.checkpoint_step = step  # on every process: they decide together whether a checkpoint is due


def print_header(r):
    args = r.args
    note = "" if r.held_out is not None else " (no evaluation: no held-out shards)" if args.eval_every and args.data else ""
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
    if r.warm is not None:
        start = (
            "from the checkpoint (step %d)" % r.start_step if r.start_step else "with the weights of %s" % r.warm.manifest["model"]["path"]
        )
        print("warm start %s; %s" % (start, ", ".join(r.warm.manifest.get("notes", [])) or "every weight by its role"), flush=True)
        for line in r.notes:
            print("note: " + line, flush=True)
    if r.teacher is not None:
        print(
            "distillation: frozen exact copy as teacher, KL at T = %g, weight %g" % (args.distill_temperature, args.distill_weight),
            flush=True,
        )


def log_line(r, metrics, record, evaluation):
    """One metrics.jsonl line and its console line (rank 0)."""
    metrics.write(json.dumps(dict(record, **evaluation)) + "\n")
    metrics.flush()
    extra = "  eval loss %.4f acc %.3f" % (evaluation["evalLoss"], evaluation["evalAccuracy"]) if evaluation else ""
    if record["loss"] is None:
        print("step %d/%d  (before training)%s" % (record["step"], r.args.steps, extra), flush=True)
    else:
        kl = "  distill KL %.4f" % record["distillKl"] if "distillKl" in record else ""
        print(
            "step %d/%d  loss %.4f%s  lr %.3g  %.0f tok/s%s"
            % (record["step"], r.args.steps, record["loss"], kl, record["lr"], record["tokensPerSecond"], extra),
            flush=True,
        )


def finish(r, step, state):
    """model.pt once every step is done, model.onnx after every run that was not interrupted (rank 0)."""
    if state == "finished":
        rs.atomic_save(
            {
                "format": "attention-reuse/model@1",
                "config": r.config,
                "options": r.model.options.to_dict(),
                "step": step,
                "model": r.model.state_dict(),
                "parameters": count_parameters(r.model),
            },
            os.path.join(r.args.out, "model.pt"),
        )
    if state != "interrupted":
        path = export_onnx(r.model, os.path.join(r.args.out, "model.onnx"))
        print("exported %s (logits at every position; eager attention, ready for attention-reuse analyze)" % path, flush=True)


def run(args):
    r = setup(args)
    r.checkpoint_step = r.start_step if args.resume else None
    metrics_path = os.path.join(args.out, "metrics.jsonl")
    if r.rank == 0:
        rs.remove_stale_temporaries(args.out)
        if args.resume:
            rs.truncate_metrics(metrics_path, r.start_step)
        rs.write_run_file(args.out, r.settings, args)
        rs.write_status(args.out, "running", r.start_step, args.steps, checkpoint_step=r.checkpoint_step)
        print_header(r)
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
        if r.start_step == 0 and r.held_out is not None and (r.warm is not None or args.steps == 0):
            # Where training starts: the warm-started model (or the model a --steps 0 run exports).
            evaluation = evaluate(r)
            mark = time.time()
            if r.rank == 0:
                log_line(r, metrics, {"step": 0, "loss": None, "lr": 0.0, "tokensPerSecond": 0.0, "elapsedSeconds": 0.0}, evaluation)
        for step in range(r.start_step + 1, args.steps + 1):
            rs.progress["step"] = step - 1
            time_up = args.max_minutes is not None and time.time() - started >= args.max_minutes * 60
            loss, kl, predicted, tokens, (interrupted, out_of_time) = train_step(r, step, [float(stop["signal"]), float(time_up)])
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
                if kl is not None:
                    record.update(
                        distillKl=kl, objective=(1 - args.distill_weight) * loss + args.distill_weight * args.distill_temperature**2 * kl
                    )
                record.update(gradNorm=grad_norm, maxRssMiB=round(max_rss_mib(), 1))
                log_line(r, metrics, record, evaluation)
                mark, tokens_since = now, 0
            rs.progress["step"] = step
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
        if step == r.start_step and r.checkpoint_step != step:
            save_checkpoint(r, step, r.elapsed_before)  # --steps 0: the checkpoint a later --resume trains on from
        if r.rank == 0:
            finish(r, step, state)
            rs.write_status(args.out, state, step, args.steps, checkpoint_step=r.checkpoint_step, exit_code=code)
        if args.save_rank_params:
            # The summed gradient of the last step (before clipping) and the parameters after it.
            torch.save(
                {"params": {k: v.detach().cpu() for k, v in r.model.state_dict().items()}, "grads": last_grads},
                os.path.join(args.out, "params-rank%d.pt" % r.rank),
            )
        if r.world > 1:
            # Every process leaves together, once each has written what it writes: one that left
            # while another still exports or saves would leave that one on a closed connection.
            dist.barrier()
    finally:
        if metrics is not None:
            metrics.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code


def leave(code):
    """Ends a torchrun process without tearing its process group down: after the barrier there
    is nothing left to send, and gloo's teardown (destroy_process_group, or the destructors at
    interpreter exit) now and then hangs a process whose peer has already gone (pytorch#75097)."""
    if dist.is_available() and dist.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    leave(main())
