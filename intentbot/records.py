"""One record per answered utterance: what the service collects (INTENTBOT_COLLECT), what the
chat's `--save` writes and what bulk classification outputs, so review reads any of them.

A record is a JSON line (or a CSV row whose cells hold each field's JSON, strings as they are):

    {"time": "2025-05-01T14:05:09.123+02:00", "text": "What time is it?", "intent": "time",
     "confidence": 0.97, "out_of_scope": false,
     "ranking": [{"intent": "time", "confidence": 0.97}, {"intent": "date", "confidence": 0.01}],
     "entities": [], "model": "intentbot:abc123"}

plus `label` (bulk classification of labelled input) and `reply` (the chat) where they apply.
Imports neither torch nor BentoML: the HTTP chat and the service both write records.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from intentbot.examples import DataError

# Column order of CSV output (and key order of a JSON line).
FIELDS = (
    "time",
    "text",
    "label",
    "intent",
    "confidence",
    "out_of_scope",
    "ranking",
    "entities",
    "model",
    "reply",
)
CSV_FIELDS = tuple(name for name in FIELDS if name != "reply")  # bulk output has no replies
# intents in a ranking unless a caller asks for another number: the HTTP contract's default,
# which bulk output and the chat's records follow
DEFAULT_TOP_K = 5
OPTIONAL = ("label", "reply", "model", "time")


class Scored(Protocol):
    """One row of a ranking, whichever class carries it (the predictor's or the service's)."""

    intent: str
    confidence: float


class PredictionLike(Protocol):
    """What a record is made from: a `Prediction` or the service's `Classification`."""

    text: str
    intent: str
    confidence: float
    out_of_scope: bool
    ranking: Sequence[Scored]
    entities: Sequence[Any]  # dataclasses (Prediction) or pydantic models (Classification)


@dataclass(frozen=True)
class Record:
    """One answered utterance. `ranking` is (intent, confidence), most likely first, as the
    model saw it before the out-of-scope decision."""

    text: str
    intent: str
    confidence: float
    out_of_scope: bool
    ranking: tuple[tuple[str, float], ...]
    entities: tuple[dict[str, Any], ...] = ()
    model: str | None = None
    time: str | None = None
    label: str | None = None
    reply: str | None = None
    source: str = field(default="", compare=False)  # file:line it was read from

    @classmethod
    def of(
        cls,
        answer: PredictionLike,
        *,
        model: str | None = None,
        time: str | None = None,
        label: str | None = None,
        reply: str | None = None,
    ) -> Record:
        """The record of one answer, stamped `time` (default: now)."""
        return cls(
            text=answer.text,
            intent=answer.intent,
            confidence=float(answer.confidence),
            out_of_scope=bool(answer.out_of_scope),
            ranking=tuple((item.intent, float(item.confidence)) for item in answer.ranking),
            entities=tuple(entities_of(answer)),
            model=model,
            time=time or now(),
            label=label,
            reply=reply,
        )

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 confidence: how far the model was from choosing otherwise."""
        if len(self.ranking) < 2:
            return self.ranking[0][1] if self.ranking else 0.0
        return self.ranking[0][1] - self.ranking[1][1]

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, in `FIELDS` order; `label`, `reply`, `model` and `time` only when
        set."""
        values = {
            "time": self.time,
            "text": self.text,
            "label": self.label,
            "intent": self.intent,
            "confidence": self.confidence,
            "out_of_scope": self.out_of_scope,
            "ranking": [{"intent": name, "confidence": score} for name, score in self.ranking],
            "entities": list(self.entities),
            "model": self.model,
            "reply": self.reply,
        }
        return {
            key: value for key, value in values.items() if not (key in OPTIONAL and value is None)
        }

    def to_line(self) -> str:
        """One JSON line, newline included."""
        return json.dumps(self.to_dict(), ensure_ascii=False) + "\n"

    def to_csv_row(self) -> list[str]:
        """`CSV_FIELDS` cells: strings as they are, anything else as its JSON."""
        values = self.to_dict()
        return [_cell(values.get(name)) for name in CSV_FIELDS]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str) -> Record:
        """Check and read one record; a DataError names `where` (file:line) and the field."""
        text, intent = values.get("text"), values.get("intent")
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: no 'text'; expected a record such as {_SHAPE}")
        if not isinstance(intent, str):
            raise DataError(f"{where}: no 'intent'; is this an answered record? ({_SHAPE})")
        confidence = values.get("confidence")
        if not _is_probability(confidence):
            raise DataError(f"{where}: 'confidence' must be a number from 0 to 1")
        ranking = values.get("ranking", [])
        if not isinstance(ranking, list) or not all(
            isinstance(item, dict)
            and isinstance(item.get("intent"), str)
            and _is_probability(item.get("confidence"))
            for item in ranking
        ):
            raise DataError(
                f'{where}: \'ranking\' must be a list of {{"intent": ..., "confidence": ...}}'
            )
        entities = values.get("entities") or []
        if not isinstance(entities, list) or not all(isinstance(item, dict) for item in entities):
            raise DataError(f"{where}: 'entities' must be a list of objects")
        optional = {key: values.get(key) for key in OPTIONAL}
        for key, value in optional.items():
            if value is not None and not isinstance(value, str):
                raise DataError(f"{where}: {key!r} must be a string")
        return cls(
            text=text,
            intent=intent,
            confidence=float(confidence),
            out_of_scope=bool(values.get("out_of_scope", False)),
            ranking=tuple((item["intent"], float(item["confidence"])) for item in ranking),
            entities=tuple(entities),
            source=where,
            **optional,
        )


