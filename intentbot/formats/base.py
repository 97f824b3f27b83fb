"""What every reader shares: its options, the file's text, and building checked examples and
the `TrainingData` that carries them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from intentbot.examples import DataError, Entity, Example, TrainingData, check_spans
from intentbot.whitespace import collapse, trim


@dataclass(frozen=True)
class Columns:
    """Which table columns hold the text and the label (None: found by name in the header);
    the other formats name their fields themselves."""

    text: str | None = None
    label: str | None = None


Reader = Callable[[Path, Columns], TrainingData]


def read_text(path: Path) -> str:
    """The file as text, or a DataError naming the line of the first byte that is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 text (save the file as UTF-8)") from None


def make_example(
    text: object, intent: object, where: str, entities: Sequence[Entity] = ()
) -> Example:
    """A checked example with whitespace collapsed; `entities` give offsets into the raw `text`
    and come out trimmed of edge spaces, sorted, and moved onto the collapsed text."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty text; every example needs an utterance")
    if not isinstance(intent, str) or not intent.strip():
        raise DataError(f"{where}: no intent label for {text.strip()!r}")
    check_spans(sorted(entities, key=lambda entity: entity.start), len(text), where)
    trimmed = []
    for entity in entities:
        start, end = trim(text, entity.start, entity.end)
        if start == end:
            raise DataError(
                f"{where}: entity {entity.entity!r} at {entity.start}..{entity.end} covers only "
                f"whitespace ({text[entity.start : entity.end]!r}); mark the words it names"
            )
        trimmed.append(replace(entity, start=start, end=end))
    trimmed.sort(key=lambda entity: entity.start)
    collapsed, spans = collapse(text, [(entity.start, entity.end) for entity in trimmed])
    moved = []
    for entity, (start, end) in zip(trimmed, spans, strict=True):
        value = None if entity.value == collapsed[start:end] else entity.value
        moved.append(replace(entity, start=start, end=end, value=value))
    return Example(collapsed, intent.strip(), where, tuple(moved))


def training_data(
    examples: list[Example],
    synonyms: Iterable[tuple[str, str, str]] = (),
    warnings: Iterable[str] = (),
    lookups: dict[str, list[str]] | None = None,
    regexes: dict[str, list[str]] | None = None,
) -> TrainingData:
    """Bundle a reader's results; `synonyms` are `(surface, value, where)` written as such, to
    which every entity whose value differs from its text adds its own.

    A surface given two different values keeps the first and warns, naming both places.
    """
    marked = (
        (example.surface(entity), entity.value, example.source)
        for example in examples
        for entity in example.entities
        if entity.value is not None
    )
    table: dict[str, str] = {}
    first_seen: dict[str, str] = {}
    notes = list(warnings)
    for surface, value, where in (*synonyms, *marked):
        key = surface.lower()
        known = table.setdefault(key, value)
        first_seen.setdefault(key, where)
        if known != value:
            notes.append(
                f"{where}: {surface!r} means {value!r} here but {known!r} at {first_seen[key]}; "
                f"{known!r} is kept"
            )
    return TrainingData(examples, table, notes, lookups or {}, regexes or {})
