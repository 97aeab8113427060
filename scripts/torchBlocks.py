"""Building blocks of the hand-written PyTorch transformers in scripts/: the ONNX test fixtures
(fixtures/tinyModels.py), the bundled sample model (sample/mlmModel.py) and the benchmark
encoders (bench/benchModels.py).

Attention is written out (QK^T * scale + additive mask, Softmax, @ V) instead of a fused
kernel, so an exported graph has a visible Softmax whose output is the attention-probability
tensor the extension looks for. Module names become the names of parameters and ONNX nodes:
renaming one here changes the committed fixtures and the sample model's checkpoint.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# exp() of a masked score is exactly 0 in float32, and the value is fp16-safe (|x| < 65504).
MASK_VALUE = -10000.0


class Attention(nn.Module):
    """Multi-head attention of x over memory (memory is x for self-attention);
    forward returns (output, probabilities [batch, heads, n_q, n_k])."""

    def __init__(self, hidden, heads, softmax_2d=False):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)
        # TF-converted graphs run Softmax on a [batch*heads*n_q, n_k] reshape.
        self.softmax_2d = softmax_2d

    def split_heads(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, memory, additive_mask):
        q = self.split_heads(self.query(x))
        k = self.split_heads(self.key(memory))
        v = self.split_heads(self.value(memory))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + additive_mask
        if self.softmax_2d:
            b, h, n_q, n_k = scores.shape
            probs = torch.softmax(scores.reshape(-1, n_k), -1).reshape(b, h, n_q, n_k)
        else:
            probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2)
        out = out.reshape(out.shape[0], out.shape[1], -1)
        return self.output(out), probs


class FeedForward(nn.Module):
    def __init__(self, hidden, ffn, gelu="none"):
        super().__init__()
        self.up = nn.Linear(hidden, ffn)
        # gelu: "none" is the exact (Erf) GELU, "tanh" its approximation (GPT-2, some BERT exports).
        self.act = nn.GELU(approximate=gelu)
        self.down = nn.Linear(ffn, hidden)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


class EncoderLayer(nn.Module):
    """Post-LN block, as in BERT; forward returns (x, attention probabilities).

    flat_ffn: the feed-forward's linears sit on the layer itself (`up`, `down`), as in the
    sample model's checkpoint, instead of in an `ffn` block (the fixtures' layout).
    """

    def __init__(self, hidden, heads, ffn, eps=1e-5, softmax_2d=False, flat_ffn=False, gelu="none"):
        super().__init__()
        self.attention = Attention(hidden, heads, softmax_2d)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.flat_ffn = flat_ffn
        if flat_ffn:
            self.up = nn.Linear(hidden, ffn)
            self.down = nn.Linear(ffn, hidden)
        else:
            self.ffn = FeedForward(hidden, ffn, gelu)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def feed_forward(self, x):
        return self.down(F.gelu(self.up(x))) if self.flat_ffn else self.ffn(x)

    def forward(self, x, additive_mask):
        a, probs = self.attention(x, x, additive_mask)
        x = self.attention_norm(x + a)
        x = self.ffn_norm(x + self.feed_forward(x))
        return x, probs


class DecoderLayer(nn.Module):
    """Post-LN decoder block: causal self-attention, cross-attention over the encoder's memory,
    feed-forward; forward returns (x, self probabilities, cross probabilities)."""

    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.self_attention = Attention(hidden, heads)
        self.self_norm = nn.LayerNorm(hidden)
        self.cross_attention = Attention(hidden, heads)
        self.cross_norm = nn.LayerNorm(hidden)
        self.ffn = FeedForward(hidden, ffn)
        self.ffn_norm = nn.LayerNorm(hidden)

    def forward(self, x, memory, causal_mask, memory_mask):
        a, self_probs = self.self_attention(x, x, causal_mask)
        x = self.self_norm(x + a)
        a, cross_probs = self.cross_attention(x, memory, memory_mask)
        x = self.cross_norm(x + a)
        x = self.ffn_norm(x + self.ffn(x))
        return x, self_probs, cross_probs


def embed(input_ids, token, position, norm, position_ids):
    """norm(token + learned position embedding). The positions are sliced from a buffer rather
    than made by torch.arange, so the export is a Slice with a dynamic end."""
    positions = position_ids[:, : input_ids.shape[1]]
    return norm(token(input_ids) + position(positions))


class Embeddings(nn.Module):
    def __init__(self, vocab, hidden, max_positions):
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.register_buffer("position_ids", torch.arange(max_positions)[None, :])

    def forward(self, input_ids):
        return embed(input_ids, self.token, self.position, self.norm, self.position_ids)


def additive_padding_mask(attention_mask, dtype):
    """[batch, n] of 1/0 -> [batch, 1, 1, n] of 0/MASK_VALUE, broadcast over heads and queries."""
    return (1.0 - attention_mask[:, None, None, :].to(dtype)) * MASK_VALUE


def causal_mask(n):
    """[n, n] additive mask: 0 on and below the diagonal, MASK_VALUE above it."""
    return torch.triu(torch.ones(n, n), diagonal=1) * MASK_VALUE


def run_layers(layers, x, additive_mask):
    """x through encoder layers; returns the last hidden state and every layer's probabilities."""
    attentions = []
    for layer in layers:
        x, probs = layer(x, additive_mask)
        attentions.append(probs)
    return x, attentions
