"""A BERT-style masked-LM with Reuse Multi-Head Attention, built from a reuse config.

The config (``attention-reuse/config@1``, written by ``attention-reuse emit``) gives every
head of every layer a role, 0-based: ``"exact"`` computes its own attention, ``{"reuse":
{"layer": i, "head": j}}`` takes the attention probabilities that head j of the earlier
layer i computed, ``"skip"`` (a whole layer) has no attention block at all.

As in the paper's Algorithm 1 and the TF reference (``official/nlp/modeling/layers/
reuse_attention.py``): reuse heads have no query or key projection and use the source
probabilities; every head keeps its value projection and the layer its output projection;
reused probabilities go through this layer's own attention dropout; gradients flow through
them into the source layer (nothing is detached). A skip layer keeps its LayerNorm.

The architecture around the head map is one explicit object, ``ModelOptions``: LayerNorm
placement (post as BERT, pre as the TF layer's ``norm_first``), a learned relative position
bias on the heads that compute attention (the TF layer's ``use_relative_pe``), LayerNorm
epsilon, GELU kind, token types and a tied or separate output head. The trainer sets the
first two from its flags; a warm start from an ONNX graph can set the rest from the graph.

Works with PyTorch 1.13 and 2.x. Run as a script, it prints the parameter count of a config.
"""

import dataclasses
import json
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

CONFIG_SCHEMA = "attention-reuse/config@1"
TYPE_VOCAB_SIZE = 2  # BERT's token-type rows, as in the cost model
LAYER_NORM_EPS = 1e-12
NORMS = ("post", "pre")
POSITIONS = ("absolute", "relative")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
HEADS = ("mlm", "linear")


class ConfigError(ValueError):
    """A reuse config the trainer cannot build; the message names the field."""


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """The architecture beyond the config's head map and sizes. Defaults: BERT, as the cost model counts it."""

    norm: str = "post"  # "pre": LayerNorm before attention and FFN, residual stream unnormalised (TF norm_first)
    position: str = "absolute"  # "relative": absolute embeddings plus a learned bias per computed head and offset
    layer_norm_eps: float = LAYER_NORM_EPS
    activation: str = "gelu"  # "gelu_tanh": the tanh approximation (GPT-2, some BERT exports); "relu"
    type_vocab_size: int = TYPE_VOCAB_SIZE  # 0: no token-type embedding
    tie_output: bool = True  # the decoder shares the token embedding
    head: str = "mlm"  # "mlm": dense + activation + LayerNorm + decoder (BERT); "linear": the decoder alone
    relative_distance: int = 0  # offsets -(R-1)..R-1 get their own bias; 0: the config's maxPositions (TF pe_max_seq_length)

    def __post_init__(self):
        for name, allowed in (("norm", NORMS), ("position", POSITIONS), ("activation", ACTIVATIONS), ("head", HEADS)):
            if getattr(self, name) not in allowed:
                raise ConfigError("%s must be one of %s (got %r)" % (name, ", ".join(allowed), getattr(self, name)))

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})


def check_config(config):
    """Checks what the model relies on (the CLI validates the full schema before this)."""
    if not isinstance(config, dict) or config.get("schema") != CONFIG_SCHEMA:
        raise ConfigError('schema must be "%s"' % CONFIG_SCHEMA)
    dims = config.get("dims")
    if not isinstance(dims, dict):
        raise ConfigError("dims is missing")
    for key in ("layers", "heads", "hidden", "ffn", "vocab", "maxPositions"):
        value = dims.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError("dims.%s must be a whole number >= 1" % key)
    L, H = dims["layers"], dims["heads"]
    if dims["hidden"] % H:
        raise ConfigError("dims.hidden (%d) must be a multiple of dims.heads (%d)" % (dims["hidden"], H))
    heads = config.get("heads")
    if not isinstance(heads, list) or len(heads) != L:
        raise ConfigError("heads must have dims.layers (%d) rows" % L)
    for l, row in enumerate(heads):
        if not isinstance(row, list) or len(row) != H:
            raise ConfigError("heads[%d] must have dims.heads (%d) entries" % (l, H))
        skips = sum(1 for e in row if e == "skip")
        if 0 < skips < H:
            raise ConfigError('heads[%d] mixes "skip" with other heads' % l)
        for h, entry in enumerate(row):
            if entry in ("exact", "skip"):
                continue
            src = entry.get("reuse") if isinstance(entry, dict) else None
            if not isinstance(src, dict) or not isinstance(src.get("layer"), int) or not isinstance(src.get("head"), int):
                raise ConfigError('heads[%d][%d] must be "exact", "skip" or {"reuse": {"layer": i, "head": j}}' % (l, h))
            i, j = src["layer"], src["head"]
            if not 0 <= i < l:
                raise ConfigError("heads[%d][%d].reuse.layer is %d: it must be an earlier layer" % (l, h, i))
            if not 0 <= j < H:
                raise ConfigError("heads[%d][%d].reuse.head %d is out of range 0..%d" % (l, h, j, H - 1))
            if heads[i][j] != "exact":
                raise ConfigError("heads[%d][%d] reuses heads[%d][%d], which does not compute its attention" % (l, h, i, j))
    return config


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise ConfigError("cannot read reuse config %s (%s)" % (path, err))
    return check_config(config)


