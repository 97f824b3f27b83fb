"""Where answered records go: JSON lines or CSV, chosen by the output file's extension
(JSON lines on stdout when there is no file), flushed after every chunk."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

from intentbot.examples import DataError
from intentbot.records import CSV_FIELDS, Record

SUFFIXES = (".jsonl", ".csv")


class RecordWriter(Protocol):
    """Where classified records go: JSON lines or CSV, chosen by the output's suffix."""

    def write(self, records: Sequence[Record]) -> None:
        """Append `records` and flush, so what was answered is on disk."""
        ...


class JsonLinesWriter:
    """One JSON record a line (`Record.to_line`)."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle

    def write(self, records: Sequence[Record]) -> None:
        """Append `records` as lines and flush."""
        self.handle.write("".join(record.to_line() for record in records))
        self.handle.flush()


class CsvWriter:
    """A header of `CSV_FIELDS`, then one row a record (`Record.to_csv_row`)."""

    def __init__(self, handle: TextIO) -> None:
        self.handle = handle
        self.rows = csv.writer(handle)
        self.rows.writerow(CSV_FIELDS)

    def write(self, records: Sequence[Record]) -> None:
        """Append `records` as rows and flush."""
        self.rows.writerows(record.to_csv_row() for record in records)
        self.handle.flush()


def check_output(path: Path, input_path: Path) -> None:
    """Refuse an output that would overwrite the input or whose format is unknown."""
    if path.suffix.lower() not in SUFFIXES:
        raise DataError(
            f"{path}: write .jsonl or .csv (or leave OUTPUT out for JSON lines on stdout)"
        )
    if path.exists() and path.resolve() == input_path.resolve():
        raise DataError(f"{path}: is the input file; name another output")


def make_writer(path: Path | None, handle: TextIO) -> RecordWriter:
    """The writer for `path`'s format (JSON lines without a path) over an open `handle`."""
    return CsvWriter(handle) if path and path.suffix.lower() == ".csv" else JsonLinesWriter(handle)
