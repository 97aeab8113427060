"""RUN_DIR/model.onnx: the trained reuse model as an ONNX graph that the analysis can read.

Attention stays eager (MatMul, Softmax, MatMul: no fused kernel), so ``attention-reuse
analyze`` finds every layer's probabilities, including the reuse layers' (assembled from
earlier layers' Softmax outputs). Inputs ``input_ids`` and ``attention_mask`` (int64,
[batch, sequence]); the first output is ``logits`` [batch, sequence, vocab] at every
position. Exported with the TorchScript exporter (opset 17) on PyTorch 1.13 and 2.x, with
dynamic batch and sequence axes, written atomically.
"""

import copy
import inspect
import os
import warnings

import torch
from torch import nn

OPSET = 17


class LogitsAtEveryPosition(nn.Module):
    """(input_ids, attention_mask) -> logits [batch, sequence, vocab]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        logits, _, _ = self.model(input_ids, attention_mask)
        return logits


def export_onnx(model, path):
    """Writes `model` (a ReuseBertForMaskedLM; left as it was) to `path` via a temporary file."""
    wrapper = LogitsAtEveryPosition(copy.deepcopy(model).float().cpu().eval())
    n = max(2, min(8, model.dims["maxPositions"]))
    ids = torch.arange(2 * n, dtype=torch.long).reshape(2, n) % model.dims["vocab"]
    mask = torch.ones(2, n, dtype=torch.long)
    mask[1, n - 1] = 0  # a padded position, so the mask path is traced as data, not as a constant
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    extra = {}
    # PyTorch 2.9 made the dynamo exporter the default; this graph is traced the classic way.
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        extra["dynamo"] = False
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The length check in embed() becomes a constant of the trace, which is what it should be.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper,
                (ids, mask),
                tmp,
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=OPSET,
                # Folding would store a transposed copy of a tied decoder's embedding (untying it in the graph).
                do_constant_folding=False,
                **extra,
            )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
