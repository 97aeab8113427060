"""A WordPiece tokenizer built here and written as a Hugging Face tokenizer.json.

Debian has no Python `tokenizers`, so this module reimplements the parts the sample uses:
BertNormalizer (lowercase, strip accents), BertPreTokenizer, greedy longest-match WordPiece
and the [CLS] ... [SEP] template. The vocabulary is learned with byte-pair merges over word
counts, with '##' on word-inner pieces, which is what Hugging Face's WordPieceTrainer does.
"""
import collections
import json
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))
PREFIX = "##"
MAX_CHARS = 100


def normalize(text):
    """BertNormalizer with clean_text, lowercase and (implied) strip_accents."""
    chars = []
    for c in text:
        if c in "\t\n\r" or c.isspace():
            chars.append(" ")
        elif ord(c) == 0 or ord(c) == 0xFFFD or unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs"):
            continue
        else:
            chars.append(c)
    text = "".join(chars).lower()
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def is_punctuation(c):
    o = ord(c)
    if 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def pre_tokenize(text):
    """BertPreTokenizer: split on whitespace, and every punctuation mark is its own word."""
    words, current = [], []
    for c in text:
        if c.isspace() or is_punctuation(c):
            if current:
                words.append("".join(current))
                current = []
            if not c.isspace():
                words.append(c)
        else:
            current.append(c)
    if current:
        words.append("".join(current))
    return words


def learn_vocab(sentences, size):
    """Byte-pair merges over word types until the vocabulary has `size` entries."""
    counts = collections.Counter(w for s in sentences for w in pre_tokenize(normalize(s)))
    words = [[w[0]] + [PREFIX + c for c in w[1:]] for w in counts]
    freq = list(counts.values())
    vocab = list(SPECIALS)
    known = set(vocab)
    for symbols in words:
        for s in symbols:
            if s not in known:
                known.add(s)
                vocab.append(s)
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, symbols in enumerate(words):
        for a, b in zip(symbols, symbols[1:]):
            pairs[a, b] += freq[i]
            where[a, b].add(i)
    while len(vocab) < size and pairs:
        # Highest count; ties to the lexicographically smallest pair, for repeatability.
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < 2:
            break
        merged = a + b[len(PREFIX) :]
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
        for i in sorted(where.pop((a, b))):
            symbols = words[i]
            for x, y in zip(symbols, symbols[1:]):
                pairs[x, y] -= freq[i]
                if pairs[x, y] <= 0:
                    del pairs[x, y]
            out, j = [], 0
            while j < len(symbols):
                if j + 1 < len(symbols) and symbols[j] == a and symbols[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(symbols[j])
                    j += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[x, y] += freq[i]
                where[x, y].add(i)
        pairs.pop((a, b), None)
    return vocab


class WordPiece:
    def __init__(self, vocab):
        self.vocab = list(vocab)
        self.ids = {t: i for i, t in enumerate(self.vocab)}

    def word_ids(self, word):
        if len(word) > MAX_CHARS:
            return [UNK]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else PREFIX + word[start:end]
                if piece in self.ids:
                    out.append(self.ids[piece])
                    break
                end -= 1
            if end == start:
                return [UNK]
            start = end
        return out

    def encode(self, text, special_tokens=True):
        ids = [i for w in pre_tokenize(normalize(text)) for i in self.word_ids(w)]
        return [CLS] + ids + [SEP] if special_tokens else ids

    def tokenizer_json(self):
        def special(token):
            return {"SpecialToken": {"id": token, "type_id": 0}}

        def sequence(name, type_id):
            return {"Sequence": {"id": name, "type_id": type_id}}

        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [
                {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                for i, t in enumerate(SPECIALS)
            ],
            "normalizer": {
                "type": "BertNormalizer",
                "clean_text": True,
                "handle_chinese_chars": True,
                "strip_accents": None,
                "lowercase": True,
            },
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [special("[CLS]"), sequence("A", 0), special("[SEP]")],
                "pair": [
                    special("[CLS]"),
                    sequence("A", 0),
                    special("[SEP]"),
                    sequence("B", 1),
                    {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
                ],
                "special_tokens": {t: {"id": t, "ids": [self.ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
            },
            "decoder": {"type": "WordPiece", "prefix": PREFIX, "cleanup": True},
            "model": {
                "type": "WordPiece",
                "unk_token": "[UNK]",
                "continuing_subword_prefix": PREFIX,
                "max_input_chars_per_word": MAX_CHARS,
                "vocab": {t: i for i, t in enumerate(self.vocab)},
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.tokenizer_json(), f, ensure_ascii=False, indent=1)
            f.write("\n")
