"""Read labelled utterances from CSV/TSV, JSONL, Rasa NLU YAML and CLINC150 JSON.

Every reader returns `Example`s that remember where they came from, so any problem found
later (a conflicting duplicate, a label too rare to split) can name the file and line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import yaml

TEXT_COLUMNS = ("text", "utterance", "sentence", "query")
LABEL_COLUMNS = ("intent", "label", "category")
CLINC150_VARIANTS = ("full", "small", "imbalanced", "oos_plus")


class DataError(ValueError):
    """Bad input data; the message names the file and line and says how to fix it."""


@dataclass(frozen=True)
class Example:
    """One labelled utterance and where it was read from (`file:line`)."""

    text: str
    intent: str
    source: str = ""


def read_examples(
    path: str | Path, text_column: str | None = None, label_column: str | None = None
) -> list[Example]:
    """Read a labelled file, choosing the reader by its extension (`READERS`)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported extension {path.suffix.lower()!r}; use one of "
            f"{', '.join(READERS)} (CLINC150 .json files go through data=clinc150)"
        )
    return reader(path, Columns(text_column, label_column))


@dataclass(frozen=True)
class Columns:
    """Which table columns hold the text and the label (None: found by name in the header);
    JSONL and Rasa YAML name their fields themselves."""

    text: str | None = None
    label: str | None = None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 text (save the file as UTF-8)") from None


def _make_example(text: object, intent: object, where: str) -> Example:
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty text; every example needs an utterance")
    if not isinstance(intent, str) or not intent.strip():
        raise DataError(f"{where}: no intent label for {text.strip()!r}")
    return Example(" ".join(text.split()), intent.strip(), where)


def _pick_column(
    header: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, where: str
) -> int:
    lowered = [name.strip().lower() for name in header]
    if wanted is not None:
        if wanted.lower() not in lowered:
            raise DataError(f"{where}: no {what} column named {wanted!r}; the header has {header}")
        return lowered.index(wanted.lower())
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    raise DataError(
        f"{where}: cannot find the {what} column in header {header}; name it one of "
        f"{list(candidates)} or set data.{what}_column=NAME"
    )


def _read_table(path: Path, columns: Columns, delimiter: str) -> list[Example]:
    # newline="" lets the csv module keep line breaks inside quoted cells (and U+2028 & co.
    # inside an utterance are text, not row ends)
    rows = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=delimiter)
    examples, header = [], None
    while True:
        line = rows.line_num + 1  # where the next row starts
        try:
            row = next(rows, None)
        except csv.Error as error:  # an over-long field, a NUL byte, a broken quote
            raise DataError(f"{path}:{line}: unreadable row ({error})") from None
        if row is None:
            break
        if header is None:
            header = row
            if not header:
                break
            text_at = _pick_column(header, columns.text, TEXT_COLUMNS, "text", f"{path}:1")
            label_at = _pick_column(header, columns.label, LABEL_COLUMNS, "label", f"{path}:1")
            continue
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{line}"
        if len(row) != len(header):
            raise DataError(f"{where}: {len(row)} fields where the header has {len(header)}")
        examples.append(_make_example(row[text_at], row[label_at], where))
    if not header:
        raise DataError(f"{path}:1: empty file; expected a header such as 'text{delimiter}intent'")
    return examples


