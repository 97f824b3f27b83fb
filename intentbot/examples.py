"""The shapes every reader hands on: labelled utterances, their entity spans, and the data
errors that name the file and line where a problem was found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class DataError(ValueError):
    """Bad input data; the message names the file and line and says how to fix it."""


@dataclass(frozen=True)
class Entity:
    """One entity span: `text[start:end]` of its example is the surface text.

    `value` is the normalised value (None: the surface text itself); `role` and `group` tell
    apart entities of one type (Rasa's roles and groups), None where absent.
    """

    start: int
    end: int
    entity: str
    value: str | None = None
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Example:
    """One labelled utterance, its entity spans (sorted, non-empty, non-overlapping) and where
    it was read from (`file:line`)."""

    text: str
    intent: str
    source: str = ""
    entities: tuple[Entity, ...] = ()

    def __post_init__(self) -> None:
        # a list would make the example unhashable; accept any sequence, keep a tuple
        object.__setattr__(self, "entities", tuple(self.entities))
        check_spans(self.entities, len(self.text), self.source)

    def surface(self, entity: Entity) -> str:
        """The text an entity covers."""
        return self.text[entity.start : entity.end]


def check_spans(entities: Sequence[Entity], length: int, where: str) -> None:
    """Refuse spans outside a text of `length` characters, empty, unsorted or overlapping."""
    previous = None
    for entity in entities:
        if entity.start >= entity.end:
            raise DataError(
                f"{where}: entity {entity.entity!r} starts at {entity.start} but ends at "
                f"{entity.end}; the end offset is exclusive and must be above the start"
            )
        if entity.start < 0 or entity.end > length:
            raise DataError(
                f"{where}: entity {entity.entity!r} at {entity.start}..{entity.end} lies outside "
                f"the text (0..{length}); offsets count characters from 0"
            )
        if previous is not None and entity.start < previous.end:
            if entity.start < previous.start:
                raise DataError(f"{where}: entities are not sorted by start offset")
            raise DataError(
                f"{where}: entity {entity.entity!r} at {entity.start}..{entity.end} overlaps "
                f"{previous.entity!r} at {previous.start}..{previous.end}; keep one of them"
            )
        previous = entity


@dataclass
class TrainingData:
    """What one file (or BIO folder) holds: the examples and what describes their entities.

    `synonyms` maps lower-cased surface text to its value; `lookups` and `regexes` are Rasa's
    named lists and patterns, kept for entity features; `warnings` name file:line of every
    repair made while reading; `splits`, the file's own division of its examples by name, where
    it has one (CLINC150's `train`, `val`, `test`).
    """

    examples: list[Example]
    synonyms: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    splits: dict[str, list[Example]] = field(default_factory=dict)
