"""A small BERT masked-LM with explicit attention (visible Softmax in the ONNX export), from the
blocks of scripts/torchBlocks.py. Parameter names are those of media/sample/model.onnx."""

import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torchBlocks import EncoderLayer, additive_padding_mask, embed, run_layers  # noqa: E402

LAYER_NORM_EPS = 1e-12


class BertMlm(nn.Module):
    def __init__(self, vocab, hidden=128, heads=4, layers=4, ffn=512, max_positions=128):
        super().__init__()
        self.token = nn.Embedding(vocab, hidden)
        self.position = nn.Embedding(max_positions, hidden)
        self.embedding_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
        self.layers = nn.ModuleList(EncoderLayer(hidden, heads, ffn, eps=LAYER_NORM_EPS, flat_ffn=True) for _ in range(layers))
        self.head_dense = nn.Linear(hidden, hidden)
        self.head_norm = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
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
        x = embed(input_ids, self.token, self.position, self.embedding_norm, self.position_ids)
        return run_layers(self.layers, x, additive_padding_mask(attention_mask, x.dtype))

    def lm_logits(self, hidden):
        h = self.head_norm(F.gelu(self.head_dense(hidden)))
        return torch.matmul(h, self.token.weight.t()) + self.decoder_bias

    def forward(self, input_ids, attention_mask):
        hidden, _ = self.encode(input_ids, attention_mask)
        return self.lm_logits(hidden)
