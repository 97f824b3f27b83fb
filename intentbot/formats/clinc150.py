"""The official CLINC150 JSON (Larson et al., 2019): its own train / val / test splits, with
out-of-scope utterances kept under the label `oos`."""

from __future__ import annotations

import json
from pathlib import Path

from intentbot.examples import DataError, Example
from intentbot.formats.base import make_example, read_text

VARIANTS = ("full", "small", "imbalanced", "oos_plus")


def read_clinc150(path: str | Path, variant: str = "full") -> dict[str, list[Example]]:
    """The splits of one CLINC150 file, by name (`train`, `val`, `test`).

    `path` is a data_*.json file or the folder holding them (then `variant` picks the file).
    """
    path = Path(path)
    if variant not in VARIANTS:
        raise DataError(f"unknown CLINC150 variant {variant!r}; use one of {VARIANTS}")
    if path.is_dir():
        path = path / f"data_{variant}.json"
    if not path.is_file():
        raise DataError(f"{path}: no such file; set data.path to CLINC150's data_{variant}.json")
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    splits = {}
    for split in ("train", "val", "test"):
        pairs = [*document.get(split, []), *document.get(f"oos_{split}", [])]
        if not pairs:
            raise DataError(f"{path}: no '{split}' key; this is not a CLINC150 data file")
        splits[split] = [
            make_example(*_pair(pair, f"{path}: {split}[{index}]"), f"{path}: {split}[{index}]")
            for index, pair in enumerate(pairs)
        ]
    return splits


def _pair(pair: object, where: str) -> tuple[object, object]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise DataError(f"{where}: expected [text, intent]")
    return pair[0], pair[1]
