"""Read labelled training data from any supported format: CSV/TSV, JSONL, Rasa NLU YAML, a BIO
folder (`seq.in` / `seq.out` / `label`) or CLINC150's JSON; one reader per format in
`intentbot.formats`. A source that holds its own splits (CLINC150's JSON, a BIO data set's
train/valid/test folders) is read split by split, never as one.

Every example remembers where it came from, so any problem found later (a conflicting
duplicate, a label too rare to split) can name the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from intentbot.examples import DataError, Example, TrainingData
from intentbot.formats.base import Columns, Reader
from intentbot.formats.bio import read_bio
from intentbot.formats.clinc150 import read_clinc150
from intentbot.formats.jsonl import read_jsonl
from intentbot.formats.rasa import read_rasa_yaml
from intentbot.formats.table import read_csv, read_tsv

# One entry per file format: a new format is a module in intentbot/formats and a line here.
READERS: dict[str, Reader] = {
    ".csv": read_csv,
    ".tsv": read_tsv,
    ".jsonl": read_jsonl,
    ".yml": read_rasa_yaml,
    ".yaml": read_rasa_yaml,
    ".json": read_clinc150,  # holds its splits: `read_splits`
}
SPLIT_FOLDERS = ("train", "test")  # a folder holding these is a split layout, not one split


def read_data(path: str | Path, columns: Columns | None = None) -> TrainingData:
    """Read a labelled file (reader chosen by its extension, `READERS`) or a BIO folder: one
    split's worth of data."""
    path = Path(path)
    data = _read(path, columns or Columns())
    if data.splits:
        raise DataError(
            f"{path}: holds its own {', '.join(data.splits)} splits; read it with data=clinc150 "
            f"data.path={path}"
        )
    return data


def read_splits(path: str | Path) -> dict[str, list[Example]]:
    """The examples of each split a file holds (CLINC150's JSON), by name."""
    path = Path(path)
    data = _read(path, Columns())
    if not data.splits:
        raise DataError(f"{path}: holds no splits of its own; read it as one (data=files)")
    return data.splits


def _read(path: Path, columns: Columns) -> TrainingData:
    if path.is_dir():
        if all((path / name).is_dir() for name in SPLIT_FOLDERS):
            raise DataError(
                f"{path}: holds train/valid/test splits; read one split folder, or use "
                f"data=bio data.path={path}"
            )
        return read_bio(path, columns)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported extension {path.suffix.lower()!r}; use one of "
            f"{', '.join(READERS)} or a BIO folder"
        )
    return reader(path, columns)


def read_examples(
    path: str | Path, text_column: str | None = None, label_column: str | None = None
) -> list[Example]:
    """Only the examples of `read_data`."""
    return read_data(path, Columns(text_column, label_column)).examples


def normalised(text: str) -> str:
    """The key under which two utterances count as duplicates."""
    return " ".join(text.casefold().split()).rstrip(" .!?")


CONFLICT_RULES = ("drop", "error")


@dataclass(frozen=True)
class Deduplicated:
    """Training examples with repeats merged; `conflicts` are the utterances found under more
    than one label (every copy, in file order), which training leaves out."""

    examples: list[Example]
    repeats: int
    conflicts: list[list[Example]]

    def report(self) -> list[str]:
        """What a person should hear about the merge: one warning naming every conflict."""
        if not self.conflicts:
            return []
        lines = [
            f"{len(self.conflicts)} utterances carry more than one label and are left out of "
            "training (data.on_conflict=error refuses such data instead):"
        ]
        for copies in self.conflicts:
            labels = ", ".join(f"{copy.intent!r} at {copy.source}" for copy in copies)
            lines.append(f"  {copies[0].text!r}: {labels}")
        return ["\n".join(lines)]


def deduplicate(examples: Iterable[Example], on_conflict: str = "drop") -> Deduplicated:
    """Merge repeated utterances (same `normalised` text); repeats under different labels are
    all listed at once, then left out (`drop`) or refused (`error`)."""
    if on_conflict not in CONFLICT_RULES:
        raise DataError(f"data.on_conflict={on_conflict!r} is not one of {CONFLICT_RULES}")
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(normalised(example.text), []).append(example)
    kept, conflicts, repeats = [], [], 0
    for copies in groups.values():
        if len({copy.intent for copy in copies}) > 1:
            conflicts.append(copies)
        else:
            kept.append(copies[0])
            repeats += len(copies) - 1
    result = Deduplicated(kept, repeats, conflicts)
    if conflicts and on_conflict == "error":
        raise DataError("\n".join(result.report()))
    return result
