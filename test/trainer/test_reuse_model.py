"""Protects Reuse Multi-Head Attention: K = 0 is a standard transformer, reuse heads see the source probabilities exactly, gradients reach the source."""  # noqa: E501 (the one line saying what the file protects)

import unittest

import torch
from torch import nn

import helpers
from reuse_model import ConfigError, ReuseBertForMaskedLM, check_config, count_parameters


def batch():
    ids = torch.tensor([[2, 5, 9, 11, 7, 3], [2, 6, 8, 3, 0, 0]])
    return ids, (ids != 0).long()


class StandardTransformerTest(unittest.TestCase):
    def test_k0_equals_torch_transformer_encoder(self):
        config = helpers.make_config(L=2, H=4, hidden=16, ffn=32, heads=helpers.algorithm1(2, 4, 1, 0), mode="partial", P=1, K=0)
        torch.manual_seed(0)
        model = ReuseBertForMaskedLM(config).eval()
        ids, mask = batch()
        reference = []
        for layer in model.layers:
            ref = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation="gelu", batch_first=True, layer_norm_eps=1e-12)
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
                    theirs.weight.copy_(mine.weight)
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
            "K = 0 must be a plain post-LayerNorm transformer layer: max diff %g" % (ours[real] - theirs[real]).abs().max(),
        )


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
