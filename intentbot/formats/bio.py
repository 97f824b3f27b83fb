"""BIO folders, the joint intent + slot benchmarks' form (ATIS, SNIPS): `seq.in` (words),
`seq.out` (one `O` / `B-type` / `I-type` tag per word) and `label` (the intent), aligned by line.
"""

from __future__ import annotations

from pathlib import Path

from intentbot.examples import DataError, Entity, TrainingData
from intentbot.formats.base import Columns, make_example, read_text, training_data

FILES = ("seq.in", "seq.out", "label")


def read_bio(folder: Path, columns: Columns) -> TrainingData:
    """One split folder; the text is its words joined by single spaces.

    An `I-x` that continues nothing is read as `B-x`, with a warning naming its line.
    """
    words_file, tags_file, labels_file = (folder / name for name in FILES)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: not a BIO folder; it lacks {', '.join(missing)}")
    lines = {path: _lines(path) for path in (words_file, tags_file, labels_file)}
    counts = {path: len(found) for path, found in lines.items()}
    if len(set(counts.values())) > 1:
        short = min(counts, key=counts.__getitem__)
        raise DataError(
            f"{short}:{counts[short] + 1}: line missing; "
            + ", ".join(f"{path.name} has {count} lines" for path, count in counts.items())
            + "; the three files must align line by line"
        )
    examples, warnings = [], []
    for number, (words_line, tags_line, label) in enumerate(
        zip(*lines.values(), strict=True), start=1
    ):
        words, tags = words_line.split(), tags_line.split()
        if len(words) != len(tags):
            raise DataError(
                f"{tags_file}:{number}: {len(tags)} tags for the {len(words)} words of "
                f"{words_file.name}:{number}; give one tag per word"
            )
        entities, repairs = _spans(words, tags, f"{tags_file}:{number}")
        if repairs:
            warnings.append(
                f"{tags_file}:{number}: read as B- (they continued no span): {', '.join(repairs)}"
            )
        examples.append(make_example(" ".join(words), label, f"{words_file}:{number}", entities))
    return training_data(examples, warnings=warnings)


def _lines(path: Path) -> list[str]:
    # "\n" only: a stray U+2028 inside a line is text, not a line break
    lines = [line.removesuffix("\r") for line in read_text(path).split("\n")]
    return lines[:-1] if lines and not lines[-1] else lines


def _spans(words: list[str], tags: list[str], where: str) -> tuple[list[Entity], list[str]]:
    """Entity spans (offsets into the words joined by spaces) and the `I-x at word N` tags
    that continued nothing and were read as `B-x`."""
    entities: list[Entity] = []
    repairs: list[str] = []
    at, current = 0, None  # offset of this word; the type of the span the last word was in
    for number, (word, tag) in enumerate(zip(words, tags, strict=True), start=1):
        prefix, _, kind = tag.partition("-")
        if tag != "O" and (prefix not in ("B", "I") or not kind):
            raise DataError(
                f"{where}: tag {tag!r} of word {number} ({word!r}) is not O, B-type or I-type"
            )
        if prefix == "I" and kind == current:
            entities[-1] = Entity(entities[-1].start, at + len(word), kind)
        elif tag != "O":
            if prefix == "I":
                repairs.append(f"{tag} at word {number}")
            entities.append(Entity(at, at + len(word), kind))
        current = None if tag == "O" else kind
        at += len(word) + 1
    return entities, repairs
