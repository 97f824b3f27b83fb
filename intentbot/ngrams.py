"""Word and character n-grams of an utterance, weighted as TF-IDF: the sparse features that the
network's linear n-gram path reads beside the recurrent encoder.

Why: on a few hundred utterances a recurrent encoder has seen too few phrasings, and in a
language or script its pretrained vocabulary barely covers it has little to start from. Word
and character n-grams need no vocabulary from outside: any script, any spelling, learned from
the training split alone (what makes TF-IDF + a linear classifier hard to beat on small data,
and why Rasa's DIET and fastText read them). The vocabulary is fitted on the training split;
each utterance becomes the ids of its known n-gram occurrences, each weighted by its n-gram's
smoothed IDF (scikit-learn's), L2-normalised per kind (words, characters): TF-IDF with the term
frequency counted per occurrence. Serving computes the same weights in Python
and the graph reads them (`intentbot.engine.graph`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

WORD = re.compile(r"\w+")
PADDING = 0  # id 0 is no n-gram: padding of a batch, weight 0


class NgramBag(NamedTuple):
    """The n-grams of a batch of texts: ids (B, N), PADDING past each text's own, and their
    weights (B, N), 0 on padding; N is at least 1."""

    ids: np.ndarray
    weights: np.ndarray

    def rows(self, rows: np.ndarray | slice) -> NgramBag:
        """The bags of some texts of the batch (a length group, a chunk)."""
        return NgramBag(self.ids[rows], self.weights[rows])


@dataclass(frozen=True)
class NgramConfig:
    """The `model.ngrams` config: which n-grams, and how many at most (the most frequent)."""

    word_orders: tuple[int, int] = (1, 2)
    char_orders: tuple[int, int] = (2, 5)
    max_features: int = 50_000

    def __post_init__(self) -> None:
        for name in ("word_orders", "char_orders"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # YAML gives lists
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(
                    f"model.ngrams.{name}={[low, high]}: give [shortest, longest] with "
                    "0 <= shortest <= longest ([0, 0] turns that kind off)"
                )
        if self.max_features < 1:
            raise ValueError(f"model.ngrams.max_features={self.max_features}: give 1 or more")


def normalised(text: str) -> str:
    """NFKC and lower case: full-width forms, ligatures and case do not split an n-gram."""
    return unicodedata.normalize("NFKC", text).lower()


def _orders(bounds: tuple[int, int]) -> range:
    low, high = bounds
    return range(max(low, 1), high + 1) if high else range(0)


def word_grams(text: str, orders: tuple[int, int]) -> Iterator[str]:
    """Runs of 1..n words (letters, digits and marks of any script), joined by a space."""
    words = WORD.findall(text)
    for order in _orders(orders):
        for start in range(len(words) - order + 1):
            yield " ".join(words[start : start + order])


def char_grams(text: str, orders: tuple[int, int]) -> Iterator[str]:
    """Character n-grams inside each whitespace-separated chunk padded by a space on each
    side, so that a word's start and end are n-grams of their own; a chunk shorter than an
    order counts once whole. In a script written without spaces a chunk is a whole phrase,
    whose character n-grams still carry its words."""
    for chunk in text.split():
        padded = f" {chunk} "
        for order in _orders(orders):
            for start in range(max(len(padded) - order, 0) + 1):
                yield padded[start : start + order]
            if order >= len(padded):  # the whole chunk: longer orders would repeat it
                break


class _Occurrences(NamedTuple):
    """Some n-gram occurrences of one kind: their ids, IDFs and the IDFs' sum of squares."""

    ids: np.ndarray  # (n,) int64
    idf: np.ndarray  # (n,) float32
    squares: float

    @classmethod
    def of(cls, ids: np.ndarray, idf: np.ndarray) -> _Occurrences:
        weights = idf[ids - 1]
        return cls(ids, weights, float(weights @ weights))

    @classmethod
    def join(cls, parts: list[_Occurrences]) -> _Occurrences:
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0)
        ids = np.concatenate([part.ids for part in parts])
        idf = np.concatenate([part.idf for part in parts])
        return cls(ids, idf, sum(part.squares for part in parts))

    def unit_weights(self) -> np.ndarray:
        """The IDFs scaled to unit length (none: as they are)."""
        return self.idf / math.sqrt(self.squares) if self.squares else self.idf


CHAR = "\0"  # starts a character n-gram's key: the two kinds never collide
CHUNK_CACHE = 100_000  # chunks whose character n-gram ids are kept (a few MB at most)


