"""Token shards (``attention-reuse/shards@1``): what ``attention-reuse tokenize`` writes, memory-mapped.

A shard folder holds ``index.json`` and the shard files it lists, written once with the
CLI's tokenizer so that training and analysis see the same tokens. Lines are packed into
rows of ``sequenceLength`` tokens, ``prefixIds`` + lines joined by
``separatorIds`` + ``separatorIds`` (what the tokenizer's post-processor puts around one
sequence, e.g. [CLS] … [SEP]); a row is shorter (padded with ``padId``, its length stored)
only where the room left would hold nothing but a separator, and at the end of a split. A
share of the lines (``heldOutFraction``) goes to held-out shards for
evaluation. docs/planning.md has the full layout; a shard file, little-endian:

    bytes 0..7   ASCII "ARSHARD1"
    bytes 8..11  uint32: length h of the JSON header
    bytes 12..   header, UTF-8 JSON: schema "attention-reuse/shard@1", split, index,
                 sequences, tokens, sequenceLength, dtype ("uint16" | "uint32"),
                 tokenizerSha256; padded with spaces to a multiple of 8
    then         uint32 lengths[sequences], zero-padded to a multiple of 8 bytes
    then         ids[sequences][sequenceLength] of dtype

Every shard records the sha256 of the tokenizer.json that wrote it; a shard whose hash
differs from the index's, or from the tokenizer the trainer is given, is refused.
"""

import bisect
import json
import os

import numpy as np

from token_data import DataError, header_bytes, mapped, read_header, release

INDEX = "index.json"
INDEX_SCHEMA = "attention-reuse/shards@1"
SHARD_SCHEMA = "attention-reuse/shard@1"
MAGIC = b"ARSHARD1"
DTYPES = {"uint16": "<u2", "uint32": "<u4"}


def is_shard_folder(path):
    return os.path.isdir(path) and os.path.exists(os.path.join(path, INDEX))


class ShardSplit:
    """The rows of one split (train or held out) over its shard files, each memory-mapped."""

    def __init__(self, folder, index, split, tokenizer_sha):
        self.header = index
        self.fixed_width = index["sequenceLength"]
        self.special = np.array(sorted(set(index.get("specialIds", [])) | {index["padId"]}), dtype=np.int64)
        self.lengths, self.ids, self.starts = [], [], []
        total = 0
        for k, entry in enumerate(index.get(split, [])):
            lengths, ids = self._open(os.path.join(folder, entry["file"]), split, k, entry, index, tokenizer_sha)
            self.starts.append(total)
            self.lengths.append(lengths)
            self.ids.append(ids)
            total += entry["sequences"]
        self.rows = total

    @staticmethod
    def _open(path, split, k, entry, index, tokenizer_sha):
        header, start = read_header(path, MAGIC, "token shard")
        name = os.path.basename(path)
        if header.get("schema") != SHARD_SCHEMA:
            raise DataError("%s has schema %r, expected %r" % (path, header.get("schema"), SHARD_SCHEMA))
        if header.get("tokenizerSha256") != tokenizer_sha:
            raise DataError(
                "%s: tokenizerSha256 %s is not the tokenizer of %s (%s): the shard was written with another tokenizer"
                % (name, str(header.get("tokenizerSha256"))[:12], INDEX, tokenizer_sha[:12])
            )
        for field, want in (
            ("split", split),
            ("index", k),
            ("sequences", entry["sequences"]),
            ("sequenceLength", index["sequenceLength"]),
            ("dtype", index["dtype"]),
        ):
            if header.get(field) != want:
                raise DataError("%s: %s is %r, but %s says %r" % (name, field, header.get(field), INDEX, want))
        n, width = header["sequences"], header["sequenceLength"]
        lengths = mapped(path, "<u4", start, (n,))
        ids_at = start + 4 * n + (4 if n % 2 else 0)
        return lengths, mapped(path, DTYPES[header["dtype"]], ids_at, (n, width))

    def __len__(self):
        return self.rows

    def row(self, index, max_length):
        shard = bisect.bisect_right(self.starts, index) - 1
        local = index - self.starts[shard]
        length = min(int(self.lengths[shard][local]), max_length)
        row = np.array(self.ids[shard][local, :length], dtype=np.int64)
        release(self.ids[shard])
        release(self.lengths[shard])
        return row


