"""Build the train / validation / test splits that `conf/data/*.yaml` name.

Each `data` config option instantiates one of the `from_*` functions here. Training data is
cleaned (repeats merged, conflicting labels left out); a test file is scored whole, every row
of it, so that its figures compare with anyone else's on the same file. `extra` files (review's
decisions, `data.extra=[...]`) join the training split only, after val and test are set.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from intentbot.corpus import deduplicate, normalised, read_data, read_splits
from intentbot.examples import DataError, Example, TrainingData
from intentbot.formats.base import Columns
from intentbot.formats.clinc150 import data_file

BUNDLED_DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Splits:
    """The three splits of one data set; `test` is only ever used for reporting.

    `synonyms` come from the training data (lower-cased surface -> value), and so do `lookups`
    (Rasa's lookup tables: a name -> its entries); `warnings` are what a person should hear
    about the data, every repair the readers made included (training prints them).
    """

    train: list[Example]
    val: list[Example]
    test: list[Example]
    synonyms: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def val_known(self) -> list[Example]:
        """The validation utterances whose intents training has: all that a class index exists
        for (the checkpoint monitor, temperature and threshold); `val` keeps the rest, for the
        figures, where they count as wrong."""
        known = {example.intent for example in self.train}
        return [example for example in self.val if example.intent in known]

    def check(self) -> Splits:
        """Refuse splits a model cannot learn from; name the validation and test utterances of
        intents training lacks (nothing could learn them: they count as wrong)."""
        for name in ("train", "val", "test"):
            if not getattr(self, name):
                raise DataError(f"the {name} split is empty; add examples or a {name} file")
        known = {example.intent for example in self.train}
        if len(known) < 2:
            raise DataError("the training data has a single intent; a classifier needs two or more")
        if not self.val_known:
            raise DataError(
                "no validation utterance has an intent of the training data; give a validation "
                "file with the training data's intents (data.val=PATH) or leave data.val unset"
            )
        warnings = list(self.warnings)
        for split, examples in (("validation", self.val), ("test", self.test)):
            unseen = Counter(example.intent for example in examples if example.intent not in known)
            if unseen:
                named = ", ".join(f"{intent} ({count})" for intent, count in sorted(unseen.items()))
                warnings.append(
                    f"{sum(unseen.values())} {split} utterances have intents with no training "
                    f"example, scored as wrong: {named}"
                )
        warnings += _unseen_entity_types(self.train, self.test)
        return replace(self, warnings=warnings)


def _unseen_entity_types(train: list[Example], test: list[Example]) -> list[str]:
    """Test entities of types the training data lacks: the model cannot find them, so they
    count as missed; name them."""
    known = {entity.entity for example in train for entity in example.entities}
    unseen = Counter(
        entity.entity
        for example in test
        for entity in example.entities
        if entity.entity not in known
    )
    if not unseen:
        return []
    named = ", ".join(f"{kind} ({count})" for kind, count in sorted(unseen.items()))
    return [
        f"{sum(unseen.values())} test entities have types with no training example, "
        f"counted as missed: {named}"
    ]


# one example held out, one left to train on
MIN_TO_SPLIT = 2


def stratified_split(
    examples: list[Example], fraction: float, seed: int, what: str
) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of every intent (at least one example each), reproducibly; an intent
    with fewer than `MIN_TO_SPLIT` examples stays whole in the kept part."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the {what} fraction must be between 0 and 1, got {fraction}")
    rng = random.Random(seed)
    kept, held_out = [], []
    by_intent = _by_intent(examples)
    for intent in sorted(by_intent):
        group = by_intent[intent]
        if len(group) < MIN_TO_SPLIT:
            kept.extend(group)
            continue
        rng.shuffle(group)
        count = max(1, round(len(group) * fraction))
        held_out.extend(group[:count])
        kept.extend(group[count:])
    return kept, held_out


def _by_intent(examples: list[Example]) -> dict[str, list[Example]]:
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    return by_intent


def _carve(
    examples: list[Example],
    fraction: float,
    seed: int,
    what: str,
    left_out: dict[str, list[str]],
) -> tuple[list[Example], list[Example]]:
    """`stratified_split`, noting in `left_out` (intent -> splits) each intent too rare to
    hold any of out."""
    for intent, group in _by_intent(examples).items():
        if len(group) < MIN_TO_SPLIT:
            left_out[intent].append(what)
    return stratified_split(examples, fraction, seed, what)


def _too_rare_note(left_out: dict[str, list[str]], examples: list[Example]) -> list[str]:
    """One warning for every intent left out of a carved split (`left_out`: intent -> those
    splits), with its count and where its examples are, so that a person can add some."""
    if not left_out:
        return []
    groups = _by_intent(examples)
    named = "; ".join(
        f"{intent} ({_count(len(groups[intent]))}"
        f"{_sources(groups[intent])}) left out of {' and '.join(splits)}"
        for intent, splits in sorted(left_out.items())
    )
    return [
        f"{len(left_out)} intents have too few examples to hold some out, trained on but not "
        f"held out (add examples, or give data.val / data.test files): {named}"
    ]


def _count(examples: int) -> str:
    return f"{examples} example" + ("s" if examples != 1 else "")


def _sources(examples: list[Example]) -> str:
    """': file:line, ...' of the examples that say where they were read from; '' if none."""
    sources = [example.source for example in examples if example.source]
    return f": {', '.join(sources)}" if sources else ""


def _without_leaks(held_out: list[Example], train: list[Example]) -> list[Example]:
    """Drop held-out utterances that also appear in train: they would flatter the choice of
    checkpoint and threshold."""
    seen = {normalised(example.text) for example in train}
    return [example for example in held_out if normalised(example.text) not in seen]


def _training_examples(
    examples: list[Example], on_conflict: str, warnings: list[str]
) -> list[Example]:
    """Repeats merged (the count noted) and conflicting labels left out (all listed)."""
    merged = deduplicate(examples, on_conflict)
    if merged.repeats:
        warnings.append(f"{merged.repeats} repeated training utterances merged")
    warnings.extend(merged.report())
    return merged.examples


def _overlap_note(test: list[Example], train: list[Example]) -> list[str]:
    """Test utterances also in training still count (the file is scored whole); say so."""
    seen = {normalised(example.text) for example in train}
    shared = sum(normalised(example.text) in seen for example in test)
    return [f"{shared} test utterances also appear in the training data"] if shared else []


def _with_extra(
    train: list[Example],
    extra: str | Sequence[str],
    columns: Columns,
    on_conflict: str,
    warnings: list[str],
) -> list[Example]:
    """The training split plus the examples of the `extra` files. Their labels are a person's
    decisions, so they win: a training utterance with the same text (`normalised`) under
    another label is replaced, each one named in a warning; under the same label, merged.
    Conflicts among the extra files themselves follow `on_conflict`, like training data."""
    paths = [extra] if isinstance(extra, str) else list(extra)
    if not paths:
        return train
    read = [read_data(path, columns) for path in paths]
    warnings.extend(warning for data in read for warning in data.warnings)
    merged = deduplicate([example for data in read for example in data.examples], on_conflict)
    warnings.extend(merged.report())
    decided = {normalised(example.text): example for example in merged.examples}
    kept, replaced = [], []
    for example in train:
        newer = decided.get(normalised(example.text))
        if newer is None:
            kept.append(example)
        elif newer.intent != example.intent:
            replaced.append(
                f"  {example.text!r}: {example.intent!r} at {example.source} -> "
                f"{newer.intent!r} at {newer.source}"
            )
    warnings.append(
        f"data.extra: {len(merged.examples)} utterances added to the training split "
        f"({len(train) - len(kept)} of them were in it already)"
    )
    if replaced:
        warnings.append(
            f"{len(replaced)} training utterances take the label data.extra gives them (a "
            "person's decision wins over the data's label):\n" + "\n".join(replaced)
        )
    return kept + merged.examples


def from_files(
    train: str,
    val: str | None = None,
    test: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    on_conflict: str = "drop",
    extra: str | Sequence[str] = (),
) -> Splits:
    """Labelled files or BIO split folders; a missing val or test split is carved from train,
    stratified and seeded, before the `extra` files join the training split."""
    columns = Columns(text_column, label_column)

    def read(path: str) -> TrainingData:
        return read_data(path, columns)

    train_data = read(train)
    given = {name: read(path) for name, path in (("val", val), ("test", test)) if path is not None}
    warnings = [warning for data in (train_data, *given.values()) for warning in data.warnings]
    train_examples = _training_examples(train_data.examples, on_conflict, warnings)
    deduplicated = train_examples
    left_out: dict[str, list[str]] = defaultdict(list)  # intent -> the carved splits it is not in
    if "test" in given:
        test_examples = given["test"].examples
    else:
        train_examples, test_examples = _carve(
            train_examples, test_fraction, seed, "test", left_out
        )
    if "val" in given:
        val_examples = deduplicate(given["val"].examples).examples
    else:
        train_examples, val_examples = _carve(
            train_examples, val_fraction, seed + 1, "validation", left_out
        )
    warnings += _too_rare_note(left_out, deduplicated)
    train_examples = _with_extra(train_examples, extra, columns, on_conflict, warnings)
    val_examples = _without_leaks(val_examples, train_examples)
    if "test" in given:
        warnings += _overlap_note(test_examples, train_examples)
    return Splits(
        train_examples,
        val_examples,
        test_examples,
        train_data.synonyms,
        warnings,
        train_data.lookups,
    ).check()


def from_bundled(
    val_fraction: float = 0.1, seed: int = 0, extra: str | Sequence[str] = ()
) -> Splits:
    """The data set written for this project, in `data/` (train and held-out test files)."""
    return from_files(
        str(BUNDLED_DATA / "train.jsonl"),
        test=str(BUNDLED_DATA / "test.jsonl"),
        val_fraction=val_fraction,
        seed=seed,
        extra=extra,
    )


def from_clinc150(
    path: str,
    variant: str = "full",
    on_conflict: str = "drop",
    extra: str | Sequence[str] = (),
) -> Splits:
    """CLINC150 with its official splits; out-of-scope stays a label (`oos`)."""
    splits = read_splits(data_file(path, variant))
    warnings: list[str] = []
    train = _training_examples(splits["train"], on_conflict, warnings)
    train = _with_extra(train, extra, Columns(), on_conflict, warnings)
    val = _without_leaks(deduplicate(splits["val"]).examples, train)
    return Splits(train, val, splits["test"], warnings=warnings).check()


def from_bio_folders(
    path: str, on_conflict: str = "drop", extra: str | Sequence[str] = ()
) -> Splits:
    """A joint intent + slot benchmark in BIO folders: `train/`, `valid/` (or `val/`), `test/`.
    The official validation and test splits stay whole, so scores compare with published ones.
    """
    root = Path(path)
    val_folder = root / "valid" if (root / "valid").is_dir() else root / "val"
    folders = {"train": root / "train", "val": val_folder, "test": root / "test"}
    for folder in folders.values():
        if not folder.is_dir():
            raise DataError(
                f"{root}: no {folder.name}/ folder; a BIO data set holds train/, valid/ (or "
                "val/) and test/, each with seq.in, seq.out and label"
            )
    data = {name: read_data(folder) for name, folder in folders.items()}
    warnings = [warning for split in data.values() for warning in split.warnings]
    train = _training_examples(data["train"].examples, on_conflict, warnings)
    train = _with_extra(train, extra, Columns(), on_conflict, warnings)
    return Splits(
        train, data["val"].examples, data["test"].examples, data["train"].synonyms, warnings
    ).check()
