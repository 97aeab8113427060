"""Warm start: the weights of an analysed ONNX model, by their role, into a reuse model.

``attention-reuse train --init-from MODEL.onnx`` traces the model's anatomy and writes its
weights to a folder (``attention-reuse/weights@1``): ``manifest.json`` and one ``.npy``
file (little-endian float32) per role, read here with numpy alone. Linear weights are
stored [out, in] as ``torch.nn.Linear`` holds them; query weights and biases already carry
the model's score scale relative to 1/sqrt(d/H), so scores come out as the model's.

Roles and the parameters they fill (l: a layer of the analysed model):

    embeddings.word / .position / .tokenType     word / position / token_type (.weight)
    embeddings.norm.scale / .bias                embedding_norm (.weight / .bias)
    layers.l.attention.query / .key .weight/.bias  layers.l.attention.query / .key: rows of the exact heads only
    layers.l.attention.value / .output           layers.l.attention.value / attention_output
    layers.l.attentionNorm / .ffnNorm            layers.l.attention_norm / output_norm
    layers.l.ffn.up / .down                      layers.l.intermediate / output
    head.dense / head.norm                       head_dense / head_norm (head "mlm")
    head.decoder.weight (untied) / .bias         decoder.weight / decoder_bias

A reuse head keeps its own value columns and drops its query/key rows; the computed heads
keep theirs in the model's head order, so guided and placed head maps carry over. A skip
layer loads its LayerNorms and FFN only. Extra layers (the config's ``extraLayers``) keep
their fresh initialisation; relative position biases start at zero, so that the reuse model
at step 0 computes what the what-if rewrite of the same config computes.
"""

import dataclasses
import json
import os

import numpy as np
import torch

from reuse_model import ConfigError, ModelOptions, ReuseBertForMaskedLM

WEIGHTS_FORMAT = "attention-reuse/weights@1"
MANIFEST = "manifest.json"
ACTIVATIONS = {"gelu-erf": "gelu", "gelu-tanh": "gelu_tanh", "relu": "relu"}
SIZES = ("ffn", "vocab", "maxPositions")  # the model's own value wins over a defaulted config size


