"""Protects Reuse Multi-Head Attention: K = 0 is a standard post- or pre-LN transformer, reuse heads see the source probabilities exactly, gradients reach the source, the relative position bias sits on computed heads."""  # noqa: E501 (the one line saying what the file protects)

import unittest

import torch
from torch import nn

import helpers
import os
import tempfile

import train
from reuse_model import ConfigError, ModelOptions, ReuseBertForMaskedLM, check_config, count_parameters


def batch():
    ids = torch.tensor([[2, 5, 9, 11, 7, 3], [2, 6, 8, 3, 0, 0]])
    return ids, (ids != 0).long()


class StandardTransformerTest(unittest.TestCase):
    def check_k0_equals_torch_layer(self, norm):
        config = helpers.make_config(L=2, H=4, hidden=16, ffn=32, heads=helpers.algorithm1(2, 4, 1, 0), mode="partial", P=1, K=0)
        torch.manual_seed(0)
        model = ReuseBertForMaskedLM(config, options=ModelOptions(norm=norm)).eval()
        ids, mask = batch()
        reference = []
        for layer in model.layers:
            ref = nn.TransformerEncoderLayer(
                16, 4, 32, dropout=0.0, activation="gelu", batch_first=True, layer_norm_eps=1e-12, norm_first=norm == "pre"
            )
            a = layer.attention
            with torch.no_grad():
                ref.self_attn.in_proj_weight.copy_(torch.cat([a.query.weight, a.key.weight, a.value.weight]))
                ref.self_attn.in_proj_bias.copy_(torch.cat([a.query.bias, a.key.bias, a.value.bias]))
                ref.self_attn.out_proj.weight.copy_(layer.attention_output.weight)
                ref.self_attn.out_proj.bias.copy_(layer.attention_output.bias)
                for mine, theirs in (
                    (layer.intermediate, ref.linear1),
                    (layer.output, ref.linear2),
                    (layer.attention_norm, ref.norm1),
                    (layer.output_norm, ref.norm2),
                ):
                    theirs.weight.copy_(torch.randn_like(mine.weight) * 0.1 + mine.weight)
                    mine.weight.copy_(theirs.weight)  # non-trivial LayerNorm weights, so a swapped norm would show
                    theirs.bias.copy_(mine.bias)
            reference.append(ref.eval())
        with torch.no_grad():
            x = model.embed(ids)
            ours, store = x, {}
            for layer in model.layers:
                ours, _ = layer(ours, model.additive_mask(mask, x.dtype), store)
            theirs = x
            for ref in reference:
                theirs = ref(theirs, src_key_padding_mask=mask == 0)
        real = mask.bool()
        self.assertTrue(
            torch.allclose(ours[real], theirs[real], atol=1e-5),
            "K = 0 must be a plain %s-LayerNorm transformer layer: max diff %g" % (norm, (ours[real] - theirs[real]).abs().max()),
        )

    def test_k0_equals_torch_transformer_encoder(self):
        self.check_k0_equals_torch_layer("post")

    def test_k0_pre_ln_equals_torch_norm_first_layer(self):
        self.check_k0_equals_torch_layer("pre")


