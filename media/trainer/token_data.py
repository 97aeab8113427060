"""Token data for the trainer: the single-file ``attention-reuse/tokens@1`` and masked-LM batches.

tokens@1 layout, all little-endian (docs/planning.md; the CLI's token-file writer and
``write_token_file`` below write it):

    bytes 0..7   ASCII "ARTOKEN1"
    bytes 8..11  uint32: length h of the JSON header
    bytes 12..   header, UTF-8 JSON: schema, examples, tokens, vocabSize, padId, maskId,
                 specialIds, maxLength, tokenizer, text; padded with spaces to a multiple of 8
    then         uint64 offsets[examples + 1], in tokens
    then         uint32 ids[tokens]; example e is ids[offsets[e]:offsets[e + 1]]

Both this file and the token shards (shards.py) are memory-mapped: a row is read when a
batch needs it, so the trainer's memory does not grow with the data.

Masking is a pure function of a row's key (seed, step, its place in the global batch), not
of which process or micro-batch draws it: one process, N processes and N micro-batches mask
a global batch identically, and a resumed run masks as an uninterrupted one.
"""

import hashlib
import json
import mmap
import os
import struct

import numpy as np
import torch

MAGIC = b"ARTOKEN1"
SCHEMA = "attention-reuse/tokens@1"
# The first element of every random key says what the numbers are for, so streams never overlap.
PICKS, TRAIN_ROW, EVAL_ROW = 0, 1, 2


class DataError(ValueError):
    """Token data the trainer cannot use; the message names the file or field."""


def read_header(path, magic, what):
    """The JSON header of a file that starts with `magic`, and where the data after it starts."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:8] != magic:
                raise DataError("%s is not a %s (it does not start with %r)" % (path, what, magic.decode()))
            (h,) = struct.unpack("<I", head[8:12])
            raw = f.read(h)
    except OSError as err:
        raise DataError("cannot read %s %s (%s)" % (what, path, err))
    try:
        return json.loads(raw.decode("utf-8")), 12 + h
    except ValueError as err:
        raise DataError("%s: its header is not JSON (%s)" % (path, err))


def header_bytes(magic, header):
    """Magic, uint32 length and the JSON header, padded with spaces so that the data after it starts at a multiple of 8."""
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * ((8 - (12 + len(raw)) % 8) % 8)
    return magic + struct.pack("<I", len(raw)) + raw


def mapped(path, dtype, offset, shape):
    """A read-only numpy memmap that refuses a file too short for it (a truncated copy)."""
    need = offset + int(np.prod(shape)) * np.dtype(dtype).itemsize
    if os.path.getsize(path) < need:
        raise DataError("%s is truncated: %d bytes, its header needs %d" % (path, os.path.getsize(path), need))
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def release(array):
    """Unmaps the pages a memory-mapped array has touched (they stay in the page cache).

    Linux maps whole large folios of a cached file on one fault, megabytes at a time, and
    counts them in the process's RSS as if the data had been read into memory; dropping them
    after each row keeps RSS flat whatever the data's size.
    """
    handle = getattr(array, "_mmap", None)
    if handle is not None and hasattr(handle, "madvise"):
        handle.madvise(mmap.MADV_DONTNEED)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class TokenData:
    """A tokens@1 file: one example per row, kept whole up to max_length, padded per batch."""

    fixed_width = None  # rows differ in length: a batch is as wide as its longest row

    def __init__(self, path):
        self.path = path
        self.header, start = read_header(path, MAGIC, "token file")
        if self.header.get("schema") != SCHEMA:
            raise DataError("%s has schema %r, expected %r" % (path, self.header.get("schema"), SCHEMA))
        n, t = self.header["examples"], self.header["tokens"]
        if n == 0:
            raise DataError("%s holds no examples" % path)
        self.offsets = mapped(path, "<u8", start, (n + 1,))
        self.ids = mapped(path, "<u4", start + 8 * (n + 1), (t,))
        self.special = np.array(sorted(set(self.header.get("specialIds", [])) | {self.header["padId"]}), dtype=np.int64)

    def __len__(self):
        return len(self.offsets) - 1

    def row(self, index, max_length):
        start = int(self.offsets[index])
        row = np.array(self.ids[start : min(int(self.offsets[index + 1]), start + max_length)], dtype=np.int64)
        release(self.ids)
        release(self.offsets)
        return row

    def fingerprint(self):
        """What a resumed run must find again: the file's bytes."""
        return {"kind": SCHEMA, "sha256": sha256_file(self.path)}


