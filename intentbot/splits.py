"""Build the train / validation / test splits that `conf/data/*.yaml` name.

Each `data` config option instantiates one of the `from_*` functions here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from intentbot.corpus import (
    DataError,
    Example,
    deduplicate,
    normalised,
    read_clinc150,
    read_examples,
)

BUNDLED_DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Splits:
    """The three splits of one data set; `test` is only ever used for reporting."""

    train: list[Example]
    val: list[Example]
    test: list[Example]

    def check(self) -> Splits:
        """Refuse splits a model cannot learn from or be judged on fairly."""
        for name in ("train", "val", "test"):
            if not getattr(self, name):
                raise DataError(f"the {name} split is empty; add examples or a {name} file")
        known = {example.intent for example in self.train}
        for example in (*self.val, *self.test):
            if example.intent not in known:
                raise DataError(
                    f"{example.source}: intent {example.intent!r} has no training example; "
                    "add some to the training data"
                )
        if len(known) < 2:
            raise DataError("the training data has a single intent; a classifier needs two or more")
        return self


def stratified_split(
    examples: list[Example], fraction: float, seed: int, what: str
) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of every intent (at least one example each), reproducibly."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the {what} fraction must be between 0 and 1, got {fraction}")
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    rng = random.Random(seed)
    kept, held_out = [], []
    for intent in sorted(by_intent):
        group = by_intent[intent]
        if len(group) < 2:
            raise DataError(
                f"{group[0].source}: intent {intent!r} has {len(group)} example; at least 2 "
                f"are needed to hold some out for {what}; add examples or give a {what} file"
            )
        rng.shuffle(group)
        count = max(1, round(len(group) * fraction))
        held_out.extend(group[:count])
        kept.extend(group[count:])
    return kept, held_out


def _without_leaks(held_out: list[Example], train: list[Example]) -> list[Example]:
    """Drop held-out utterances that also appear in train: they would flatter the scores."""
    seen = {normalised(example.text) for example in train}
    return [example for example in held_out if normalised(example.text) not in seen]


def from_files(
    train: str,
    val: str | None = None,
    test: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> Splits:
    """Labelled files; a missing val or test split is carved from train, stratified and seeded."""

    def read(path: str) -> list[Example]:
        return deduplicate(read_examples(path, text_column, label_column))

    train_examples = read(train)
    if test is None:
        train_examples, test_examples = stratified_split(
            train_examples, test_fraction, seed, "test"
        )
    else:
        test_examples = _without_leaks(read(test), train_examples)
    if val is None:
        train_examples, val_examples = stratified_split(
            train_examples, val_fraction, seed + 1, "validation"
        )
    else:
        val_examples = _without_leaks(read(val), train_examples)
    return Splits(train_examples, val_examples, test_examples).check()


def from_bundled(val_fraction: float = 0.1, seed: int = 0) -> Splits:
    """The data set written for this project, in `data/` (train and held-out test files)."""
    return from_files(
        str(BUNDLED_DATA / "train.jsonl"),
        test=str(BUNDLED_DATA / "test.jsonl"),
        val_fraction=val_fraction,
        seed=seed,
    )


def from_clinc150(path: str, variant: str = "full") -> Splits:
    """CLINC150 with its official splits; out-of-scope stays a label (`oos`)."""
    splits = read_clinc150(path, variant)
    return Splits(
        deduplicate(splits["train"]), deduplicate(splits["val"]), deduplicate(splits["test"])
    ).check()
