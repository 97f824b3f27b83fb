"""Rows in, records out, a chunk at a time: memory stays at one chunk whatever the input's
length, and each chunk is written (and flushed) before the next is read."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from intentbot.bulk.inputs import BadRow, Row
from intentbot.bulk.outputs import RecordWriter
from intentbot.examples import DataError
from intentbot.predictor import Predictor
from intentbot.records import DEFAULT_TOP_K, Record, now

# Rows per predict() call: the predictor sorts each call's texts by length, so a chunk several
# batches long pads less than batches taken in file order.
CHUNK_SIZE = 1024
ON_ERROR = ("skip", "stop")


@dataclass
class Counts:
    """Rows read so far: each was answered or skipped as bad."""

    read: int = 0
    answered: int = 0
    skipped: int = 0


class BadRowStop(DataError):
    """`--on-error stop` met a bad row."""


def classify_rows(
    predictor: Predictor,
    rows: Iterable[Row | BadRow],
    writer: RecordWriter,
    *,
    model: str | None = None,
    on_error: str = "skip",
    chunk_size: int = CHUNK_SIZE,
    top_k: int = DEFAULT_TOP_K,
    counts: Counts | None = None,
    on_bad_row: Callable[[BadRow], None] = lambda row: None,
    on_chunk: Callable[[Counts], None] = lambda counts: None,
) -> Counts:
    """Answer every row, `chunk_size` at a time; a bad row goes to `on_bad_row` and is skipped,
    or with `on_error="stop"` ends the run (a `BadRowStop`) once the rows before it are
    written. `counts` (filled as it goes, and returned) is the caller's to read even when the
    run ends early."""
    check_on_error(on_error)
    counts = Counts() if counts is None else counts
    chunk: list[Row] = []

    def flush() -> None:
        writer.write(answer_rows(predictor, chunk, model=model, top_k=top_k))
        counts.answered += len(chunk)
        chunk.clear()
        on_chunk(counts)

    for row in rows:
        counts.read += 1
        if isinstance(row, BadRow):
            if on_error == "stop" and chunk:
                flush()
            skip_or_stop(row, on_error, counts, on_bad_row)
            continue
        chunk.append(row)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return counts


def answer_rows(
    predictor: Predictor, rows: Sequence[Row], *, model: str | None, top_k: int = DEFAULT_TOP_K
) -> list[Record]:
    """The records of `rows`, answered together (in one process or a Ray actor)."""
    predictions = predictor.predict([row.text for row in rows], top_k=top_k)
    stamp = now()  # one time per chunk: its rows were answered together
    return [
        Record.of(prediction, model=model, time=stamp, label=row.label)
        for row, prediction in zip(rows, predictions, strict=True)
    ]


def check_on_error(on_error: str) -> None:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}: use one of {ON_ERROR}")


def skip_or_stop(
    row: BadRow, on_error: str, counts: Counts, on_bad_row: Callable[[BadRow], None]
) -> None:
    """Count and report a bad row, or under `on_error="stop"` end the run with it (the caller
    has written the rows before it)."""
    if on_error == "stop":
        raise BadRowStop(f"{row} (--on-error skip reports such rows and goes on)")
    counts.skipped += 1
    on_bad_row(row)
