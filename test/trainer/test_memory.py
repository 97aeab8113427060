"""Protects the trainer's memory: peak RSS with a 10M-token shard stays within 10% of a 1M-token one (the shards are memory-mapped, never read whole)."""  # noqa: E501 (the one line saying what the file protects)

import os
import tempfile
import unittest

import numpy as np

import helpers
from shards import write_shards

WIDTH = 128
VOCAB = 70_000  # above 2**16: ids are stored as uint32, 40 MB for 10M tokens, so reading them whole would show


def random_shards(folder, tokens, seed):
    rows = tokens // WIDTH
    ids = np.random.default_rng(seed).integers(5, VOCAB, size=(rows, WIDTH), dtype=np.uint32)
    ids[:, 0] = helpers.CLS
    held = ids[:64].copy()
    return write_shards(
        folder, (ids, np.full(rows, WIDTH)), (held, np.full(64, WIDTH)), VOCAB, 0, 4, [0, 1, 2, 3, 4], helpers.SHA, shard_rows=1 << 14
    )


class MemoryTest(unittest.TestCase):
    def test_rss_does_not_grow_with_the_data(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = helpers.write_config(os.path.join(tmp, "c.reuse.json"), L=2, H=2, hidden=32, ffn=64, vocab=VOCAB, max_positions=WIDTH)
            peaks = {}
            for tokens in (1_000_000, 10_000_000):
                shards = random_shards(os.path.join(tmp, "s%d" % tokens), tokens, seed=tokens)
                out = os.path.join(tmp, "run%d" % tokens)
                r = helpers.run_trainer([config, "--data", shards, "--out", out, "--steps", "8", "--batch-size", "8", "--eval-every", "4"])
                self.assertEqual(r.returncode, 0, r.stdout[-2000:])
                peaks[tokens] = helpers.metrics(out)[-1]["maxRssMiB"]
            why = "peak RSS %.1f MiB (10M tokens) vs %.1f MiB (1M tokens): is the data read into memory?" % (
                peaks[10_000_000],
                peaks[1_000_000],
            )
            self.assertLess(abs(peaks[10_000_000] / peaks[1_000_000] - 1), 0.10, why)
            # Sharper than 10% of PyTorch's own footprint: the growth is well under the 34 MiB more the larger shard holds.
            self.assertLess(peaks[10_000_000] - peaks[1_000_000], 12, why)


if __name__ == "__main__":
    unittest.main()
