"""A small BERT masked-LM with explicit attention (visible Softmax in the ONNX export)."""
import math

import torch
from torch import nn
from torch.nn import functional as F

# Large enough that exp() of a masked score is exactly 0 in float32.
MASK_VALUE = -10000.0


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.output = nn.Linear(hidden, hidden)

    def split_heads(self, x):
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, additive_mask):
        q, k, v = (self.split_heads(f(x)) for f in (self.query, self.key, self.value))
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale + additive_mask
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2)
        return self.output(out.reshape(out.shape[0], out.shape[1], -1)), probs


class Layer(nn.Module):
    """Post-LN transformer block, as in BERT."""

    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.attention_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.up = nn.Linear(hidden, ffn)
        self.down = nn.Linear(ffn, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x, additive_mask):
        a, probs = self.attention(x, additive_mask)
        x = self.attention_norm(x + a)
        x = self.ffn_norm(x + self.down(F.gelu(self.up(x))))
        return x, probs


class BertMlm(nn.Module):
    def __init__(self, vocab, hidden=128, heads=4, layers=4, ffn=512, max_positions=128):
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn) for _ in range(layers))
        self.head_dense = nn.Linear(hidden, hidden)
        self.head_norm = nn.LayerNorm(hidden, eps=1e-12)
        # The decoder weight is the token embedding (tied); only its bias is separate.
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        self.register_buffer("position_ids", torch.arange(max_positions)[None, :])
        self.apply(self._init)

    @staticmethod
    def _init(module):
        # BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def encode(self, input_ids, attention_mask):
        """Final hidden states and the attention probabilities of every layer."""
        positions = self.position_ids[:, : input_ids.shape[1]]
        x = self.embedding_norm(self.token(input_ids) + self.position(positions))
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * MASK_VALUE
        attentions = []
        for layer in self.layers:
            x, probs = layer(x, mask)
            attentions.append(probs)
        return x, attentions

    def lm_logits(self, hidden):
        h = self.head_norm(F.gelu(self.head_dense(hidden)))
        return torch.matmul(h, self.token.weight.t()) + self.decoder_bias

    def forward(self, input_ids, attention_mask):
        hidden, _ = self.encode(input_ids, attention_mask)
        return self.lm_logits(hidden)
