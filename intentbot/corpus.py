"""Read labelled training data from any supported format: CSV/TSV, JSONL, Rasa NLU YAML, or a
BIO folder (`seq.in` / `seq.out` / `label`); one reader per format in `intentbot.formats`.

Every example remembers where it came from, so any problem found later (a conflicting
duplicate, a label too rare to split) can name the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from intentbot.examples import DataError, Example, TrainingData
from intentbot.formats.base import Columns, Reader
from intentbot.formats.bio import read_bio
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
}
SPLIT_FOLDERS = ("train", "test")  # a folder holding these is a split layout, not one split


def read_data(path: str | Path, columns: Columns | None = None) -> TrainingData:
    """Read a labelled file (reader chosen by its extension, `READERS`) or a BIO folder."""
    path = Path(path)
    columns = columns or Columns()
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
            f"{', '.join(READERS)} or a BIO folder (CLINC150 .json files go through "
            "data=clinc150)"
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


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """Drop repeated utterances; a repeat with a different label is an error naming both."""
    seen: dict[str, Example] = {}
    for example in examples:
        first = seen.setdefault(normalised(example.text), example)
        if first.intent != example.intent:
            raise DataError(
                f"{example.source}: {example.text!r} is labelled {example.intent!r} here but "
                f"{first.intent!r} at {first.source}; keep one label"
            )
    return list(seen.values())