class ShardSet:
    """A shard folder: the train split, the held-out split (None when empty) and the index."""

    def __init__(self, folder, tokenizer_sha=None):
        path = os.path.join(folder, INDEX)
        try:
            with open(path, encoding="utf-8") as f:
                index = json.load(f)
        except (OSError, ValueError) as err:
            raise DataError("cannot read %s (%s)" % (path, err))
        if not isinstance(index, dict) or index.get("schema") != INDEX_SCHEMA:
            raise DataError("%s is not a token-shard index (schema must be %r)" % (path, INDEX_SCHEMA))
        if index.get("dtype") not in DTYPES:
            raise DataError("%s: dtype must be one of %s" % (path, ", ".join(DTYPES)))
        sha = (index.get("tokenizer") or {}).get("sha256")
        if tokenizer_sha is not None and sha != tokenizer_sha:
            raise DataError(
                "%s was tokenized with another tokenizer: tokenizer.sha256 is %s, the tokenizer given has %s"
                % (folder, str(sha)[:12], tokenizer_sha[:12])
            )
        self.folder = folder
        self.index = index
        self.train = ShardSplit(folder, index, "train", sha)
        held = ShardSplit(folder, index, "heldOut", sha)
        self.held_out = held if len(held) else None
        if len(self.train) == 0:
            raise DataError("%s holds no training sequences" % folder)

    def fingerprint(self):
        """What a resumed run must find again: the same tokenizer, text, packing and rows."""
        i = self.index
        return {
            "kind": INDEX_SCHEMA,
            "tokenizerSha256": i["tokenizer"]["sha256"],
            "textSha256": (i.get("text") or {}).get("sha256"),
            "sequenceLength": i["sequenceLength"],
            "trainSequences": len(self.train),
            "heldOutSequences": len(self.held_out) if self.held_out else 0,
        }


def _shard_bytes(split, k, rows, lengths, width, dtype, tokenizer_sha):
    header = {
        "schema": SHARD_SCHEMA,
        "split": split,
        "index": k,
        "sequences": len(rows),
        "tokens": int(lengths.sum()),
        "sequenceLength": width,
        "dtype": dtype,
        "tokenizerSha256": tokenizer_sha,
    }
    parts = [header_bytes(MAGIC, header), lengths.astype("<u4").tobytes(), b"\0" * (4 if len(rows) % 2 else 0)]
    return b"".join(parts + [np.ascontiguousarray(rows, dtype=DTYPES[dtype]).tobytes()])


def write_shards(folder, train, held_out, vocab_size, pad_id, mask_id, special_ids, tokenizer_sha, shard_rows=4096, **index_extra):
    """The Python twin of the CLI's writer, for tests and benchmarks: rows already packed.

    `train` and `held_out` are (ids [rows, sequenceLength], lengths [rows]) numpy pairs.
    """
    os.makedirs(folder, exist_ok=True)
    width = train[0].shape[1]
    dtype = "uint16" if vocab_size <= 1 << 16 else "uint32"
    index = {
        "schema": INDEX_SCHEMA,
        "tokenizer": {"path": "", "sha256": tokenizer_sha},
        "text": {"path": "", "sha256": None, "lines": 0},
        "sequenceLength": width,
        "dtype": dtype,
        "vocabSize": vocab_size,
        "padId": pad_id,
        "maskId": mask_id,
        "specialIds": list(special_ids),
        "prefixIds": [],
        "separatorIds": [],
        "heldOutFraction": 0,
        "train": [],
        "heldOut": [],
    }
    index.update(index_extra)
    for split, (ids, lengths) in (("train", train), ("heldOut", held_out)):
        for k, at in enumerate(range(0, len(ids), shard_rows)):
            name = "%s-%05d.bin" % ("train" if split == "train" else "heldout", k)
            rows, lens = ids[at : at + shard_rows], np.asarray(lengths[at : at + shard_rows])
            with open(os.path.join(folder, name), "wb") as f:
                f.write(_shard_bytes(split, k, rows, lens, width, dtype, tokenizer_sha))
            index[split].append({"file": name, "sequences": len(rows), "tokens": int(lens.sum())})
    with open(os.path.join(folder, INDEX), "w", encoding="utf-8") as f:
        json.dump(index, f, indent=2)
    return folder
