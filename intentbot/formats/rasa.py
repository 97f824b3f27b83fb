"""Rasa NLU training data (YAML): intents with entity markup, synonyms, lookups and regexes.

Markup in an example: `[New York](city)`, `[NYC](city:New York)` (a value) or
`[NYC]{"entity": "city", "value": "New York", "role": "to", "group": "1"}`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from intentbot.examples import DataError, Entity, Example, TrainingData
from intentbot.formats.base import Columns, make_example, read_text, training_data

BLOCKS = ("intent", "synonym", "lookup", "regex")
_KEYS = ("entity", "value", "role", "group")
_JSON = json.JSONDecoder()


def read_rasa_yaml(path: Path, columns: Columns) -> TrainingData:
    """`nlu:` blocks: `- intent: X` / `- synonym: V` / `- lookup: L` / `- regex: R`, each with
    `examples: |` lines starting with `- `."""
    nlu = _nlu_list(path)
    examples: list[Example] = []
    synonyms: list[tuple[str, str, str]] = []
    lists: dict[str, dict[str, list[str]]] = {"lookup": {}, "regex": {}}
    for block in nlu.value:
        kind, name = _block_kind(path, block)
        for item, where in _items(path, block, kind, name):
            if kind == "intent":
                text, entities = _markup(item, where)
                examples.append(make_example(text, name, where, entities))
            elif kind == "synonym":
                synonyms.append((" ".join(item.split()), name, where))
            else:
                if kind == "regex":
                    _check_regex(item, where)
                lists[kind].setdefault(name, []).append(item.strip())
    return training_data(examples, synonyms, lookups=lists["lookup"], regexes=lists["regex"])


def _nlu_list(path: Path) -> yaml.SequenceNode:
    try:
        document = yaml.compose(read_text(path))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise DataError(f"{path}:{line}: not valid YAML ({problem})") from None
    except RecursionError:
        raise DataError(f"{path}:1: YAML nested too deeply") from None
    nlu = _mapping_value(document, "nlu") if document is not None else None
    if not isinstance(nlu, yaml.SequenceNode):
        raise DataError(f"{path}:1: not Rasa NLU data; expected a top-level 'nlu:' list")
    return nlu


def _block_kind(path: Path, block: yaml.Node) -> tuple[str, str]:
    """Which of `BLOCKS` this `nlu:` entry is, and the name it gives."""
    where = f"{path}:{block.start_mark.line + 1}"
    for kind in BLOCKS:
        name = _mapping_value(block, kind)
        if name is None:
            continue
        if not isinstance(name, yaml.ScalarNode) or not name.value.strip():
            raise DataError(f"{where}: '{kind}:' needs a name, such as '- {kind}: greet'")
        return kind, name.value.strip()
    raise DataError(f"{where}: expected an entry starting with one of {', '.join(BLOCKS)}")


def _items(path: Path, block: yaml.Node, kind: str, name: str) -> list[tuple[str, str]]:
    """The `- ` lines of a block's `examples: |`, each with its `file:line`."""
    body = _mapping_value(block, "examples")
    if not isinstance(body, yaml.ScalarNode):
        where = f"{path}:{block.start_mark.line + 1}"
        raise DataError(f"{where}: {kind} {name!r} has no 'examples: |' block")
    first_line = body.start_mark.line + (1 if body.style in ("|", ">") else 0)
    items = []
    for offset, raw in enumerate(body.value.splitlines()):
        item = raw.strip()
        if not item:
            continue
        where = f"{path}:{first_line + offset + 1}"
        if not item.startswith("- "):
            raise DataError(f"{where}: expected an example line starting with '- '")
        items.append((item[2:], where))
    return items


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            return value_node
    return None


def _check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern.strip())
    except (re.error, OverflowError, RecursionError) as error:
        raise DataError(f"{where}: not a valid regular expression ({error})") from None


def _markup(item: str, where: str) -> tuple[str, list[Entity]]:
    """The plain text of an example and its entities, with offsets into that text."""
    pieces: list[str] = []
    entities: list[Entity] = []
    length = at = 0  # characters of plain text so far; where in `item` reading resumes
    while True:
        opening, stray = item.find("[", at), item.find("]", at)
        if stray != -1 and (opening == -1 or stray < opening):
            raise DataError(f"{where}: ']' with no '[' before it in {_quote(item[at : stray + 1])}")
        if opening == -1:
            pieces.append(item[at:])
            return "".join(pieces), entities
        pieces.append(item[at:opening])
        length += opening - at
        closing = item.find("]", opening + 1)
        if closing == -1:
            raise DataError(
                f"{where}: '[' never closed in {_quote(item[opening:])}; write [text](type)"
            )
        surface = item[opening + 1 : closing]
        if "[" in surface:
            raise DataError(
                f"{where}: entity markup inside markup in {_quote(item[opening : closing + 1])}; "
                "entities may not nest or overlap"
            )
        if not surface.strip():
            raise DataError(
                f"{where}: entity markup with no text in {_quote(item[opening : closing + 1])}; "
                "put the words inside the brackets"
            )
        fields, at = _annotation(item, closing + 1, where)
        entities.append(Entity(length, length + len(surface), **fields))
        pieces.append(surface)
        length += len(surface)


def _annotation(item: str, at: int, where: str) -> tuple[dict[str, str | None], int]:
    """The `(type)`, `(type:value)` or `{"entity": ...}` after `[text]` at `item[at]`: its
    fields and where the text resumes after it."""
    marker = item[at : at + 1]
    if marker == "(":
        closing = item.find(")", at)
        body = item[at + 1 : closing]
        if closing == -1 or "[" in body or "(" in body:
            raise DataError(f"{where}: '(' never closed in {_quote(item[at:])}; write [text](type)")
        name, _, value = body.partition(":")
        if not name.strip():
            raise DataError(f"{where}: no entity type in {_quote(item[at : closing + 1])}")
        return {"entity": name.strip(), "value": value.strip() or None}, closing + 1
    if marker == "{":
        return _json_annotation(item, at, where)
    raise DataError(
        f"{where}: {_quote(item[item.rfind('[', 0, at) : at])} is not followed by (type) or "
        '{"entity": ...}; add the entity type, or drop the brackets'
    )


def _json_annotation(item: str, at: int, where: str) -> tuple[dict[str, str | None], int]:
    try:
        fields, end = _JSON.raw_decode(item, at)
    except json.JSONDecodeError as error:
        if "}" not in item[at:]:
            raise DataError(f"{where}: '{{' never closed in {_quote(item[at:])}") from None
        raise DataError(
            f"{where}: entity annotation {_quote(item[at:])} is not valid JSON ({error.msg}); "
            'write {"entity": "type", "value": "..."}'
        ) from None
    except RecursionError:
        raise DataError(f"{where}: entity annotation nested too deeply") from None
    name = fields.get("entity")
    if not isinstance(name, str) or not name.strip():
        raise DataError(f'{where}: entity annotation {_quote(item[at:end])} lacks "entity": "type"')
    unknown = sorted(set(fields) - set(_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown keys {unknown} in entity annotation; use {_KEYS}")
    if any(fields.get(key) is not None and not isinstance(fields[key], str) for key in _KEYS):
        raise DataError(
            f"{where}: entity annotation {_quote(item[at:end])} holds a non-string value"
        )
    return {key: fields.get(key) for key in _KEYS} | {"entity": name.strip()}, end


def _quote(fragment: str, limit: int = 60) -> str:
    """A fragment of an example for an error message, cut short if long."""
    return repr(fragment if len(fragment) <= limit else fragment[:limit] + "...")
