"""Utterances to classify, streamed from a CSV/TSV table, JSON lines or plain text, a row at a
time with its file:line, so a file of any length never sits in memory.

Tables find their text and (optional) label columns as training data does
(`intentbot.formats.table`); JSON lines take `text` and, where present, `intent` as the label;
any other file is plain text, one utterance a line. Blank lines are no rows. A row that cannot
be read comes out as a `BadRow` naming where it is and why, for the caller to report.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from intentbot.examples import DataError
from intentbot.formats.base import Columns
from intentbot.formats.table import LABEL_COLUMNS, TEXT_COLUMNS, find_column, pick_column
from intentbot.records import json_objects

DELIMITERS = {".csv": ",", ".tsv": "\t"}
# bytes that are not UTF-8, as `surrogateescape` decodes them: the row is reported, not guessed
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Row:
    """One utterance; `label` is its intent where the input is labelled."""

    text: str
    label: str | None
    where: str


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read, and why."""

    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


class InputFile:
    """One input file, read lazily: iterate it for its rows; `position` tells how far the
    reading got (bytes, for a progress bar)."""

    def __init__(self, path: str | Path, columns: Columns | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists() or self.path.is_dir():  # a pipe (/dev/stdin) is welcome
            raise DataError(f"{self.path}: no such file")
        self.columns = columns or Columns()
        self.size = self.path.stat().st_size  # 0 for a pipe: the bar then has no end
        self._handle: TextIO | None = None

    def position(self) -> int:
        """Bytes read so far (the reader reads ahead a few kilobytes); 0 for a pipe."""
        if self._handle is None or self._handle.closed:
            return 0
        try:
            return self._handle.buffer.tell()
        except OSError:  # a pipe has no position
            return 0

    def __iter__(self) -> Iterator[Row | BadRow]:
        delimiter = DELIMITERS.get(self.path.suffix.lower())
        newline = "" if delimiter else "\n"  # JSON lines and text end at "\n" only
        with self.path.open(
            encoding="utf-8-sig", errors="surrogateescape", newline=newline
        ) as handle:
            self._handle = handle
            if delimiter:
                yield from self._table(handle, delimiter)
            elif self.path.suffix.lower() == ".jsonl":
                yield from self._json_lines(handle)
            else:
                yield from self._text_lines(handle)

    def _table(self, handle: TextIO, delimiter: str) -> Iterator[Row | BadRow]:
        rows = csv.reader(handle, delimiter=delimiter)
        header = next(rows, None)
        if not header:
            raise DataError(f"{self.path}:1: empty file; expected a header such as 'text'")
        text_at, label_at = table_columns(header, self.columns, f"{self.path}:1")
        while True:
            where = f"{self.path}:{rows.line_num + 1}"  # where the next row starts
            try:
                row = next(rows, None)
            except csv.Error as error:  # an over-long field, a NUL byte
                yield BadRow(where, f"unreadable row ({error})")
                continue
            if row is None:
                return
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield BadRow(where, f"{len(row)} fields where the header has {len(header)}")
                continue
            yield check_row(row[text_at], None if label_at is None else row[label_at], where)

    def _json_lines(self, handle: TextIO) -> Iterator[Row | BadRow]:
        for where, values in json_objects(self.path, handle):
            if isinstance(values, str):
                yield BadRow(where, f'{values}; expected an object such as {{"text": ...}}')
                continue
            text, label = values.get("text"), values.get("intent")
            if not isinstance(text, str):
                yield BadRow(where, 'no "text" string; expected {"text": ..., "intent"?: ...}')
                continue
            yield check_row(
                text, label if isinstance(label, str) and label.strip() else None, where
            )

    def _text_lines(self, handle: TextIO) -> Iterator[Row | BadRow]:
        for number, line in enumerate(handle, start=1):
            text = line.removesuffix("\n").removesuffix("\r")
            if text.strip():
                yield check_row(text, None, f"{self.path}:{number}")


def table_columns(header: list[str], columns: Columns, where: str) -> tuple[int, int | None]:
    """Where a table's text and (optional) label are: named by `columns`, else found by name as
    training data finds them; `where` (file:line of the header) names a missing column."""
    text_at = pick_column(header, columns.text, TEXT_COLUMNS, "text", where, "--{what}-column")
    label_at = (
        find_column(header, LABEL_COLUMNS)
        if columns.label is None
        else pick_column(header, columns.label, (), "label", where)
    )
    return text_at, label_at


def check_row(text: str, label: str | None, where: str) -> Row | BadRow:
    """A readable row, or why it is a bad one (no text, bytes that are not UTF-8)."""
    if not text.strip():
        return BadRow(where, "empty text")
    if _NOT_UTF8.search(text) or (label and _NOT_UTF8.search(label)):
        return BadRow(where, "not valid UTF-8 (save the file as UTF-8)")
    return Row(text, label.strip() if label and label.strip() else None, where)
