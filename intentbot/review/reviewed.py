"""The reviewed utterances: a training-data JSON-lines file (`{"text", "intent", "source",
"time"}`, what `data.extra=[...]` reads), written so that it is valid at every instant.

Each decision is one appended line, flushed and fsync'd before the next utterance is shown, so
Ctrl-C, a crash or a kill loses nothing. Undo truncates the file back to where that line began
(one system call, also fsync'd): no retraction lines, nothing a reader must understand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from intentbot.corpus import normalised, read_examples
from intentbot.examples import DataError
from intentbot.records import now

SOURCE = "review"


class ReviewedFile:
    """The reviewed utterances' file, opened for appending; `reviewed` holds the keys
    (`normalised` texts) of every utterance it already labels, from earlier runs too."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".jsonl":
            raise DataError(
                f"{self.path}: decisions are training data in JSON lines; name a .jsonl file"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired = self._drop_partial_line()
        self.reviewed = {normalised(example.text) for example in read_examples(self.path)}
        self._file = self.path.open("ab")
        self._starts: list[int] = []  # where each line of this session began, for undo

    def add(self, text: str, intent: str) -> None:
        """Append one decision and make it durable before returning."""
        line = {"text": text, "intent": intent, "source": SOURCE, "time": now()}
        self._starts.append(self._file.seek(0, os.SEEK_END))
        self._file.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))
        self._sync()
        self.reviewed.add(normalised(text))

    def undo(self, text: str) -> None:
        """Take back this session's last decision (about `text`)."""
        self._file.truncate(self._starts.pop())
        self._sync()
        self.reviewed.discard(normalised(text))

    def close(self) -> None:
        """Close the output; every decision is already on disk."""
        self._file.close()

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def _drop_partial_line(self) -> bool:
        """A line cut short (the machine died mid-write) is removed, so that the file reads as
        training data again; True if there was one."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            self.path.touch()
            return False
        with self.path.open("rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return False
            handle.truncate(data.rfind(b"\n") + 1)
        return True