class LayerNorm(nn.LayerNorm):
    """LayerNorm in float32 whatever autocast hands it (as the TF layer keeps it), so bf16 runs on PyTorch 1.13's CPU autocast too."""

    def forward(self, x):
        return F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)


class RelativePositionBias(nn.Module):
    """A learned bias per computed head and key-query offset, added to the scores before the softmax.

    As the TF reuse layer: one row of 2R-1 offsets per head that computes attention,
    truncated-normal init (std 0.2), offsets beyond +-(R-1) clamped. Reuse heads take the
    source's probabilities, so they have no bias of their own.
    """

    def __init__(self, heads, distance):
        super().__init__()
        self.distance = distance
        self.bias = nn.Parameter(torch.empty(heads, 2 * distance - 1))
        nn.init.trunc_normal_(self.bias, std=0.2, a=-0.4, b=0.4)

    def forward(self, n):
        positions = torch.arange(n, device=self.bias.device)
        offsets = (positions[None, :] - positions[:, None] + self.distance - 1).clamp(0, 2 * self.distance - 2)
        return self.bias[:, offsets]  # [heads, queries, keys]


class ReuseSelfAttention(nn.Module):
    """Multi-head self-attention in which some heads take an earlier layer's probabilities."""

    def __init__(self, layer, row, hidden, heads, attention_dropout, options, max_positions):
        super().__init__()
        self.layer = layer
        self.heads = heads
        self.head_dim = hidden // heads
        self.exact = [h for h, e in enumerate(row) if e == "exact"]
        self.reused = [(h, e["reuse"]["layer"], e["reuse"]["head"]) for h, e in enumerate(row) if isinstance(e, dict)]
        width = len(self.exact) * self.head_dim
        # Only computed heads own query/key columns: that is the parameter saving.
        self.query = nn.Linear(hidden, width) if width else None
        self.key = nn.Linear(hidden, width) if width else None
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(attention_dropout)
        relative = options.position == "relative" and self.exact
        self.relative = RelativePositionBias(len(self.exact), options.relative_distance or max_positions) if relative else None
        order = self.exact + [h for h, _, _ in self.reused]
        # Position of head h in [computed..., reused...]; identity for the paper's slot order.
        inverse = [order.index(h) for h in range(heads)]
        self.register_buffer("order", torch.tensor(inverse, dtype=torch.long), persistent=False)
        self.identity_order = inverse == list(range(heads))

    def forward(self, x, additive_mask, store):
        batch, n, hidden = x.shape
        parts = []
        if self.exact:

            def split(t):
                return t.view(batch, n, len(self.exact), self.head_dim).transpose(1, 2)

            q, k = split(self.query(x)), split(self.key(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + additive_mask
            if self.relative is not None:
                scores = scores + self.relative(n)
            probs = torch.softmax(scores, dim=-1)
            for index, h in enumerate(self.exact):
                store[(self.layer, h)] = probs[:, index]
            parts.append(probs)
        if self.reused:
            parts.append(torch.stack([store[(i, j)] for _, i, j in self.reused], dim=1))
        probs = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        if not self.identity_order:
            probs = probs.index_select(1, self.order)
        v = self.value(x).view(batch, n, self.heads, self.head_dim).transpose(1, 2)
        # Reused probabilities go through this layer's dropout too (the TF reference), which is
        # why a reuse head still keeps a mask and a dropped copy in training (cost model).
        context = torch.matmul(self.dropout(probs), v)
        return context.transpose(1, 2).reshape(batch, n, hidden), probs


def activation_fn(kind):
    if kind == "relu":
        return F.relu
    return (lambda t: F.gelu(t, approximate="tanh")) if kind == "gelu_tanh" else F.gelu


class ReuseLayer(nn.Module):
    """A BERT layer, post- or pre-LayerNorm; a skip layer has no attention block.

    Post-LN (BERT): h = LN(x + attention(x)), out = LN(h + FFN(h)); a skip layer keeps its
    attention LayerNorm, h = LN(x), as the cost model counts it. Pre-LN (TF norm_first):
    h = x + attention(LN(x)), out = h + FFN(LN(h)); a pre-LN skip layer passes x through,
    so it has no attention LayerNorm (2·hidden parameters fewer than the cost model counts).
    """

    def __init__(self, layer, row, dims, dropout, attention_dropout, options):
        super().__init__()
        d = dims["hidden"]
        self.pre = options.norm == "pre"
        self.skip = all(e == "skip" for e in row)
        if not self.skip:
            self.attention = ReuseSelfAttention(layer, row, d, dims["heads"], attention_dropout, options, dims["maxPositions"])
            self.attention_output = nn.Linear(d, d)
        if not (self.skip and self.pre):
            self.attention_norm = LayerNorm(d, eps=options.layer_norm_eps)
        self.intermediate = nn.Linear(d, dims["ffn"])
        self.output = nn.Linear(dims["ffn"], d)
        self.output_norm = LayerNorm(d, eps=options.layer_norm_eps)
        self.dropout = nn.Dropout(dropout)
        self.activation = activation_fn(options.activation)

    def ffn(self, h):
        return self.dropout(self.output(self.activation(self.intermediate(h))))

    def forward(self, x, additive_mask, store):
        probs = None
        if self.pre:
            h = x
            if not self.skip:
                context, probs = self.attention(self.attention_norm(x), additive_mask, store)
                h = x + self.dropout(self.attention_output(context))
            return h + self.ffn(self.output_norm(h)), probs
        if self.skip:
            h = self.attention_norm(x)
        else:
            context, probs = self.attention(x, additive_mask, store)
            h = self.attention_norm(x + self.dropout(self.attention_output(context)))
        return self.output_norm(h + self.ffn(h)), probs


class ReuseBertForMaskedLM(nn.Module):
    """Embeddings, reuse layers and the masked-LM head of the cost model's accounting (with the default options)."""

    def __init__(self, config, dropout=0.1, attention_dropout=0.1, options=None):
        super().__init__()
        check_config(config)
        options = options or ModelOptions()
        self.options = options
        dims = config["dims"]
        self.dims = dims
        d = dims["hidden"]
        self.word = nn.Embedding(dims["vocab"], d)
        self.position = nn.Embedding(dims["maxPositions"], d)
        self.token_type = nn.Embedding(options.type_vocab_size, d) if options.type_vocab_size else None
        self.embedding_norm = LayerNorm(d, eps=options.layer_norm_eps)
        self.embedding_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(ReuseLayer(l, row, dims, dropout, attention_dropout, options) for l, row in enumerate(config["heads"]))
        if options.head == "mlm":
            self.head_dense = nn.Linear(d, d)
            self.head_norm = LayerNorm(d, eps=options.layer_norm_eps)
            self.head_activation = activation_fn(options.activation)
        self.decoder = None if options.tie_output else nn.Linear(d, dims["vocab"], bias=False)
        self.decoder_bias = nn.Parameter(torch.zeros(dims["vocab"]))  # tied: the decoder weight is self.word.weight
        self.apply(self._init)

    @staticmethod
    def _init(module):
        # BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def embed(self, input_ids):
        n = input_ids.shape[1]
        if n > self.dims["maxPositions"]:
            raise ValueError("sequence of %d tokens exceeds maxPositions %d" % (n, self.dims["maxPositions"]))
        positions = torch.arange(n, device=input_ids.device)
        x = self.word(input_ids) + self.position(positions)[None]
        if self.token_type is not None:
            x = x + self.token_type(torch.zeros_like(input_ids))
        return self.embedding_dropout(self.embedding_norm(x))

    def additive_mask(self, attention_mask, dtype):
        """0 for real keys, a large negative number for padding, shaped [batch, 1, 1, keys]."""
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    def mlm_logits(self, hidden):
        h = self.head_norm(self.head_activation(self.head_dense(hidden))) if self.options.head == "mlm" else hidden
        weight = self.word.weight if self.decoder is None else self.decoder.weight
        return F.linear(h, weight, self.decoder_bias)

    def forward(self, input_ids, attention_mask, labels=None, output_attentions=False):
        """Logits (or, with labels, logits of the labelled positions only) and per-layer probabilities."""
        x = self.embed(input_ids)
        mask = self.additive_mask(attention_mask, x.dtype)
        store = {}
        attentions = []
        for layer in self.layers:
            x, probs = layer(x, mask, store)
            if output_attentions:
                attentions.append(probs)
        if labels is not None:
            selected = labels != -100
            # Only masked positions are predicted: the vocabulary projection is the costly part.
            return self.mlm_logits(x[selected]), labels[selected], attentions
        return self.mlm_logits(x), None, attentions


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: reuse_model.py CONFIG.reuse.json  (prints the parameter count)")
    try:
        cfg = load_config(sys.argv[1])
    except ConfigError as err:
        sys.exit("attention-reuse trainer: %s" % err)
    print(json.dumps({"parameters": count_parameters(ReuseBertForMaskedLM(cfg))}))