class PaperOptionsTest(unittest.TestCase):
    heads = [["exact"] * 4, ["exact", "exact", {"reuse": {"layer": 0, "head": 0}}, {"reuse": {"layer": 0, "head": 1}}], ["skip"] * 4]

    def test_relative_bias_on_computed_heads_only(self):
        config = helpers.make_config(L=3, H=4, heads=self.heads, P=2, K=2)
        plain = ReuseBertForMaskedLM(config)
        relative = ReuseBertForMaskedLM(config, options=ModelOptions(position="relative"))
        self.assertEqual(
            count_parameters(relative) - count_parameters(plain), (4 + 2) * (2 * 16 - 1), "one row of 2R-1 offsets per computed head"
        )
        self.assertEqual(tuple(relative.layers[1].attention.relative.bias.shape), (2, 31))
        # With zero query/key weights the scores are the bias alone: row i of head h is softmax(bias[h, j - i + R - 1]).
        attention = relative.layers[0].attention
        with torch.no_grad():
            for p in (attention.query.weight, attention.query.bias, attention.key.weight, attention.key.bias):
                p.zero_()
            _, probs = attention(torch.randn(1, 5, 16), torch.zeros(1, 1, 1, 5), {})
        bias = attention.relative.bias.detach()
        expected = torch.softmax(torch.stack([bias[:, torch.arange(5) - i + 15] for i in range(5)], dim=1), dim=-1)
        self.assertTrue(torch.allclose(probs[0], expected, atol=1e-6), "the bias of offset j - i must be added to query i, key j")

    def test_zero_relative_bias_is_the_absolute_model(self):
        config = helpers.make_config(L=3, H=4, heads=self.heads, P=2, K=2)
        torch.manual_seed(4)
        plain = ReuseBertForMaskedLM(config).eval()
        relative = ReuseBertForMaskedLM(config, options=ModelOptions(position="relative")).eval()
        missing = relative.load_state_dict(plain.state_dict(), strict=False).missing_keys
        self.assertTrue(missing and all(k.endswith("relative.bias") for k in missing), missing)
        with torch.no_grad():
            for k in missing:
                relative.get_parameter(k).zero_()
            ids, mask = batch()
            self.assertTrue(torch.allclose(plain(ids, mask)[0], relative(ids, mask)[0], atol=1e-6))

    def test_pre_ln_and_relative_bias_train(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = helpers.write_pattern_shards(os.path.join(tmp, "s"), rows=40, held_out=8)
            config = helpers.write_config(
                os.path.join(tmp, "c.json"), L=3, H=4, hidden=32, ffn=64, heads=helpers.algorithm1(3, 4, 1, 2), mode="partial", P=1, K=2
            )
            for norm, position in (("pre", "absolute"), ("post", "relative"), ("pre", "relative")):
                out = os.path.join(tmp, norm + position)
                code = train.main(
                    [config, "--data", data, "--out", out, "--steps", "150", "--batch-size", "16", "--lr", "1e-2"]
                    + ["--norm", norm, "--position", position, "--warmup-steps", "10"]
                )
                self.assertEqual(code, 0)
                rows = helpers.metrics(out)
                first, last = sum(r["loss"] for r in rows[:5]) / 5, sum(r["loss"] for r in rows[-5:]) / 5
                self.assertLess(last, 0.75 * first, "%s-LN, %s positions: loss did not fall (%.3f -> %.3f)" % (norm, position, first, last))
                self.assertIn("evalLoss", rows[-1], "the last step is evaluated")


class ReuseProbabilitiesTest(unittest.TestCase):
    def test_reuse_heads_see_the_source_tensor_exactly(self):
        heads = [
            ["exact"] * 4,
            ["exact", {"reuse": {"layer": 0, "head": 3}}, "exact", {"reuse": {"layer": 0, "head": 0}}],
            [{"reuse": {"layer": 1, "head": 2}}, "exact", "exact", {"reuse": {"layer": 0, "head": 3}}],
        ]
        torch.manual_seed(1)
        model = ReuseBertForMaskedLM(helpers.make_config(L=3, H=4, heads=heads, P=2, K=2), attention_dropout=0.5).eval()
        ids, mask = batch()
        with torch.no_grad():
            _, _, probs = model(ids, mask, output_attentions=True)
        for l, row in enumerate(heads):
            for h, entry in enumerate(row):
                if isinstance(entry, dict):
                    i, j = entry["reuse"]["layer"], entry["reuse"]["head"]
                    self.assertTrue(
                        torch.equal(probs[l][:, h], probs[i][:, j]), "heads[%d][%d] must use heads[%d][%d]'s probabilities" % (l, h, i, j)
                    )
        self.assertFalse(torch.equal(probs[1][:, 0], probs[0][:, 0]), "an exact head computed nothing of its own")
        self.assertTrue(torch.allclose(probs[2].sum(-1), torch.ones(2, 4, 6)), "rows must be distributions")

    def test_gradient_reaches_the_source_only_through_reuse(self):
        heads = [["exact"] * 2, ["exact", {"reuse": {"layer": 0, "head": 1}}]]
        ids, mask = batch()

        def source_grads(detach):
            torch.manual_seed(2)
            model = ReuseBertForMaskedLM(helpers.make_config(L=2, H=2, heads=heads, P=1, K=1), dropout=0.0, attention_dropout=0.0).train()
            x = model.embed(ids)
            additive = model.additive_mask(mask, x.dtype)
            store = {}
            h0, _ = model.layers[0](x, additive, store)
            if detach:
                store = {k: v.detach() for k, v in store.items()}
            # Layer 0's own output is cut from the loss: only reused probabilities can carry gradient back.
            h1, _ = model.layers[1](h0.detach(), additive, store)
            model.mlm_logits(h1).logsumexp(-1).sum().backward()
            a = model.layers[0].attention
            return [p.grad for p in (a.query.weight, a.key.weight)]

        for g in source_grads(detach=False):
            self.assertIsNotNone(g)
            self.assertGreater(g.abs().sum().item(), 0, "the reused probabilities were detached from the source layer")
        for g in source_grads(detach=True):
            self.assertTrue(g is None or g.abs().sum().item() == 0, "with the source detached no gradient may reach it")


class ParametersAndConfigTest(unittest.TestCase):
    def test_parameter_count_follows_the_bert_accounting(self):
        d, f, V, n, L, H = 16, 32, helpers.VOCAB, 16, 3, 4
        for P, K, skip in ((0, 0, False), (2, 1, False), (2, 4, False), (1, 0, True)):
            heads = helpers.algorithm1(L, H, P, K)
            if skip:
                heads[1] = ["skip"] * H
            model = ReuseBertForMaskedLM(helpers.make_config(L=L, H=H, hidden=d, ffn=f, heads=heads))
            base = (V + n + 2) * d + 2 * d + L * (4 * (d * d + d) + 4 * d + 2 * d * f + f + d) + d * d + d + 2 * d + V
            removed = P * K * 2 * (d * d + d) // H + (4 * (d * d + d) if skip else 0)
            self.assertEqual(count_parameters(model), base - removed, "P=%d K=%d skip=%s" % (P, K, skip))

    def test_config_errors_name_the_field(self):
        bad = helpers.make_config(L=2, H=2)
        bad["heads"][1][0] = {"reuse": {"layer": 1, "head": 0}}
        with self.assertRaisesRegex(ConfigError, r"heads\[1\]\[0\]\.reuse\.layer is 1"):
            check_config(bad)
        bad["heads"][1][0] = {"reuse": {"layer": 0, "head": 2}}
        with self.assertRaisesRegex(ConfigError, r"heads\[1\]\[0\]\.reuse\.head 2 is out of range"):
            check_config(bad)
        bad = helpers.make_config(L=3, H=2)
        bad["heads"][1] = ["exact", {"reuse": {"layer": 0, "head": 0}}]
        bad["heads"][2] = [{"reuse": {"layer": 1, "head": 1}}, "exact"]
        with self.assertRaisesRegex(ConfigError, r"heads\[2\]\[0\] reuses heads\[1\]\[1\]"):
            check_config(bad)


if __name__ == "__main__":
    unittest.main()
