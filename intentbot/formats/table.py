"""CSV and TSV tables: a header row naming the text and intent columns; no entities."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from intentbot.examples import DataError, TrainingData
from intentbot.formats.base import Columns, make_example, read_text, training_data

TEXT_COLUMNS = ("text", "utterance", "sentence", "query")
LABEL_COLUMNS = ("intent", "label", "category")


def read_csv(path: Path, columns: Columns) -> TrainingData:
    """A comma-separated table."""
    return _read_table(path, columns, ",")


def read_tsv(path: Path, columns: Columns) -> TrainingData:
    """A tab-separated table."""
    return _read_table(path, columns, "\t")


def find_column(header: list[str], candidates: tuple[str, ...]) -> int | None:
    """The first of `candidates` the header names (any case), or None."""
    lowered = [name.strip().lower() for name in header]
    return next((lowered.index(name) for name in candidates if name in lowered), None)


def pick_column(
    header: list[str],
    wanted: str | None,
    candidates: tuple[str, ...],
    what: str,
    where: str,
    setting: str = "data.{what}_column",
) -> int:
    """The column named `wanted`, or else found among `candidates`; the error names
    `setting`, the option that picks a column by name."""
    if wanted is not None:
        lowered = [name.strip().lower() for name in header]
        if wanted.lower() not in lowered:
            raise DataError(f"{where}: no {what} column named {wanted!r}; the header has {header}")
        return lowered.index(wanted.lower())
    found = find_column(header, candidates)
    if found is None:
        raise DataError(
            f"{where}: cannot find the {what} column in header {header}; name it one of "
            f"{list(candidates)} or set {setting.format(what=what)}=NAME"
        )
    return found


def _read_table(path: Path, columns: Columns, delimiter: str) -> TrainingData:
    # newline="" lets the csv module keep line breaks inside quoted cells (and U+2028 & co.
    # inside an utterance are text, not row ends)
    rows = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    examples, header = [], None
    while True:
        line = rows.line_num + 1  # where the next row starts
        try:
            row = next(rows, None)
        except csv.Error as error:  # an over-long field, a NUL byte, a broken quote
            raise DataError(f"{path}:{line}: unreadable row ({error})") from None
        if row is None:
            break
        if header is None:
            header = row
            if not header:
                break
            text_at = pick_column(header, columns.text, TEXT_COLUMNS, "text", f"{path}:1")
            label_at = pick_column(header, columns.label, LABEL_COLUMNS, "label", f"{path}:1")
            continue
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise DataError(f"{where}: {len(row)} fields where the header has {len(header)}")
        examples.append(make_example(row[text_at], row[label_at], where))
    if not header:
        raise DataError(f"{path}:1: empty file; expected a header such as 'text{delimiter}intent'")
    return training_data(examples)
