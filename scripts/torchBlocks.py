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
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        # Vision and audio encoders attend to every position: no mask to add.
        if additive_mask is not None:
            scores = scores + additive_mask
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


class RMSNorm(nn.Module):
    """T5's and Llama's norm: x / rms(x) * weight, no mean and no bias."""

    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def trilu_causal_mask(n, dtype=torch.float32):
    """[n, n] additive causal mask made at run time with triu (an ONNX Trilu), as Whisper and Llama write it."""
    return torch.full((n, n), MASK_VALUE, dtype=dtype).triu(1)


def range_causal_mask(n, dtype=torch.float32):
    """[n, n] additive causal mask from comparing two aranges (key position <= query position), as T5 and BART write it."""
    positions = torch.arange(n)
    visible = positions[None, :] <= positions[:, None]
    return (1.0 - visible.to(dtype)) * MASK_VALUE


def attend(q, k, v, scale, additive_mask):
    """softmax(q k^T * scale + mask) v over [batch, heads, n, d] tensors; returns (context [batch, n, heads*d], probs)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if additive_mask is not None:
        scores = scores + additive_mask
    probs = torch.softmax(scores, dim=-1)
    out = torch.matmul(probs, v).transpose(1, 2)
    return out.reshape(out.shape[0], out.shape[1], -1), probs


class Seq2SeqAttention(Attention):
    """T5/BART/Whisper attention: keys and values are split into heads with the batch size of the
    queries (`view(bsz, -1, heads, d)` with bsz from the decoder's hidden states), so the export
    reshapes cross-attention keys with a shape taken from the decoder side. T5 does not scale."""

    def __init__(self, hidden, heads, scaled=True):
        super().__init__(hidden, heads)
        if not scaled:
            self.scale = 1.0

    def forward(self, x, memory, additive_mask):
        bsz = x.shape[0]
        q = self.split_heads(self.query(x))
        k = self.key(memory).view(bsz, -1, self.heads, self.head_dim).transpose(1, 2)
        v = self.value(memory).view(bsz, -1, self.heads, self.head_dim).transpose(1, 2)
        out, probs = attend(q, k, v, self.scale, additive_mask)
        return self.output(out), probs


class BatchHeadAttention(Attention):
    """fairseq-style attention on [batch*heads, n, d] views with bmm: the probabilities are a 3-D
    [batch*heads, n_q, n_k] tensor."""

    def forward(self, x, memory, additive_mask):
        b, n, _ = x.shape
        m = memory.shape[1]
        q = self.query(x).view(b, n, self.heads, self.head_dim).transpose(1, 2).reshape(b * self.heads, n, self.head_dim)
        k = self.key(memory).view(b, m, self.heads, self.head_dim).transpose(1, 2).reshape(b * self.heads, m, self.head_dim)
        v = self.value(memory).view(b, m, self.heads, self.head_dim).transpose(1, 2).reshape(b * self.heads, m, self.head_dim)
        scores = torch.bmm(q, k.transpose(1, 2)) * self.scale
        scores = (scores.view(b, self.heads, n, m) + additive_mask).view(b * self.heads, n, m)
        probs = torch.softmax(scores, dim=-1)
        out = torch.bmm(probs, v).view(b, self.heads, n, self.head_dim).transpose(1, 2).reshape(b, n, -1)
        return self.output(out), probs.view(b, self.heads, n, m)


class Conv1D(nn.Module):
    """GPT-2's linear layer: addmm on a 2-D view (an ONNX Gemm), weight stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out).normal_(std=0.02))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        out = torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight)
        return out.view(x.shape[:-1] + (self.weight.shape[1],))


class Gpt2Attention(nn.Module):
    """GPT-2's causal self-attention: one fused query/key/value projection, an optional KV cache
    (past keys and values concatenated before the new ones), and the causal mask as a slice of a
    lower-triangular bool buffer applied with torch.where; forward returns (out, probs, present)."""

    def __init__(self, hidden, heads, max_positions):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.c_attn = Conv1D(hidden, 3 * hidden)
        self.c_proj = Conv1D(hidden, hidden)
        causal = torch.tril(torch.ones(max_positions, max_positions, dtype=torch.bool))
        self.register_buffer("bias", causal.view(1, 1, max_positions, max_positions))

    def split_heads(self, x):
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, additive_mask, past=None):
        q, k, v = self.c_attn(x).split(self.heads * self.head_dim, dim=2)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=-2)
            v = torch.cat([past[1], v], dim=-2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        q_len, k_len = q.shape[-2], k.shape[-2]
        causal = self.bias[:, :, k_len - q_len : k_len, :k_len]
        scores = torch.where(causal, scores, torch.tensor(torch.finfo(scores.dtype).min, dtype=scores.dtype))
        probs = torch.softmax(scores + additive_mask, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2)
        return self.c_proj(out.reshape(out.shape[0], out.shape[1], -1)), probs, (k, v)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class RotaryEmbedding(nn.Module):
    """Llama's rotary position embedding: cos and sin [n, d] for the positions 0..n-1 after `past`."""

    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim))

    def forward(self, n, dtype):
        angles = torch.arange(n, dtype=self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]
        emb = torch.cat([angles, angles], dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


class GroupedQueryAttention(nn.Module):
    """Llama's attention: rotary positions on queries and keys, fewer key/value heads than query
    heads (each key/value head repeated for its group of query heads), no biases."""

    def __init__(self, hidden, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads
        self.head_dim = hidden // heads
        self.q_proj = nn.Linear(hidden, heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(heads * self.head_dim, hidden, bias=False)

    def repeat_kv(self, x):
        b, kv, n, d = x.shape
        groups = self.heads // self.kv_heads
        return x[:, :, None, :, :].expand(b, kv, groups, n, d).reshape(b, kv * groups, n, d)

    def forward(self, x, cos, sin, additive_mask):
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out, probs = attend(q, self.repeat_kv(k), self.repeat_kv(v), 1.0 / math.sqrt(self.head_dim), additive_mask)
        return self.o_proj(out), probs
