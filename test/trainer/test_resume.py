"""Protects exact resume after a hard kill (SIGKILL, no clean-up): the resumed run repeats every step of an uninterrupted one, also with gradient accumulation and bf16 autocast on the CPU."""  # noqa: E501 (the one line saying what the file protects)

import os
import signal
import tempfile
import unittest

import helpers
from train import KILL_AT_STEP


class KillAndResumeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.shards = helpers.write_pattern_shards(os.path.join(self.dir, "shards"), rows=40, held_out=8)
        heads = helpers.algorithm1(3, 4, 1, 2)
        self.config = helpers.write_config(
            os.path.join(self.dir, "c.reuse.json"), L=3, H=4, hidden=32, ffn=64, heads=heads, mode="partial", P=1, K=2
        )

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, *flags):
        def args(out):
            return [
                self.config,
                "--data",
                self.shards,
                "--out",
                os.path.join(self.dir, out),
                "--steps",
                "7",
                "--batch-size",
                "8",
                "--checkpoint-every",
                "3",
            ]

        whole = helpers.run_trainer([*args("whole"), *flags])
        self.assertEqual(whole.returncode, 0, whole.stdout[-2000:])
        killed = helpers.run_trainer([*args("killed"), *flags], env={KILL_AT_STEP: "5"})
        self.assertEqual(killed.returncode, -signal.SIGKILL, "the run was to be killed after step 5:\n" + killed.stdout[-2000:])
        self.assertEqual(
            helpers.metrics(os.path.join(self.dir, "killed"))[-1]["step"], 5, "steps 4 and 5 ran after the last checkpoint (3)"
        )
        resumed = helpers.run_trainer([*args("killed"), *flags, "--resume"])
        self.assertEqual(resumed.returncode, 0, resumed.stdout[-2000:])
        self.assertIn("steps 4..7", resumed.stdout, "the resume starts after the checkpoint of step 3")
        a, b = helpers.metrics(os.path.join(self.dir, "whole")), helpers.metrics(os.path.join(self.dir, "killed"))
        self.assertEqual([r["step"] for r in b], list(range(1, 8)), "steps after the checkpoint are written once")
        for x, y in zip(a, b):
            self.assertEqual(
                x["loss"],
                y["loss"],
                "step %d: the resumed loss is not the uninterrupted one (model, optimizer, RNG or data state)" % x["step"],
            )
            self.assertEqual(x.get("evalLoss"), y.get("evalLoss"), "step %d evaluation" % x["step"])

    def test_fp32(self):
        self.check()

    def test_accumulation_and_bf16_autocast(self):
        self.check("--accumulate", "2", "--precision", "bf16", "--eval-every", "2")


if __name__ == "__main__":
    unittest.main()
