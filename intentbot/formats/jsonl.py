"""JSON Lines: one `{"text", "intent", "entities"?}` object a line; entity offsets count
characters of `text` (Python string indices), the end exclusive."""

from __future__ import annotations

import json
from pathlib import Path

from intentbot.examples import DataError, Entity, TrainingData
from intentbot.formats.base import Columns, make_example, read_text, training_data

_SHAPE = '{"text": ..., "intent": ..., "entities": [{"start", "end", "entity", "value"?}]}'
_OPTIONAL = ("value", "role", "group")


def read_jsonl(path: Path, columns: Columns) -> TrainingData:
    """Every non-blank line an example; entities are optional."""
    examples = []
    # JSON Lines end at "\n" only: U+2028 and friends may sit raw inside a JSON string
    for line, raw in enumerate(read_text(path).split("\n"), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{line}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            problem = f"{where}: not a JSON object ({error.msg}); expected {_SHAPE}"
            raise DataError(problem) from None
        except RecursionError:
            raise DataError(f"{where}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected an object {_SHAPE}")
        text = record.get("text")
        entities = [_entity(item, text, where) for item in _entity_list(record, where)]
        examples.append(make_example(text, record.get("intent"), where, entities))
    return training_data(examples)


def _entity_list(record: dict, where: str) -> list:
    entities = record.get("entities", [])
    if not isinstance(entities, list):
        raise DataError(f"{where}: 'entities' must be a list of objects; expected {_SHAPE}")
    return entities


def _entity(item: object, text: object, where: str) -> Entity:
    """One entity object; other keys (Rasa's `extractor`, `confidence`) are ignored, but a
    `text` key must match what the offsets cover (UTF-16 or byte offsets would not)."""
    if not isinstance(item, dict):
        raise DataError(f'{where}: each entity must be an object {{"start", "end", "entity"}}')
    name = item.get("entity")
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{where}: an entity has no 'entity' type name; give it one")
    offsets = item.get("start"), item.get("end")
    # bool is an int subclass; true/false as an offset is a mistake, not 1/0
    if not all(isinstance(offset, int) and not isinstance(offset, bool) for offset in offsets):
        raise DataError(
            f"{where}: entity {name!r} needs integer 'start' and 'end' offsets, got "
            f"start={offsets[0]!r}, end={offsets[1]!r}"
        )
    for key in _OPTIONAL:
        if item.get(key) is not None and not isinstance(item[key], str):
            raise DataError(f"{where}: entity {name!r} has a {key!r} that is not a string")
    start, end = offsets
    said = item.get("text")
    # out-of-range offsets are refused later, with the other span checks
    covered = text[start:end] if isinstance(text, str) and 0 <= start < end <= len(text) else None
    if isinstance(said, str) and covered is not None and said.split() != covered.split():
        raise DataError(
            f"{where}: entity {name!r} says its text is {said!r} but {start}..{end} covers "
            f"{covered!r}; offsets count characters (code points) of 'text'"
        )
    return Entity(start, end, name.strip(), *(item.get(key) for key in _OPTIONAL))