def read_token_file(path):
    return TokenData(path)


def write_token_file(path, examples, vocab_size, pad_id, mask_id, special_ids, max_length, tokenizer="", text=""):
    """The Python twin of the TypeScript writer, for tests and for users who tokenize in Python."""
    tokens = sum(len(e) for e in examples)
    header = {
        "schema": SCHEMA,
        "examples": len(examples),
        "tokens": tokens,
        "vocabSize": vocab_size,
        "padId": pad_id,
        "maskId": mask_id,
        "specialIds": list(special_ids),
        "maxLength": max_length,
        "tokenizer": tokenizer,
        "text": text,
    }
    offsets = np.cumsum([0] + [len(e) for e in examples], dtype="<u8")
    with open(path, "wb") as f:
        f.write(header_bytes(MAGIC, header))
        f.write(offsets.tobytes())
        f.write(np.fromiter((i for e in examples for i in e), dtype="<u4", count=tokens).tobytes())


def step_rows(seed, step, rows, batch_size):
    """The dataset rows of a step's global batch (with replacement: no epoch state to save or to hold in memory)."""
    return np.random.default_rng([PICKS, seed, step]).integers(0, rows, size=batch_size)


def mask_row(seq, key, special, vocab_size, mask_id, mask_prob):
    """BERT's masking of one row: (input ids, labels), labels -100 where nothing is predicted.

    mask_prob of the real, non-special tokens are predicted; of those 80% become the mask
    token, 10% a random token, 10% stay. A row with a token to predict predicts at least one.
    Every draw is made whatever the row holds, so the stream of a key never shifts.
    """
    rng = np.random.default_rng(list(key))
    n = len(seq)
    choose, action = rng.random(n), rng.random(n)
    random_ids = rng.integers(0, vocab_size, size=n)
    candidates = ~np.isin(seq, special)
    fallback = rng.integers(0, max(1, int(candidates.sum())))
    chosen = candidates & (choose < mask_prob)
    if candidates.any() and not chosen.any():
        chosen[np.flatnonzero(candidates)[fallback]] = True
    labels = np.where(chosen, seq, -100)
    masked = seq.copy()
    masked[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    masked[swap] = random_ids[swap]
    return masked, labels


def masked_lm_batch(data, rows, keys, max_length, mask_prob=0.15):
    """(input_ids, attention_mask, labels) of the given dataset rows, each masked by its key."""
    header = data.header
    seqs = [data.row(int(r), max_length) for r in rows]
    width = data.fixed_width or max(1, max(len(s) for s in seqs))
    input_ids = np.full((len(seqs), width), header["padId"], dtype=np.int64)
    labels = np.full((len(seqs), width), -100, dtype=np.int64)
    attention_mask = np.zeros((len(seqs), width), dtype=np.int64)
    for i, (seq, key) in enumerate(zip(seqs, keys)):
        masked, row_labels = mask_row(seq, key, data.special, header["vocabSize"], header["maskId"], mask_prob)
        input_ids[i, : len(seq)] = masked
        labels[i, : len(seq)] = row_labels
        attention_mask[i, : len(seq)] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask), torch.from_numpy(labels)


def train_batch(data, seed, step, batch_size, positions, max_length, mask_prob):
    """The rows at `positions` (of the global batch of `batch_size`) of a training step."""
    positions = list(positions)
    rows = step_rows(seed, step, len(data), batch_size)[positions]
    return masked_lm_batch(data, rows, [(TRAIN_ROW, seed, step, p) for p in positions], max_length, mask_prob)


def eval_batch(data, seed, rows, max_length, mask_prob):
    """Held-out rows, masked by their own index: every evaluation scores the same masks."""
    return masked_lm_batch(data, rows, [(EVAL_ROW, seed, int(r)) for r in rows], max_length, mask_prob)
