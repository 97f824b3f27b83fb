"""Altered copies of training utterances for the teacher to label (`distill.augment`).

On its own training utterances a fine-tuned teacher is nearly certain, so its softened outputs
there say little more than the labels. On an utterance with a word dropped, a word swapped
for another of the training vocabulary, or only a window of its words kept, it hesitates
between the intents that are close, and that is what the student learns from it (Tang et al.,
2019, "Distilling task-specific knowledge from BERT into simple neural networks"). Words are
what spaces separate: an utterance of one word is kept as it is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

DROP = 0.1  # each word's chance of being left out
REPLACE = 0.1  # ... or of being replaced by a word drawn from the training utterances
WINDOW = 0.25  # the chance that only a window of the (altered) words is kept
TRIES = 5  # draws of a copy before giving up on one equal to an utterance already there


def altered(texts: Sequence[str], copies: int, seed: int) -> list[str]:
    """Up to `copies` altered copies of each text, in the texts' order, none equal to a text
    or to another copy; the same texts and seed give the same copies."""
    rng = random.Random(seed)
    pool = [word for text in texts for word in text.split()]
    seen = set(texts)
    made = []
    for text in texts:
        words = text.split()
        if len(words) < 2:
            continue
        for _ in range(copies):
            for _ in range(TRIES):
                copy = " ".join(_alter(words, pool, rng))
                if copy and copy not in seen:
                    seen.add(copy)
                    made.append(copy)
                    break
    return made


def _alter(words: list[str], pool: list[str], rng: random.Random) -> list[str]:
    """Each word dropped, replaced or kept; then, sometimes, a window of at least half."""
    kept = []
    for word in words:
        draw = rng.random()
        if draw < DROP:
            continue
        kept.append(rng.choice(pool) if draw < DROP + REPLACE else word)
    if len(kept) > 2 and rng.random() < WINDOW:
        size = rng.randint((len(kept) + 1) // 2, len(kept) - 1)
        start = rng.randint(0, len(kept) - size)
        kept = kept[start : start + size]
    return kept