class NgramVocabulary:
    """The n-grams of the training split, each with its id and IDF; turns texts into
    `NgramBag`s."""

    def __init__(self, config: NgramConfig, grams: Sequence[str], idf: Sequence[float]) -> None:
        self.config = config
        self.grams = list(
            grams
        )  # id i + 1 is grams[i] (character n-grams after CHAR); 0 is PADDING
        self.idf = np.asarray(idf, np.float32)
        self._ids = {gram: index + 1 for index, gram in enumerate(self.grams)}
        # a serving process sees the same words again and again: each chunk's character n-grams
        # are looked up once, and an utterance joins its chunks' arrays (one SNIPS utterance:
        # 330 microseconds in Python per n-gram, BENCHMARKS.md)
        self._chunks: dict[str, _Occurrences] = {}

    @classmethod
    def fit(cls, texts: Iterable[str], config: NgramConfig) -> NgramVocabulary:
        """The `max_features` n-grams found in the most texts (ties by the n-gram, so the same
        data gives the same vocabulary), with scikit-learn's smoothed IDF."""
        frequency: Counter[str] = Counter()
        documents = 0
        for text in texts:
            documents += 1
            text = normalised(text)
            frequency.update(set(word_grams(text, config.word_orders)))
            frequency.update({CHAR + gram for gram in char_grams(text, config.char_orders)})
        ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
        kept = ranked[: config.max_features]
        idf = [math.log((1 + documents) / (1 + count)) + 1.0 for _, count in kept]
        return cls(config, [gram for gram, _ in kept], idf)

    def __len__(self) -> int:
        """Rows of the n-gram table, PADDING included."""
        return len(self.grams) + 1

    def bag(self, texts: Sequence[str]) -> NgramBag:
        """Each text's known n-grams as ids and TF-IDF weights, padded to the batch's most."""
        rows = [self._row(normalised(text)) for text in texts]
        width = max([1, *(len(row_ids) for row_ids, _ in rows)])
        ids = np.zeros((len(rows), width), np.int64)
        weights = np.zeros((len(rows), width), np.float32)
        for position, (row_ids, row_weights) in enumerate(rows):
            ids[position, : len(row_ids)] = row_ids
            weights[position, : len(row_ids)] = row_weights
        return NgramBag(ids, weights)

    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The ids of one normalised text's known n-gram occurrences and their weights: each
        occurrence its n-gram's IDF (a repeated n-gram sums them, as the table lookup does), the
        weights of each kind scaled to unit length."""
        known = self._ids
        word_ids = [
            known[gram] for gram in word_grams(text, self.config.word_orders) if gram in known
        ]
        words = _Occurrences.of(np.asarray(word_ids, np.int64), self.idf)
        chars = _Occurrences.join([self._chunk(chunk) for chunk in text.split()])
        return np.concatenate([words.ids, chars.ids]), np.concatenate(
            [words.unit_weights(), chars.unit_weights()]
        )

    def _chunk(self, chunk: str) -> _Occurrences:
        """One chunk's known character n-grams, worked out once per chunk."""
        cached = self._chunks.get(chunk)
        if cached is None:
            if len(self._chunks) >= CHUNK_CACHE:
                self._chunks.clear()
            known = self._ids
            grams = (CHAR + gram for gram in char_grams(chunk, self.config.char_orders))
            ids = np.asarray([known[gram] for gram in grams if gram in known], np.int64)
            cached = self._chunks[chunk] = _Occurrences.of(ids, self.idf)
        return cached

    def to_dict(self) -> dict:
        """What a bundle stores (`ngrams.json`) to compute the same bags at serving."""
        return {
            "word_orders": list(self.config.word_orders),
            "char_orders": list(self.config.char_orders),
            "max_features": self.config.max_features,
            "grams": self.grams,
            "idf": self.idf.tolist(),
        }

    @classmethod
    def from_dict(cls, record: dict) -> NgramVocabulary:
        """Inverse of `to_dict`; a record that does not fit is a ValueError saying why."""
        try:
            config = NgramConfig(
                tuple(record["word_orders"]), tuple(record["char_orders"]), record["max_features"]
            )
            grams, idf = record["grams"], record["idf"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"missing or malformed field ({error!r})") from None
        if len(grams) != len(idf) or not all(isinstance(gram, str) for gram in grams):
            raise ValueError("grams must be strings, one IDF each")
        return cls(config, grams, idf)
