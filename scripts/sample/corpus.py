"""English sentences from WordNet glosses (Debian's wordnet-base), split by synset into
training and held-out sets so that no held-out sentence shares a gloss with training."""
import os
import random

WORDNET = "/usr/share/wordnet"
FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
MIN_WORDS, MAX_WORDS = 5, 40


def gloss_sentences(line):
    """The gloss is the text after '| '; its ';'-separated parts are a definition and
    quoted usage examples."""
    if line.startswith("  ") or "| " not in line:
        return []
    gloss = line.split("| ", 1)[1]
    out = []
    for part in gloss.split(";"):
        text = " ".join(part.replace('"', " ").split())
        if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            out.append(text)
    return out


def load_synsets(root=WORDNET):
    synsets = []
    for name in FILES:
        with open(os.path.join(root, name), encoding="utf-8") as f:
            for line in f:
                sentences = gloss_sentences(line)
                if sentences:
                    synsets.append(sentences)
    return synsets


def split(synsets, held_out_fraction, seed):
    """Shuffled synsets; the first held_out_fraction of them are held out."""
    order = list(range(len(synsets)))
    random.Random(seed).shuffle(order)
    cut = int(len(order) * held_out_fraction)
    held = [s for i in order[:cut] for s in synsets[i]]
    train = [s for i in order[cut:] for s in synsets[i]]
    # A sentence that also occurs in another synset's gloss must not leak into held-out.
    seen = set(train)
    held = list(dict.fromkeys(s for s in held if s not in seen))
    return train, held
