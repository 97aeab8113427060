"""A run folder's state: settings, checkpoints, random state, metrics and status.

A run is fixed by its settings (the config's sha256, the data's fingerprint, the batch,
precision and architecture); a checkpoint carries them, RUN_DIR/run.json shows them, and a
resume that would change one is refused naming its flag. What may change on resume: the
number of steps, logging, evaluation and checkpoint intervals, --max-minutes, the device and
the number of processes (the global batch, and so the result, does not depend on it).
"""

import glob
import json
import os
import re
import time

import torch

CHECKPOINT_FORMAT = "attention-reuse/checkpoint@1"
RUN_FORMAT = "attention-reuse/run@1"


class RunError(ValueError):
    """A run directory or flag the trainer refuses."""


def settings_of(args, config_sha, data_fingerprint, options, init_sha=None):
    """What a resumed run must keep, in the camelCase names of the CLI's TrainOptions."""
    distill = bool(getattr(args, "distill", False))
    return {
        "configSha256": config_sha,
        "data": data_fingerprint,
        "batchSize": args.batch_size,
        "accumulate": args.accumulate,
        "precision": args.precision,
        "seed": args.seed,
        "maxLength": args.max_length,
        "maskProb": args.mask_prob,
        "dropout": args.dropout,
        "attentionDropout": args.attention_dropout,
        "lr": args.lr,
        "warmupSteps": args.warmup_steps,  # as given: None follows --steps
        "weightDecay": args.weight_decay,
        "model": options.to_dict(),
        "initFrom": init_sha,  # the sha256 of the --init-from model
        "distill": distill,
        "distillTemperature": args.distill_temperature if distill else None,
        "distillWeight": args.distill_weight if distill else None,
    }


def flag_of(key):
    if key == "configSha256":
        return "the reuse config"
    if key.startswith("model."):
        name = key.split(".", 1)[1]
        return "--" + name if name in ("norm", "position") else "model option %s" % name
    return "--" + re.sub("([A-Z])", lambda m: "-" + m.group(1).lower(), key)


def check_resume(saved, current, where):
    """Refuses to resume when a setting differs, naming the flag and both values."""
    if saved is None:
        return  # a checkpoint from before settings were recorded: only the config sha is checked
    flat_saved, flat_current = dict(saved), dict(current)
    for group in ("model",):
        for k, v in (flat_saved.pop(group, None) or {}).items():
            flat_saved["%s.%s" % (group, k)] = v
        for k, v in (flat_current.pop(group, None) or {}).items():
            flat_current["%s.%s" % (group, k)] = v
    if flat_saved.get("data", "") is None:
        # Started by --steps 0 without data: the first run with data sets both.
        flat_saved.pop("data")
        flat_saved.pop("maxLength", None)
    for key, value in flat_current.items():
        if key in flat_saved and flat_saved[key] != value:
            if key == "data":
                raise RunError(
                    "cannot resume %s: --data is not the data it was trained on (%s there, %s here)"
                    % (where, json.dumps(flat_saved[key], sort_keys=True), json.dumps(value, sort_keys=True))
                )
            if key == "initFrom":
                given = "was given no --init-from" if value is None else "names another --init-from model"
                raise RunError(
                    "cannot resume %s: it was started from the weights of a model (settings.initFrom), and this run %s" % (where, given)
                )
            if key == "configSha256":
                raise RunError("cannot resume %s: it was trained from a different reuse config (configSha256 differs)" % where)
            raise RunError(
                "cannot resume %s: %s is %s here, but the run was started with %s (settings.%s); keep it or choose another --out"
                % (where, flag_of(key), json.dumps(value), json.dumps(flat_saved[key]), key)
            )


def atomic_save(obj, path):
    """torch.save into a temporary file, flushed to disk, then renamed: a kill or a crash leaves the previous file whole."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_json(obj, path):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def remove_stale_temporaries(run_dir):
    """A killed process leaves its half-written checkpoint beside the last complete one."""
    for path in glob.glob(os.path.join(run_dir, "*.tmp")):
        os.remove(path)


def rng_state(device):
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def restore_rng(state, device):
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], device)


def load_checkpoint(path, device, config_sha):
    ckpt = torch.load(path, map_location=device)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise RunError("%s is not a checkpoint of this trainer" % path)
    if ckpt["configSha256"] != config_sha:
        raise RunError("cannot resume %s: it was trained from a different reuse config (configSha256 differs)" % os.path.dirname(path))
    return ckpt


def truncate_metrics(path, last_step):
    """Drops metric lines after the checkpoint's step (a resumed run writes them again) and a half-written last line."""
    if not os.path.exists(path):
        return
    keep = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line a killed process was writing
            if record.get("step", 0) <= last_step:
                keep.append(json.dumps(record) + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(keep)
    os.replace(tmp, path)


def write_run_file(run_dir, settings, args):
    atomic_json(
        {
            "format": RUN_FORMAT,
            "config": os.path.abspath(args.config),
            "data": os.path.abspath(args.data) if args.data else None,
            "settings": settings,
        },
        os.path.join(run_dir, "run.json"),
    )


STATUS_FILE = "status.json"
# The step the run has completed, for a failure report.
progress = {"step": None}


def write_status(run_dir, state, step, steps, reason="", checkpoint_step=None, exit_code=None):
    """status.json: running (rewritten at each checkpoint), then finished, stopped (--stop-at-step),
    time-limit (--max-minutes), interrupted or failed; all but finished resume from checkpointStep.
    The CLI adds exitCode, signal and logTail when the process dies (docs/planning.md)."""
    status = {
        "state": state,
        "step": step,
        "steps": steps,
        "reason": reason,
        "checkpointStep": checkpoint_step,
        "exitCode": exit_code,
        "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    atomic_json(status, os.path.join(run_dir, STATUS_FILE))


def record_failure(run_dir, steps, reason):
    """status.json after an unexpected error: failed, at the last completed step, keeping the checkpoint's step."""
    path = os.path.join(run_dir, STATUS_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            checkpoint_step = json.load(f).get("checkpointStep")
    except (OSError, ValueError):
        checkpoint_step = None
    try:
        write_status(run_dir, "failed", progress["step"], steps, reason, checkpoint_step, exit_code=1)
    except OSError:
        pass  # the original error matters more than a status that cannot be written