_STRINGS = ("text", "intent", *OPTIONAL)  # CSV cells read as they are, the others as JSON
_SHAPE = '{"text": ..., "intent": ..., "confidence": ..., "ranking": [...]}'


def entities_of(answer: PredictionLike) -> list[dict[str, Any]]:
    """The answer's entities (a `Prediction`'s dataclasses or a `Classification`'s models) as
    plain dicts; unset optional keys (`role`, `group`) left out."""
    found = []
    for entity in answer.entities:
        values = asdict(entity) if is_dataclass(entity) else dict(entity)
        found.append({key: value for key, value in values.items() if value is not None})
    return found


def now() -> str:
    """Local time with its offset, to the millisecond: what a record's `time` holds."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def read_records(path: str | Path) -> Iterator[Record]:
    """The records of a JSON-lines file, or of a CSV file (by suffix), one at a time; a line
    that is not a record is a DataError naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(encoding="utf-8", newline="" if _is_csv(path) else "\n") as handle:
        yield from _csv_records(path, handle) if _is_csv(path) else _json_records(path, handle)


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def json_objects(path: Path, lines: Iterable[str]) -> Iterator[tuple[str, dict | str]]:
    """(`file:line`, its JSON object, or why the line is not one) for each non-blank line."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            yield f"{path}:{number}", f"not valid JSON ({getattr(error, 'msg', error)})"
            continue
        yield f"{path}:{number}", values if isinstance(values, dict) else "not a JSON object"


def _json_records(path: Path, lines: Iterator[str]) -> Iterator[Record]:
    for where, values in json_objects(path, lines):
        if isinstance(values, str):
            raise DataError(f"{where}: {values}; expected a record such as {_SHAPE}")
        yield Record.from_dict(values, where)


def _csv_records(path: Path, lines: Iterator[str]) -> Iterator[Record]:
    rows = csv.reader(lines)
    header = next(rows, None)
    if header is None or "text" not in header:
        raise DataError(f"{path}:1: not a record table; expected the header {','.join(CSV_FIELDS)}")
    for row in rows:
        where = f"{path}:{rows.line_num}"
        if len(row) != len(header):
            raise DataError(f"{where}: {len(row)} fields where the header has {len(header)}")
        values = {
            name: (cell or None) if name in _STRINGS else _parse(cell, where)
            for name, cell in zip(header, row, strict=True)
        }
        yield Record.from_dict(values, where)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parse(cell: str, where: str) -> Any:
    if not cell:
        return None
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        raise DataError(f"{where}: cell {cell[:40]!r} is not JSON") from None


def _is_probability(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0 + 1e-6  # float32 softmax may overshoot 1 by a rounding step
    )
