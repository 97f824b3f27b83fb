"""The official CLINC150 JSON (Larson et al., 2019): its own train / val / test splits, with
out-of-scope utterances kept under the label `oos`. A file holds all three splits, so it is read
through `intentbot.corpus.read_splits` (`data=clinc150`), not as one split."""

from __future__ import annotations

import json
from pathlib import Path

from intentbot.examples import DataError, TrainingData
from intentbot.formats.base import Columns, make_example, read_text

VARIANTS = ("full", "small", "imbalanced", "oos_plus")
SPLITS = ("train", "val", "test")


def data_file(path: str | Path, variant: str = "full") -> Path:
    """The data file `path` names: itself, or in the folder holding them the one of
    `variant`."""
    path = Path(path)
    if variant not in VARIANTS:
        raise DataError(f"unknown CLINC150 variant {variant!r}; use one of {VARIANTS}")
    if path.is_dir():
        path = path / f"data_{variant}.json"
    if not path.is_file():
        raise DataError(f"{path}: no such file; set data.path to CLINC150's data_{variant}.json")
    return path


def read_clinc150(path: Path, columns: Columns) -> TrainingData:
    """Every utterance of one CLINC150 file, and its splits by name (`train`, `val`, `test`),
    each with its out-of-scope utterances last. `columns` is not used: the file names its
    fields."""
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(document, dict):
        document = {}
    splits = {}
    for split in SPLITS:
        pairs = [*document.get(split, []), *document.get(f"oos_{split}", [])]
        if not pairs:
            raise DataError(
                f"{path}: no '{split}' key; .json files are read as CLINC150 data files "
                '({"train": [[text, intent], ...], "val": ..., "test": ...}); for one example '
                "a line, name the file .jsonl"
            )
        splits[split] = [
            make_example(*_pair(pair, f"{path}: {split}[{index}]"), f"{path}: {split}[{index}]")
            for index, pair in enumerate(pairs)
        ]
    return TrainingData([example for split in SPLITS for example in splits[split]], splits=splits)


def _pair(pair: object, where: str) -> tuple[object, object]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise DataError(f"{where}: expected [text, intent]")
    return pair[0], pair[1]
