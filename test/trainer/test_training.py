"""Protects the training loop: loss falls, metrics and evaluation lines, stop + resume, DDP over torchrun (gloo) and gradient accumulation equal one batch, a resume with other settings is refused."""  # noqa: E501 (the one line saying what the file protects)

import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import unittest

import torch

import helpers
import train
from run_state import RunError

TRAIN_PY = helpers.TRAIN_PY


def train_flags_for_old_torchrun():
    """torchrun of PyTorch 1.x reads its default "--redirects 0" as None on Python 3.11 and
    crashes; stdout teed to the console (what attention-reuse train passes there) avoids it."""
    return ["--redirects", "1", "--tee", "1"] if int(torch.__version__.split(".")[0]) < 2 else []


metrics = helpers.metrics


def assert_same_step(test, a, b, what, grad_atol=1e-7):
    """Two runs' last summed gradients and parameters (files of --save-rank-params) agree."""
    for name, g in b["grads"].items():
        test.assertTrue(
            torch.allclose(a["grads"][name], g, rtol=1e-4, atol=grad_atol),
            "%s: %s: gradients differ by %g" % (what, name, (a["grads"][name] - g).abs().max()),
        )
    for name, p in b["params"].items():
        # AdamW's first steps move each weight by about lr·sign(grad), so rounding in a
        # near-zero gradient shows up at a small fraction of lr (1e-3), never more.
        test.assertTrue(
            torch.allclose(a["params"][name], p, rtol=0, atol=2e-5),
            "%s: %s differs by %g" % (what, name, (a["params"][name] - p).abs().max()),
        )


class TrainingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.data = helpers.write_patterns(os.path.join(self.dir, "tokens.bin"))
        self.config = os.path.join(self.dir, "tiny.reuse.json")
        heads = helpers.algorithm1(3, 4, 1, 2)
        with open(self.config, "w", encoding="utf-8") as f:
            json.dump(helpers.make_config(L=3, H=4, hidden=32, ffn=64, heads=heads, mode="partial", P=1, K=2), f)

    def tearDown(self):
        self.tmp.cleanup()

    def args(self, out, *extra):
        return [self.config, "--data", self.data, "--out", os.path.join(self.dir, out), "--batch-size", "16", "--seed", "3", *extra]

    def test_loss_falls_and_metrics_have_the_fields(self):
        code = train.main(self.args("fall", "--steps", "40", "--lr", "1e-2", "--warmup-steps", "4"))
        self.assertEqual(code, 0)
        rows = metrics(os.path.join(self.dir, "fall"))
        self.assertEqual([r["step"] for r in rows], list(range(1, 41)))
        for key in ("step", "loss", "lr", "tokensPerSecond", "elapsedSeconds"):
            self.assertIn(key, rows[0])
        first = sum(r["loss"] for r in rows[:5]) / 5
        last = sum(r["loss"] for r in rows[-5:]) / 5
        self.assertLess(last, 0.75 * first, "loss did not fall: %.3f -> %.3f" % (first, last))
        self.assertTrue(os.path.exists(os.path.join(self.dir, "fall", "model.pt")))

    def test_stop_and_resume_reproduces_the_uninterrupted_run(self):
        common = ("--steps", "20", "--lr", "1e-3", "--checkpoint-every", "7")
        self.assertEqual(train.main(self.args("whole", *common)), 0)
        self.assertEqual(train.main(self.args("parts", *common, "--stop-at-step", "10")), 0)
        self.assertEqual(metrics(os.path.join(self.dir, "parts"))[-1]["step"], 10)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "parts", "model.pt")), "a stopped run is not finished")
        self.assertEqual(train.main(self.args("parts", *common)), 2, "an existing run must not be overwritten without --resume")
        self.assertEqual(train.main(self.args("parts", *common, "--resume")), 0)
        whole, parts = metrics(os.path.join(self.dir, "whole")), metrics(os.path.join(self.dir, "parts"))
        self.assertEqual([r["step"] for r in parts], list(range(1, 21)))
        self.assertAlmostEqual(
            parts[-1]["loss"],
            whole[-1]["loss"],
            delta=1e-6,
            msg="step-20 loss after resume differs: optimizer, RNG or data state was not restored",
        )
        self.assertEqual(parts[15]["loss"], whole[15]["loss"])

    def test_torchrun_gloo_two_processes_equal_one_process(self):
        shards = helpers.write_pattern_shards(os.path.join(self.dir, "shards"), rows=40)
        common = ("--data", shards, "--steps", "2", "--lr", "1e-3", "--dropout", "0", "--attention-dropout", "0", "--save-rank-params")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, OMP_NUM_THREADS="1")
        launch = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            "1",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(port),
            *train_flags_for_old_torchrun(),
            TRAIN_PY,
            *self.args("ddp", *common),
        ]
        try:
            r = subprocess.run(launch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=180)
        except subprocess.TimeoutExpired as e:
            out = e.output.decode(errors="replace") if isinstance(e.output, bytes) else e.output or ""
            self.fail("torchrun did not finish in 180 s; its output:\n%s" % out[-3000:])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:])
        self.assertIn("2 processes", r.stdout)
        self.assertEqual(train.main(self.args("single", *common)), 0)
        rank0 = torch.load(os.path.join(self.dir, "ddp", "params-rank0.pt"))
        rank1 = torch.load(os.path.join(self.dir, "ddp", "params-rank1.pt"))
        single = torch.load(os.path.join(self.dir, "single", "params-rank0.pt"))
        for name in single["grads"]:
            self.assertTrue(torch.equal(rank0["grads"][name], rank1["grads"][name]), "ranks summed different gradients for %s" % name)
            self.assertTrue(torch.equal(rank0["params"][name], rank1["params"][name]), "ranks disagree on %s" % name)
        assert_same_step(self, rank0, single, "2 processes (DDP) vs one")
        self.assertAlmostEqual(
            metrics(os.path.join(self.dir, "ddp"))[-1]["loss"], metrics(os.path.join(self.dir, "single"))[-1]["loss"], delta=1e-5
        )

    def test_gradient_accumulation_4x8_equals_one_batch_of_32(self):
        shards = helpers.write_pattern_shards(os.path.join(self.dir, "shards"), rows=40)
        common = ("--data", shards, "--steps", "2", "--lr", "1e-3", "--dropout", "0", "--attention-dropout", "0", "--save-rank-params")
        self.assertEqual(train.main([*self.args("one", *common), "--batch-size", "32"]), 0)
        self.assertEqual(train.main([*self.args("four", *common), "--batch-size", "32", "--accumulate", "4"]), 0)
        one = torch.load(os.path.join(self.dir, "one", "params-rank0.pt"))
        four = torch.load(os.path.join(self.dir, "four", "params-rank0.pt"))
        assert_same_step(self, four, one, "4 micro-batches of 8 vs one batch of 32")
        self.assertAlmostEqual(
            metrics(os.path.join(self.dir, "four"))[-1]["loss"], metrics(os.path.join(self.dir, "one"))[-1]["loss"], delta=1e-5
        )
        self.assertEqual(
            train.main([*self.args("odd", *common), "--batch-size", "30", "--accumulate", "4"]), 2, "30 rows do not split into 4"
        )

    def test_evaluation_on_held_out_shards_goes_into_metrics(self):
        shards = helpers.write_pattern_shards(os.path.join(self.dir, "shards"), rows=40, held_out=24)
        code = train.main(
            self.args("eval", "--data", shards, "--steps", "6", "--eval-every", "3", "--eval-batches", "1", "--log-every", "2")
        )
        self.assertEqual(code, 0)
        rows = metrics(os.path.join(self.dir, "eval"))
        self.assertEqual([r["step"] for r in rows], [2, 3, 4, 6], "logged steps and evaluation steps")
        for r in rows:
            for key in ("step", "loss", "lr", "tokensPerSecond", "elapsedSeconds"):
                self.assertIn(key, r)
        evals = [r for r in rows if "evalLoss" in r]
        self.assertEqual([r["step"] for r in evals], [3, 6])
        for r in evals:
            self.assertAlmostEqual(r["evalPerplexity"], math.exp(r["evalLoss"]), places=6)
            self.assertTrue(0 <= r["evalAccuracy"] <= 1)
            self.assertGreater(r["evalTokens"], 0)
        with open(os.path.join(self.dir, "eval", "status.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["state"], "finished")

    def test_resume_with_other_settings_is_refused_naming_the_flag(self):
        self.assertEqual(train.main(self.args("run", "--steps", "4", "--stop-at-step", "2")), 0)
        with open(os.path.join(self.dir, "run", "run.json"), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["settings"]["batchSize"], 16)
        for flags, pattern in (
            (("--norm", "pre"), r"--norm is \"pre\" here, but the run was started with \"post\""),
            (("--accumulate", "2"), r"--accumulate is 2 here, but the run was started with 1"),
            (("--precision", "bf16"), r"--precision is \"bf16\" here"),
        ):
            with self.assertRaisesRegex(RunError, pattern):
                train.run(train.parse_args(self.args("run", "--steps", "4", "--resume", *flags)))
        other = os.path.join(self.dir, "other.bin")
        helpers.write_patterns(other, seed=5)
        with self.assertRaisesRegex(RunError, r"--data is not the data it was trained on"):
            train.run(
                train.parse_args(
                    [self.config, "--data", other, "--out", os.path.join(self.dir, "run"), "--batch-size", "16", "--seed", "3", "--resume"]
                )
            )
        self.assertEqual(train.main(self.args("run", "--steps", "4", "--resume")), 0)

    def test_max_minutes_stops_with_a_checkpoint_and_resumes(self):
        self.assertEqual(train.main(self.args("timed", "--steps", "5", "--max-minutes", "1e-6")), 0)
        with open(os.path.join(self.dir, "timed", "status.json"), encoding="utf-8") as f:
            status = json.load(f)
        self.assertEqual((status["state"], status["step"]), ("time-limit", 1), "a step that starts with the budget spent is the last")
        self.assertFalse(os.path.exists(os.path.join(self.dir, "timed", "model.pt")))
        self.assertEqual(train.main(self.args("timed", "--steps", "5", "--resume")), 0)
        self.assertEqual([r["step"] for r in metrics(os.path.join(self.dir, "timed"))], [1, 2, 3, 4, 5])

    def test_bad_inputs_exit_2(self):
        self.assertEqual(train.main(self.args("bad", "--steps", "1", "--max-length", "99")), 2)
        helpers.write_token_file(os.path.join(self.dir, "big.bin"), [[2, 40, 3]], 41, 0, 4, [0, 2, 3, 4], 8)
        self.assertEqual(train.main([self.config, "--data", os.path.join(self.dir, "big.bin"), "--out", os.path.join(self.dir, "big")]), 2)


if __name__ == "__main__":
    unittest.main()
