"""Keep what the service answered, for review (`INTENTBOT_COLLECT=traffic.jsonl`; off unless
set): one record per text (`intentbot.records`, the chat's and bulk classification's format),
appended as JSON lines, the file rotated by size.

Not `bentoml.monitor`: BentoML 1.4's inference-data collection writes its own log format (one
JSON object of named scalar columns per request, typed numerical or categorical, plus
`request_id` and `trace_id`) under `monitoring/<name>/data/data.<worker>.log`, rotated daily
rather than by size; a ranking fits none of its column types, and review, the chat transcript
and bulk classification would need a second reader for it.

Each forward pass appends its records with one `write`: the lines reach the operating system
before the answers leave, so a killed worker loses none (a machine that loses power may lose
the last seconds: there is no fsync per request). Workers of one server share the file: an
advisory lock (`<file>.lock`) orders their writes and the rotation, and a worker whose file was
rotated away by another reopens the path before it writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from intentbot.records import Record, now

if TYPE_CHECKING:
    from intentbot.predictor import Prediction

logger = logging.getLogger("intentbot")


class Collector:
    """Appends records to `path`; past `max_bytes` (0: never) the file is renamed to the next
    free `<stem>.<n><suffix>` (`traffic.1.jsonl`, `traffic.2.jsonl`, ...; the highest number is
    the newest) and a new one begun. Rotated files are kept."""

    def __init__(self, path: str | Path, max_bytes: int, model: str | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.model = model
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(self.path.with_name(self.path.name + ".lock"), os.O_CREAT | os.O_RDWR)
        self._fd: int | None = None
        self._lost = 0  # records not written since the last failure was logged

    def add(self, predictions: Sequence[Prediction]) -> None:
        """Append one record per prediction. A failed write (disk full) is logged and the
        service goes on answering; the log says how many records were lost."""
        stamp = now()
        data = "".join(
            Record.of(prediction, model=self.model, time=stamp).to_line()
            for prediction in predictions
        ).encode("utf-8")
        try:
            self._append(data)
        except OSError as error:
            if not self._lost:
                logger.warning("collecting into %s failed (%s); records are lost", self.path, error)
            self._lost += len(predictions)
            return
        if self._lost:
            logger.warning("collecting into %s again; %d records were lost", self.path, self._lost)
            self._lost = 0

    def close(self) -> None:
        """Release the files (every record is already written)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        os.close(self._lock)

    def _append(self, data: bytes) -> None:
        with self._locked():
            fd = self._current()
            size = os.fstat(fd).st_size
            if self.max_bytes and size and size + len(data) > self.max_bytes:
                os.rename(self.path, next_rotated(self.path))
                fd = self._current()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _current(self) -> int:
        """The open file at `path`, reopened when another worker rotated it away."""
        if self._fd is not None:
            try:
                same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return self._fd
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd


def rotated_files(path: Path) -> list[Path]:
    """The files rotated away from `path`, oldest first."""
    return [candidate for _, candidate in _numbered(path)]


def next_rotated(path: Path) -> Path:
    """The name the full file at `path` is renamed to: one above the highest number in use."""
    taken = _numbered(path)
    number = taken[-1][0] + 1 if taken else 1
    return path.with_name(f"{path.stem}.{number}{path.suffix}")


def _numbered(path: Path) -> list[tuple[int, Path]]:
    pattern = re.compile(rf"{re.escape(path.stem)}\.(\d+){re.escape(path.suffix)}")
    found = []
    for candidate in path.parent.glob(f"{path.stem}.*{path.suffix}"):
        match = pattern.fullmatch(candidate.name)
        if match:
            found.append((int(match.group(1)), candidate))
    return sorted(found)
