"""The token file (``attention-reuse/tokens@1``) and masked-LM batches drawn from it.

Layout, all little-endian (``attention-reuse train`` writes it from a text file with the
model's tokenizer.json; docs/planning.md describes it):

    bytes 0..7   ASCII "ARTOKEN1"
    bytes 8..11  uint32: length h of the JSON header
    bytes 12..   header, UTF-8 JSON: schema, examples, tokens, vocabSize, padId, maskId,
                 specialIds, maxLength, tokenizer, text; padded with spaces to a multiple of 8
    then         uint64 offsets[examples + 1], in tokens
    then         uint32 ids[tokens]; example e is ids[offsets[e]:offsets[e + 1]]

A batch is a pure function of (seed, step): resuming, or splitting one global batch over
several processes, draws exactly the examples and masks an uninterrupted single run draws.
"""

import json
import struct
import sys
from array import array

import torch

MAGIC = b"ARTOKEN1"
SCHEMA = "attention-reuse/tokens@1"


class DataError(ValueError):
    """A token file the trainer cannot use."""


class TokenData:
    def __init__(self, header, offsets, ids):
        self.header = header
        self.offsets = offsets  # list of ints, examples + 1
        self.ids = ids  # torch.int64, all tokens
        self.special = torch.tensor(sorted(set(header.get("specialIds", [])) | {header["padId"]}), dtype=torch.long)

    def __len__(self):
        return len(self.offsets) - 1

    def example(self, index, max_length):
        ids = self.ids[self.offsets[index] : self.offsets[index + 1]]
        return ids[:max_length]


def _read_array(code, raw, count):
    values = array(code)
    values.frombytes(raw)
    if sys.byteorder != "little":
        values.byteswap()
    if len(values) != count:
        raise DataError("token file is truncated")
    return values


def read_token_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise DataError("cannot read token file %s (%s)" % (path, err))
    if data[:8] != MAGIC:
        raise DataError("%s is not a token file (it does not start with %r)" % (path, MAGIC.decode()))
    (h,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + h].decode("utf-8"))
    if header.get("schema") != SCHEMA:
        raise DataError("%s has schema %r, expected %r" % (path, header.get("schema"), SCHEMA))
    n, t = header["examples"], header["tokens"]
    start = 12 + h
    offsets = list(_read_array("Q", data[start : start + 8 * (n + 1)], n + 1))
    ids_at = start + 8 * (n + 1)
    ids = _read_array("I", data[ids_at : ids_at + 4 * t], t)
    if n == 0:
        raise DataError("%s holds no examples" % path)
    return TokenData(header, offsets, torch.tensor(ids, dtype=torch.long))


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
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * ((8 - (12 + len(raw)) % 8) % 8)
    offsets = [0]
    for e in examples:
        offsets.append(offsets[-1] + len(e))
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<I", len(raw)) + raw)
        f.write(struct.pack("<%dQ" % len(offsets), *offsets))
        f.write(struct.pack("<%dI" % tokens, *[i for e in examples for i in e]))


def batch_generator(seed, step):
    g = torch.Generator()
    g.manual_seed(seed * 1000003 + step)
    return g


def masked_lm_batch(data, seed, step, batch_size, max_length, mask_prob=0.15):
    """The global batch of one step: (input_ids, attention_mask, labels), labels -100 where not predicted.

    BERT's masking: mask_prob of the real, non-special tokens are predicted; of those 80%
    become the mask token, 10% a random token, 10% stay. At least one token per batch is
    predicted, so the loss is always defined.
    """
    g = batch_generator(seed, step)
    picks = torch.randint(len(data), (batch_size,), generator=g).tolist()
    seqs = [data.example(i, max_length) for i in picks]
    width = max(1, max(len(s) for s in seqs))
    pad = data.header["padId"]
    input_ids = torch.full((batch_size, width), pad, dtype=torch.long)
    attention_mask = torch.zeros((batch_size, width), dtype=torch.long)
    for row, s in enumerate(seqs):
        input_ids[row, : len(s)] = s
        attention_mask[row, : len(s)] = 1
    candidates = (
        attention_mask.bool() & ~torch.isin(input_ids, data.special)
        if hasattr(torch, "isin")
        else (attention_mask.bool() & ~(input_ids[..., None] == data.special).any(-1))
    )
    chosen = candidates & (torch.rand((batch_size, width), generator=g) < mask_prob)
    if not candidates.any():
        raise DataError("the examples of step %d hold no token to predict (only special tokens)" % step)
    if not chosen.any():
        chosen.view(-1)[candidates.view(-1).nonzero()[0]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand((batch_size, width), generator=g)
    random_ids = torch.randint(data.header["vocabSize"], (batch_size, width), generator=g)
    masked = input_ids.clone()
    masked[chosen & (action < 0.8)] = data.header["maskId"]
    swap = chosen & (action >= 0.8) & (action < 0.9)
    masked[swap] = random_ids[swap]
    return masked, attention_mask, labels
