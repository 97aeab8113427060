"""Protects the trainer's data: token shards read back memory-mapped, a shard of another tokenizer is refused naming the field, masks do not depend on how a batch is split."""  # noqa: E501 (the one line saying what the file protects)

import os
import shutil
import tempfile
import unittest

import numpy as np

import helpers
from shards import ShardSet
from token_data import DataError, TokenData, masked_lm_batch, train_batch


class ShardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "shards")
        helpers.write_pattern_shards(self.dir, rows=45, held_out=7, shard_rows=20)

    def tearDown(self):
        self.tmp.cleanup()

    def test_rows_read_back_across_shard_files(self):
        shards = ShardSet(self.dir)
        self.assertEqual(len(shards.train), 45, "45 rows over shard files of 20, 20 and 5")
        self.assertEqual(len(shards.held_out), 7)
        self.assertEqual(shards.train.fixed_width, 16)
        for index in (0, 19, 20, 44):
            row = shards.train.row(index, 16)
            self.assertEqual(row[0], helpers.CLS, "row %d starts with the prefix" % index)
            self.assertEqual(len(row), 16)
            self.assertIsInstance(shards.train.ids[index // 20], np.memmap, "rows must stay on disk, memory-mapped")
        self.assertEqual(len(shards.train.row(3, 5)), 5, "max_length cuts a row")
        self.assertEqual(shards.fingerprint()["trainSequences"], 45)

    def test_a_shard_of_another_tokenizer_is_refused_naming_the_field(self):
        other = os.path.join(self.tmp.name, "other")
        helpers.write_pattern_shards(other, rows=20, held_out=0, tokenizer_sha="f" * 64, shard_rows=20)
        shutil.copy(os.path.join(other, "train-00000.bin"), os.path.join(self.dir, "train-00001.bin"))
        with self.assertRaisesRegex(DataError, r"train-00001\.bin: tokenizerSha256 ffffffffffff is not the tokenizer of index\.json"):
            ShardSet(self.dir)
        with self.assertRaisesRegex(DataError, r"tokenized with another tokenizer: tokenizer\.sha256 is ffffffffffff"):
            ShardSet(other, tokenizer_sha="a" * 64)

    def test_a_truncated_shard_is_refused(self):
        path = os.path.join(self.dir, "train-00002.bin")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - 3)
        with self.assertRaisesRegex(DataError, r"train-00002\.bin is truncated"):
            ShardSet(self.dir)


class MaskingTest(unittest.TestCase):
    def test_masks_do_not_depend_on_the_split_of_the_global_batch(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = ShardSet(helpers.write_pattern_shards(os.path.join(tmp, "s"), rows=40)).train
            whole = train_batch(data, 3, 7, 32, range(32), 16, 0.15)
            parts = [train_batch(data, 3, 7, 32, range(i, i + 8), 16, 0.15) for i in range(0, 32, 8)]
            for k in range(3):
                self.assertTrue(np.array_equal(whole[k].numpy(), np.concatenate([p[k].numpy() for p in parts])), "tensor %d differs" % k)
            labels = whole[2]
            self.assertTrue(((labels != -100).sum(1) >= 1).all(), "every row with real tokens predicts at least one")
            self.assertFalse(
                np.isin(labels[labels != -100].numpy(), [helpers.CLS, helpers.SEP, helpers.PAD]).any(), "specials are never predicted"
            )

    def test_token_file_is_memory_mapped_and_padded_per_batch(self):
        with tempfile.TemporaryDirectory() as tmp:
            data = TokenData(helpers.write_patterns(os.path.join(tmp, "t.bin")))
            self.assertIsInstance(data.ids, np.memmap)
            ids, mask, _ = masked_lm_batch(data, [0, 1, 2], [(1, 0, 1, p) for p in range(3)], 16)
            self.assertEqual(ids.shape[1], max(len(data.row(r, 16)) for r in range(3)))
            self.assertEqual(int(mask.sum()), sum(len(data.row(r, 16)) for r in range(3)))


if __name__ == "__main__":
    unittest.main()