def _read_jsonl(path: Path, columns: Columns) -> list[Example]:
    examples = []
    # JSON Lines end at "\n" only: U+2028 and friends may sit raw inside a JSON string
    for line, raw in enumerate(_read_text(path).split("\n"), start=1):
        if not raw.strip():
            continue
        where = f"{path}:{line}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(
                f'{where}: not a JSON object ({error.msg}); expected {{"text": ..., "intent": ...}}'
            ) from None
        except RecursionError:
            raise DataError(f"{where}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise DataError(f'{where}: expected an object {{"text": ..., "intent": ...}}')
        examples.append(_make_example(record.get("text"), record.get("intent"), where))
    return examples


_RASA_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def _read_rasa_yaml(path: Path, columns: Columns) -> list[Example]:
    """Rasa NLU training data: `nlu: [{intent: X, examples: "- text\\n- text"}]`."""
    text = _read_text(path)
    try:
        document = yaml.compose(text)
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
    examples = []
    for block in nlu.value:
        intent = _mapping_value(block, "intent")
        if intent is None:
            continue  # synonyms, regexes and lookups carry no training utterances
        body = _mapping_value(block, "examples")
        where = f"{path}:{block.start_mark.line + 1}"
        if not isinstance(body, yaml.ScalarNode):
            raise DataError(f"{where}: intent {intent.value!r} has no 'examples: |' block")
        first_line = body.start_mark.line + (1 if body.style in ("|", ">") else 0)
        for offset, raw in enumerate(body.value.splitlines()):
            item = raw.strip()
            if not item:
                continue
            where = f"{path}:{first_line + offset + 1}"
            if not item.startswith("- "):
                raise DataError(f"{where}: expected an example line starting with '- '")
            utterance = _RASA_ENTITY.sub(r"\1", item[2:])
            examples.append(_make_example(utterance, intent.value, where))
    return examples


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if key_node.value == key:
            return value_node
    return None


# One entry per file format: a new format is a reader function and a line here.
READERS: dict[str, Callable[[Path, Columns], list[Example]]] = {
    ".csv": partial(_read_table, delimiter=","),
    ".tsv": partial(_read_table, delimiter="\t"),
    ".jsonl": _read_jsonl,
    ".yml": _read_rasa_yaml,
    ".yaml": _read_rasa_yaml,
}


def read_clinc150(path: str | Path, variant: str = "full") -> dict[str, list[Example]]:
    """The official CLINC150 JSON; out-of-scope utterances keep their label `oos`.

    `path` is a data_*.json file or the folder holding them (then `variant` picks the file).
    """
    path = Path(path)
    if variant not in CLINC150_VARIANTS:
        raise DataError(f"unknown CLINC150 variant {variant!r}; use one of {CLINC150_VARIANTS}")
    if path.is_dir():
        path = path / f"data_{variant}.json"
    if not path.is_file():
        raise DataError(f"{path}: no such file; set data.path to CLINC150's data_{variant}.json")
    try:
        document = json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    splits = {}
    for split in ("train", "val", "test"):
        pairs = [*document.get(split, []), *document.get(f"oos_{split}", [])]
        if not pairs:
            raise DataError(f"{path}: no '{split}' key; this is not a CLINC150 data file")
        splits[split] = [
            _make_example(*_pair(pair, f"{path}: {split}[{index}]"), f"{path}: {split}[{index}]")
            for index, pair in enumerate(pairs)
        ]
    return splits


def _pair(pair: object, where: str) -> tuple[object, object]:
    if not (isinstance(pair, list) and len(pair) == 2):
        raise DataError(f"{where}: expected [text, intent]")
    return pair[0], pair[1]


def normalised(text: str) -> str:
    """The key under which two utterances count as duplicates."""
    return " ".join(text.casefold().split()).rstrip(" .!?")


CONFLICT_RULES = ("drop", "error")


@dataclass(frozen=True)
class Deduplicated:
    """Training examples with repeats merged; `conflicts` are the utterances found under more
    than one label (every copy, in file order), which training leaves out."""

    examples: list[Example]
    repeats: int
    conflicts: list[list[Example]]

    def report(self) -> list[str]:
        """What a person should hear about the merge: one warning naming every conflict."""
        if not self.conflicts:
            return []
        lines = [
            f"{len(self.conflicts)} utterances carry more than one label and are left out of "
            "training (data.on_conflict=error refuses such data instead):"
        ]
        for copies in self.conflicts:
            labels = ", ".join(f"{copy.intent!r} at {copy.source}" for copy in copies)
            lines.append(f"  {copies[0].text!r}: {labels}")
        return ["\n".join(lines)]


def deduplicate(examples: Iterable[Example], on_conflict: str = "drop") -> Deduplicated:
    """Merge repeated utterances (same `normalised` text); repeats under different labels are
    all listed at once, then left out (`drop`) or refused (`error`)."""
    if on_conflict not in CONFLICT_RULES:
        raise DataError(f"data.on_conflict={on_conflict!r} is not one of {CONFLICT_RULES}")
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(normalised(example.text), []).append(example)
    kept, conflicts, repeats = [], [], 0
    for copies in groups.values():
        if len({copy.intent for copy in copies}) > 1:
            conflicts.append(copies)
        else:
            kept.append(copies[0])
            repeats += len(copies) - 1
    result = Deduplicated(kept, repeats, conflicts)
    if conflicts and on_conflict == "error":
        raise DataError("\n".join(result.report()))
    return result