class WarmStart:
    """A weights folder, read and checked: its manifest and every role's array."""

    def __init__(self, folder):
        path = os.path.join(folder, MANIFEST)
        try:
            with open(path, encoding="utf-8") as f:
                self.manifest = json.load(f)
        except (OSError, ValueError) as err:
            raise ConfigError("--init-from: cannot read %s (%s)" % (path, err))
        if self.manifest.get("format") != WEIGHTS_FORMAT:
            raise ConfigError('--init-from: %s is not an "%s" manifest' % (path, WEIGHTS_FORMAT))
        self.folder = folder
        self.dims = self.manifest["dims"]
        self.sha256 = self.manifest["model"]["sha256"]
        self.tensors = {}
        for entry in self.manifest["tensors"]:
            array = np.load(os.path.join(folder, entry["file"]), allow_pickle=False)
            if list(array.shape) != list(entry["shape"]):
                raise ConfigError("--init-from: %s has shape %s, the manifest says %s" % (entry["file"], list(array.shape), entry["shape"]))
            self.tensors[entry["role"]] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    def options(self, position="absolute", norm=None):
        """The model's architecture as ModelOptions; `norm`, when given, must be the model's."""
        arch = self.manifest["architecture"]
        if norm is not None and norm != arch["norm"]:
            raise ConfigError("--norm %s: the --init-from model is %s-LN (leave --norm out)" % (norm, arch["norm"]))
        return ModelOptions(
            norm=arch["norm"],
            position=position,
            layer_norm_eps=float(arch["layerNormEpsilon"]),
            activation=ACTIVATIONS[arch["activation"]],
            type_vocab_size=int(arch["tokenTypes"]),
            tie_output=bool(arch["tiedOutput"]),
            head=arch["head"],
        )

    def fit_config(self, config):
        """The config with the model's sizes; refuses one made for another model. Returns (config, notes)."""
        dims = config["dims"]
        extra = config.get("extraLayers", 0) or 0
        if config.get("source", {}).get("modelSha256") != self.sha256:
            raise ConfigError("source.modelSha256 is not the sha256 of the --init-from model: the config was made for another model")
        for key in ("heads", "hidden"):
            if dims[key] != self.dims[key]:
                raise ConfigError("dims.%s is %d, but the --init-from model has %d" % (key, dims[key], self.dims[key]))
        if dims["layers"] - extra != self.dims["layers"]:
            raise ConfigError("dims.layers is %d, but the --init-from model has %d layers" % (dims["layers"] - extra, self.dims["layers"]))
        taken = ["%s %d (the config has %d)" % (k, self.dims[k], dims[k]) for k in SIZES if dims[k] != self.dims[k]]
        fitted = dict(config, dims=dict(dims, **{k: self.dims[k] for k in SIZES}))
        notes = ["using the model's %s: sizes the analysis could not read from the graph" % ", ".join(taken)] if taken else []
        return fitted, notes

    def teacher_config(self):
        """An all-exact config of the model's own sizes: the original model, no reuse."""
        L, H = self.dims["layers"], self.dims["heads"]
        return {
            "schema": "attention-reuse/config@1",
            "source": {"modelSha256": self.sha256},
            "dims": dict(self.dims),
            "heads": [["exact"] * H for _ in range(L)],
        }

    def load_into(self, model):
        """Copies every role into `model` (built from a fitted config); refuses a parameter left unset."""
        params = dict(model.named_parameters())
        assigned = set()

        def put(name, role, rows=None):
            if role not in self.tensors:
                raise ConfigError("--init-from: the weights folder has no %s for %s" % (role, name))
            value = self.tensors[role] if rows is None else self.tensors[role][rows]
            if tuple(value.shape) != tuple(params[name].shape):
                raise ConfigError(
                    "--init-from: %s has shape %s for %s of shape %s" % (role, tuple(value.shape), name, tuple(params[name].shape))
                )
            with torch.no_grad():
                params[name].copy_(value)
            assigned.add(name)

        def linear(name, role, rows=None):
            put(name + ".weight", role + ".weight", rows)
            put(name + ".bias", role + ".bias", rows)

        def norm(name, role):
            put(name + ".weight", role + ".scale")
            put(name + ".bias", role + ".bias")

        put("word.weight", "embeddings.word")
        put("position.weight", "embeddings.position")
        if model.token_type is not None:
            put("token_type.weight", "embeddings.tokenType")
        norm("embedding_norm", "embeddings.norm")
        head_dim = self.dims["hidden"] // self.dims["heads"]
        for l in range(self.dims["layers"]):
            layer, at = model.layers[l], "layers.%d." % l
            if not layer.skip:
                exact = layer.attention.exact
                if exact:
                    # Head h owns rows h*d/H .. (h+1)*d/H of a [out, in] weight, as the head split reads them.
                    rows = torch.cat([torch.arange(h * head_dim, (h + 1) * head_dim) for h in exact])
                    linear(at + "attention.query", at + "attention.query", rows)
                    linear(at + "attention.key", at + "attention.key", rows)
                linear(at + "attention.value", at + "attention.value")
                linear(at + "attention_output", at + "attention.output")
                if layer.attention.relative is not None:
                    with torch.no_grad():
                        layer.attention.relative.bias.zero_()
                    assigned.add(at + "attention.relative.bias")
            if at + "attention_norm.weight" in params:
                norm(at + "attention_norm", at + "attentionNorm")
            norm(at + "output_norm", at + "ffnNorm")
            linear(at + "intermediate", at + "ffn.up")
            linear(at + "output", at + "ffn.down")
        if model.options.head == "mlm":
            linear("head_dense", "head.dense")
            norm("head_norm", "head.norm")
        if model.decoder is not None:
            put("decoder.weight", "head.decoder.weight")
        put("decoder_bias", "head.decoder.bias")
        analysed = tuple("layers.%d." % l for l in range(self.dims["layers"]))
        unset = [n for n in params if n not in assigned and (n.startswith(analysed) or not n.startswith("layers."))]
        if unset:
            raise ConfigError("--init-from: the weights folder fills no %s" % ", ".join(unset))
        return model

    def teacher(self, device, options):
        """The frozen original model: every head exact, the weights as the model has them, eval mode."""
        model = ReuseBertForMaskedLM(self.teacher_config(), 0.0, 0.0, dataclasses.replace(options, position="absolute"))
        self.load_into(model).to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return model
