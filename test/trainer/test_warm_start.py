"""Warm start, distillation and export: weights by role land in the right parameters (reuse heads keep only the
computed heads' Q/K rows), the teacher is the original model, a config for another model is refused naming the field,
the KL mixes as documented, --steps 0 exports, model.onnx has the documented graph, and a failure is written into
status.json."""

import json
import os
import tempfile
import unittest

import onnx
import torch

import helpers
import run_state
from export_onnx import export_onnx
from reuse_model import ConfigError, ModelOptions, ReuseBertForMaskedLM
from steps import distill_kl
from warm_start import WarmStart

MODEL_SHA = "a" * 64


def original(options=None, L=3, H=4, hidden=16, seed=1):
    torch.manual_seed(seed)
    config = helpers.make_config(L=L, H=H, hidden=hidden, ffn=24, max_positions=12)
    return ReuseBertForMaskedLM(config, 0.0, 0.0, options or ModelOptions(type_vocab_size=0)).eval()


def reuse_config(L=3, H=4, hidden=16, heads=None, **extra):
    config = helpers.make_config(L=L, H=H, hidden=hidden, ffn=24, max_positions=12, heads=heads)
    config["source"]["modelSha256"] = MODEL_SHA
    config.update(extra)
    return config


GUIDED = [
    ["exact"] * 4,
    [{"reuse": {"layer": 0, "head": 3}}, "exact", {"reuse": {"layer": 0, "head": 0}}, "exact"],
    ["exact", {"reuse": {"layer": 1, "head": 1}}, "exact", {"reuse": {"layer": 0, "head": 2}}],
]


class WarmStartTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="warm-")

    def folder(self, model):
        return helpers.write_weights(os.path.join(self.dir, "init"), model, MODEL_SHA)

    def test_all_exact_is_the_original_and_the_teacher_too(self):
        for options in (
            ModelOptions(type_vocab_size=0),
            ModelOptions(head="linear", tie_output=False, activation="gelu_tanh", layer_norm_eps=1e-5),
        ):
            model = original(options)
            warm = WarmStart(self.folder(model))
            self.assertEqual(warm.options(), options)
            config, notes = warm.fit_config(reuse_config())
            self.assertEqual(notes, [])
            student = warm.load_into(ReuseBertForMaskedLM(config, 0.0, 0.0, warm.options())).eval()
            teacher = warm.teacher(torch.device("cpu"), warm.options())
            ids = torch.randint(5, helpers.VOCAB, (2, 9))
            mask = torch.ones_like(ids)
            mask[1, 6:] = 0
            with torch.no_grad():
                want = model(ids, mask)[0]
                self.assertTrue(torch.equal(student(ids, mask)[0], want), options)
                self.assertTrue(torch.equal(teacher(ids, mask)[0], want), options)
            self.assertFalse(any(p.requires_grad for p in teacher.parameters()), "the teacher is frozen")

    def test_reuse_heads_drop_their_query_and_key_rows_and_keep_values(self):
        model = original()
        warm = WarmStart(self.folder(model))
        config, _ = warm.fit_config(reuse_config(heads=GUIDED, mode="guided", P=2, K=2))
        student = warm.load_into(ReuseBertForMaskedLM(config, 0.0, 0.0, warm.options()))
        d = 4  # head size: 16 / 4
        for l, exact in ((1, [1, 3]), (2, [0, 2])):
            rows = torch.cat([torch.arange(h * d, (h + 1) * d) for h in exact])
            for part in ("query", "key"):
                got = getattr(student.layers[l].attention, part)
                src = getattr(model.layers[l].attention, part)
                self.assertTrue(torch.equal(got.weight, src.weight[rows]), "layer %d %s rows of heads %s" % (l, part, exact))
                self.assertTrue(torch.equal(got.bias, src.bias[rows]))
            self.assertTrue(
                torch.equal(student.layers[l].attention.value.weight, model.layers[l].attention.value.weight), "every head keeps its values"
            )
        # A reuse head's probabilities are its source's, in the same forward pass.
        ids = torch.randint(5, helpers.VOCAB, (1, 7))
        with torch.no_grad():
            _, _, probs = student.eval()(ids, torch.ones_like(ids), output_attentions=True)
        self.assertTrue(torch.equal(probs[2][:, 1], probs[1][:, 1]))
        self.assertTrue(torch.equal(probs[1][:, 0], probs[0][:, 3]))

    def test_refuses_a_config_for_another_model_naming_the_field_and_takes_the_models_sizes(self):
        warm = WarmStart(self.folder(original()))
        other = reuse_config()
        other["source"]["modelSha256"] = "b" * 64
        with self.assertRaisesRegex(ConfigError, r"source\.modelSha256"):
            warm.fit_config(other)
        with self.assertRaisesRegex(ConfigError, r"dims\.layers is 2, but the --init-from model has 3 layers"):
            warm.fit_config(reuse_config(L=2))
        with self.assertRaisesRegex(ConfigError, r"dims\.hidden is 32"):
            warm.fit_config(reuse_config(hidden=32))
        defaulted = reuse_config()
        defaulted["dims"]["maxPositions"] = 512
        fitted, notes = warm.fit_config(defaulted)
        self.assertEqual(fitted["dims"]["maxPositions"], 12)
        self.assertEqual(
            notes, ["using the model's maxPositions 12 (the config has 512): sizes the analysis could not read from the graph"]
        )
        # Extra layers are new: the analysed ones are checked, the rest keep their initialisation.
        deeper, _ = warm.fit_config(reuse_config(L=4, heads=[["exact"] * 4] * 4, extraLayers=1))
        warm.load_into(ReuseBertForMaskedLM(deeper, 0.0, 0.0, warm.options()))
        with self.assertRaisesRegex(ConfigError, "--norm pre: the --init-from model is post-LN"):
            warm.options(norm="pre")

    def test_relative_position_biases_start_at_zero(self):
        warm = WarmStart(self.folder(original()))
        config, _ = warm.fit_config(reuse_config(heads=GUIDED, mode="guided", P=2, K=2))
        student = warm.load_into(ReuseBertForMaskedLM(config, 0.0, 0.0, warm.options(position="relative")))
        self.assertTrue(all(float(l.attention.relative.bias.abs().sum()) == 0 for l in student.layers))

    def test_distillation_kl(self):
        logits = torch.randn(5, 11)
        self.assertAlmostEqual(float(distill_kl(logits, logits, 2.0)), 0.0, places=5)
        t, teacher = 2.0, logits.flip(0)
        p = torch.softmax(teacher / t, -1)
        want = float((p * (torch.log_softmax(teacher / t, -1) - torch.log_softmax(logits / t, -1))).sum())
        self.assertGreater(want, 0)
        self.assertAlmostEqual(float(distill_kl(logits, teacher, t)), want, places=4, msg="KL(teacher || student), summed")

    def test_train_distill_steps_then_steps_0_exports_without_data(self):
        model = original()
        init = self.folder(model)
        config = os.path.join(self.dir, "guided.reuse.json")
        with open(config, "w") as f:
            json.dump(reuse_config(heads=GUIDED, mode="guided", P=2, K=2), f)
        shards = helpers.write_pattern_shards(os.path.join(self.dir, "shards"), width=12)
        out = os.path.join(self.dir, "run")
        common = ["--batch-size", "4", "--eval-every", "2", "--eval-batches", "1", "--checkpoint-every", "2", "--init-from", init]
        r = helpers.run_trainer([config, "--data", shards, "--out", out, "--steps", "3", "--distill", "--distill-weight", "0.7", *common])
        self.assertEqual(r.returncode, 0, r.stdout)
        lines = helpers.metrics(out)
        self.assertEqual(lines[0]["step"], 0, "a warm start evaluates before training")
        self.assertIsNone(lines[0]["loss"])
        for line in lines[1:]:
            self.assertAlmostEqual(line["objective"], 0.3 * line["loss"] + 0.7 * 4 * line["distillKl"], places=6)
        with open(os.path.join(out, "status.json")) as f:
            status = json.load(f)
        self.assertEqual((status["state"], status["step"], status["checkpointStep"], status["exitCode"]), ("finished", 3, 3, 0))
        self.assertTrue(os.path.exists(os.path.join(out, "model.onnx")))
        # --steps 0 with no data: export only.
        zero = os.path.join(self.dir, "zero")
        r = helpers.run_trainer([config, "--out", zero, "--steps", "0", *common])
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertTrue(os.path.exists(os.path.join(zero, "checkpoint.pt")) and os.path.exists(os.path.join(zero, "model.onnx")))
        r = helpers.run_trainer([config, "--out", os.path.join(self.dir, "nodata"), "--steps", "2", *common])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--data is needed to train", r.stdout)

    def test_export_graph(self):
        model = original()
        path = export_onnx(model, os.path.join(self.dir, "model.onnx"))
        m = onnx.load(path)
        self.assertLessEqual(max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 17)
        self.assertEqual([i.name for i in m.graph.input], ["input_ids", "attention_mask"])
        out = m.graph.output[0]
        self.assertEqual(out.name, "logits")
        dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
        self.assertEqual(dims, ["batch", "sequence", helpers.VOCAB], "logits at every position, dynamic batch and sequence")
        self.assertEqual(sum(1 for n in m.graph.node if n.op_type == "Softmax"), 3, "eager attention: one Softmax per layer")
        self.assertFalse(os.path.exists(path + ".%d.tmp" % os.getpid()))

    def test_a_failure_is_written_into_status(self):
        run_state.write_status(self.dir, "running", 4, 10, checkpoint_step=4)
        run_state.progress["step"] = 6
        run_state.record_failure(self.dir, 10, "RuntimeError: boom")
        with open(os.path.join(self.dir, "status.json")) as f:
            status = json.load(f)
        self.assertEqual(
            {k: status[k] for k in ("state", "step", "steps", "reason", "checkpointStep", "exitCode")},
            {"state": "failed", "step": 6, "steps": 10, "reason": "RuntimeError: boom", "checkpointStep": 4, "exitCode": 1},
        )


if __name__ == "__main__":
    unittest.main()
