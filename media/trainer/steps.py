"""One optimizer step and one evaluation, for one process of a (possibly distributed) run.

The global batch of a step is fixed by (seed, step); each of the W processes takes its
contiguous share of it and splits that share into --accumulate micro-batches. The loss is
divided by the number of predicted tokens of the whole global batch (one all-reduce of a
count before backward), and DistributedDataParallel averages gradients over the W
processes, so each process scales its loss by W: every split takes the step one process
with one batch would, up to the order of floating-point sums.
"""

import contextlib
import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from run_state import RunError
from token_data import DataError, eval_batch, train_batch

PRECISIONS = ("fp32", "bf16", "fp16")


class Precision:
    """Autocast and, for fp16 on CUDA, a gradient scaler (bf16 keeps fp32's exponent and needs none)."""

    def __init__(self, kind, device):
        if kind not in PRECISIONS:
            raise RunError("--precision must be one of %s (got %r)" % (", ".join(PRECISIONS), kind))
        if kind == "fp16" and device.type != "cuda":
            raise RunError("--precision fp16 needs CUDA (PyTorch has no float16 autocast with a grad scaler on the CPU); use bf16")
        if kind == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise RunError("--precision bf16: this GPU has no bfloat16; use fp16")
        self.device_type = device.type
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[kind]
        self.scaler = None
        if kind == "fp16":
            # torch.amp.GradScaler is PyTorch 2.3+; torch.cuda.amp.GradScaler is the same class before.
            amp_scaler = getattr(torch.amp, "GradScaler", None)
            self.scaler = amp_scaler("cuda") if amp_scaler else torch.cuda.amp.GradScaler()

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss):
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def unscale(self, optimizer):
        if self.scaler:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer):
        if self.scaler:
            self.scaler.step(optimizer)  # skipped when the scaled gradients overflowed
            self.scaler.update()
        else:
            optimizer.step()

    def state_dict(self):
        return self.scaler.state_dict() if self.scaler else None

    def load_state_dict(self, state):
        if self.scaler and state:
            self.scaler.load_state_dict(state)


def lr_at(args, step):
    """Linear warm-up to --lr over the warm-up steps (default 10% of --steps), then linear decay towards 0 at --steps."""
    warmup = min(args.steps, args.steps // 10 if args.warmup_steps is None else args.warmup_steps)
    if step <= warmup:
        return args.lr * step / warmup
    return args.lr * max(0, args.steps - step + 1) / (args.steps - warmup + 1)


def all_sum(values, device, world):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def my_share(count, rank, world):
    """This process's contiguous share of `count` global batch positions."""
    per = count // world
    return list(range(rank * per, (rank + 1) * per))


def distill_kl(student, teacher, temperature):
    """Summed KL(teacher || student) of the softened distributions over the predicted tokens."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), log_target=True, reduction="sum")


def train_step(run, step, stop_flags):
    """Forward and backward over this process's micro-batches.

    Returns (global MLM loss, distillation KL or None, predicted, tokens, stop votes). With a
    teacher (--distill) the objective per predicted token is (1 - w)·MLM + w·T²·KL(teacher ‖
    student) at temperature T (Hinton et al.; T² keeps the gradient's scale as T changes),
    over the masked positions the MLM loss reads, as DistilBERT does.
    """
    a = run.args
    positions = my_share(a.batch_size, run.rank, run.world)
    micro = len(positions) // a.accumulate
    batches = [
        train_batch(run.data, a.seed, step, a.batch_size, positions[i * micro : (i + 1) * micro], a.max_length, a.mask_prob)
        for i in range(a.accumulate)
    ]
    local_predicted = sum(int((labels != -100).sum()) for _, _, labels in batches)
    (predicted,) = all_sum([local_predicted], run.device, run.world)
    if predicted == 0:
        raise DataError("the rows of step %d hold no token to predict (only special tokens)" % step)
    loss_total = torch.zeros((), dtype=torch.float64, device=run.device)
    kl_total = torch.zeros((), dtype=torch.float64, device=run.device)
    tokens = 0
    w = a.distill_weight if run.teacher is not None else 0.0
    for i, (ids, mask, labels) in enumerate(batches):
        last = i == len(batches) - 1
        ids, mask, labels = ids.to(run.device), mask.to(run.device), labels.to(run.device)
        # DDP all-reduces on the last micro-batch only; the others accumulate locally.
        sync = run.ddp.no_sync() if run.ddp is not None and not last else contextlib.nullcontext()
        with sync:
            with run.precision.autocast():
                logits, targets, _ = run.forward(ids, mask, labels=labels)
            loss_sum = F.cross_entropy(logits.float(), targets, reduction="sum")
            objective = loss_sum
            if run.teacher is not None:
                with torch.no_grad(), run.precision.autocast():
                    teacher_logits, _, _ = run.teacher(ids, mask, labels=labels)
                kl_sum = distill_kl(logits.float(), teacher_logits.float(), a.distill_temperature)
                objective = (1 - w) * loss_sum + w * a.distill_temperature**2 * kl_sum
                kl_total += kl_sum.detach().double()
            run.precision.backward(objective * (run.world / predicted))
        loss_total += loss_sum.detach().double()
        tokens += int(mask.sum())
    loss, kl, tokens, *votes = all_sum([loss_total.item(), kl_total.item(), tokens, *stop_flags], run.device, run.world)
    return loss / predicted, (kl / predicted if run.teacher is not None else None), int(predicted), tokens, votes


def evaluate(run):
    """Masked-LM loss, accuracy and perplexity on the first --eval-batches global batches of the held-out rows."""
    a, held = run.args, run.held_out
    total = min(len(held), a.eval_batches * a.batch_size)
    chunk = a.batch_size // a.accumulate  # rows per forward over all processes, as in training
    sums = [0.0, 0.0, 0.0]
    run.model.eval()
    with torch.no_grad():
        for start in range(0, total, chunk):
            rows = np.array_split(np.arange(start, min(start + chunk, total)), run.world)[run.rank]
            if len(rows) == 0:
                continue
            ids, mask, labels = eval_batch(held, a.seed, rows, a.max_length, a.mask_prob)
            with run.precision.autocast():
                logits, targets, _ = run.model(ids.to(run.device), mask.to(run.device), labels=labels.to(run.device))
            logits = logits.float()
            sums[0] += F.cross_entropy(logits, targets, reduction="sum").item()
            sums[1] += int((logits.argmax(-1) == targets).sum())
            sums[2] += len(targets)
    run.model.train()
    loss_sum, correct, count = all_sum(sums, run.device, run.world)
    if count == 0:
        return {}
    loss = loss_sum / count
    return {"evalLoss": loss, "evalAccuracy": correct / count, "evalPerplexity": math.exp(min(loss, 700.0)), "evalTokens": int(count)}
