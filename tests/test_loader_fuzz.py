"""Data loader fuzzing (hypothesis): whatever bytes a .csv/.tsv/.jsonl/.yml file holds, reading
it gives examples or a DataError naming the file (and line, where there is one); never another
exception from deep inside a library. Entity markup and entity offsets get their own fuzzing:
whatever loads has spans on real words."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intentbot.corpus import read_examples
from intentbot.examples import DataError, Example

SUFFIXES = (".csv", ".tsv", ".jsonl", ".yml")  # one per reader (.yaml is .yml)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# pieces that make the formats' parsers take their odd paths
FRAGMENTS = [
    "text,intent\n",
    "text\tintent\n",
    'utterance,label\n"a, b",x\n',
    '"unclosed,quote\n',
    ",,,,\n",
    "a,b,c\n",
    "\x00",
    "\ufeff",
    "\r\n",
    "\r",
    '{"text": "hi", "intent": "greet"}\n',
    '{"text": 1, "intent": null}\n',
    "[1, 2]\n",
    "{bad json\n",
    "nlu:\n- intent: greet\n  examples: |\n    - hi\n    - [Paris](city)\n",
    "nlu:\n- intent: [a, b]\n  examples: {x: 1}\n",
    "nlu: &a [*a]\n",
    "- - - - -\n",
    "key: !!python/object/apply:os.system ['echo pwned']\n",
    "? [a]\n: b\n",
    "\t- tab\n",
    "x" * 200_000 + "\n",
]


def read(tmp: Path, suffix: str, data: bytes) -> list[Example] | DataError:
    path = tmp / f"data{suffix}"
    path.write_bytes(data)
    try:
        return read_examples(path)
    except DataError as error:
        return error


def check(tmp: Path, suffix: str, data: bytes) -> None:
    outcome = read(tmp, suffix, data)
    path = str(tmp / f"data{suffix}")
    if isinstance(outcome, DataError):
        message = str(outcome)
        assert message.startswith(path), message
        assert "\n" not in message, message  # one line
        return
    for example in outcome:  # a correct load: real texts and labels with their file:line
        assert example.text.strip() and example.intent.strip()
        assert re.fullmatch(re.escape(path) + r":\d+", example.source), example.source
        for entity in example.entities:  # and spans on words, no edge spaces
            surface = example.surface(entity)
            assert surface and surface == surface.strip() and entity.entity, entity


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes(suffix: str, data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        check(Path(folder), suffix, data)


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(
    pieces=st.lists(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=50)), min_size=0, max_size=8
    ),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]),
)
def test_format_fragments_in_any_encoding(suffix: str, pieces: list[str], encoding: str):
    data = "".join(pieces).encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as folder:
        check(Path(folder), suffix, data)


@FUZZ
@given(
    rows=st.lists(
        st.lists(st.text(alphabet=st.characters(blacklist_categories=["Cs"])), max_size=4),
        max_size=10,
    )
)
def test_ragged_csv_rows(rows: list[list[str]]):
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "intent"])
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        outcome = read(Path(folder), ".csv", buffer.getvalue().encode())
        if isinstance(outcome, DataError):
            assert str(outcome).startswith(str(Path(folder) / "data.csv:")), outcome
        else:
            assert all(len(row) == 2 for row in rows if any(cell.strip() for cell in row))


# pieces of entity markup, good and broken, and text that is hard to keep offsets in
MARKUP = [
    "[", "]", "(", ")", "{", "}", ":", " ", "  ", "\u00a0", "\t", '"', "\\",
    "Paris", "New York", "e\u0301", "\U0001f468\u200d\U0001f469", "東京",
    "(city)", "(city:NYC)", "()", "( : )", "[Paris]", "[ ]", "[]",
    '{"entity": "city"}', '{"entity": "city", "value": "NYC", "role": "to", "group": "1"}',
    '{"entity": ""}', '{"value": "x"}', '{"entity": "city", "value": 3}', '{"entity": "c", "x": 1}',
    "{" * 50, "[" * 50,
    "[Paris](city)", "[ New  York ](city:NYC)", "[e\u0301\u00a0東京](city)",
    '[\U0001f468\u200d\U0001f469]{"entity": "who", "value": "family"}',
]  # fmt: skip
LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=6
)


@FUZZ
@given(
    lines=st.lists(
        st.lists(st.one_of(st.sampled_from(MARKUP), LINE_TEXT), min_size=1, max_size=6),
        min_size=1,
        max_size=3,
    ),
    synonym=st.one_of(st.none(), LINE_TEXT),
)
def test_random_rasa_markup(lines: list[list[str]], synonym: str | None):
    content = "nlu:\n- intent: travel\n  examples: |\n"
    content += "".join(f"    - {''.join(line)}\n" for line in lines)
    if synonym is not None:
        content += f"- synonym: {json.dumps(synonym)}\n  examples: |\n    - {synonym}\n"
    with tempfile.TemporaryDirectory() as folder:
        check(Path(folder), ".yml", content.encode())


@st.composite
def jsonl_record(draw: st.DrawFn) -> dict:
    """A record whose spans mostly fall inside its text, sometimes outside or not integers."""
    text = "".join(draw(st.lists(st.sampled_from(MARKUP), min_size=1, max_size=8)))
    odd = st.sampled_from([-1, len(text) + 1, 1.5, "2", True, None])
    spans = draw(
        st.lists(
            st.one_of(
                st.tuples(st.integers(0, len(text)), st.integers(1, 8)).map(
                    lambda pair: (pair[0], pair[0] + pair[1])
                ),
                st.tuples(st.one_of(st.integers(0, len(text)), odd), odd),
            ),
            max_size=3,
        )
    )
    entities = [
        {"start": start, "end": end, "entity": draw(st.sampled_from(["city", "city", " ", 3]))}
        | draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "value": st.one_of(st.none(), st.text(max_size=4), st.just(7)),
                    "role": st.sampled_from(["to", None, 1]),
                    "text": st.text(max_size=4),
                },
            )
        )
        for start, end in spans
    ]
    shape = draw(st.sampled_from(["list", "list", "list", "object", "text"]))
    return {
        "text": text,
        "intent": draw(st.sampled_from(["a", "a", "", " b "])),
        "entities": {"list": entities, "object": entities[:1] and entities[0], "text": "x"}[shape],
    }


@FUZZ
@given(records=st.lists(jsonl_record(), min_size=1, max_size=3))
def test_random_jsonl_entities(records: list[dict]):
    content = "\n".join(json.dumps(record) for record in records)
    with tempfile.TemporaryDirectory() as folder:
        check(Path(folder), ".jsonl", content.encode())


@pytest.mark.parametrize(
    ("suffix", "data", "message"),
    [
        (".csv", b"", "data.csv:1: empty file"),
        (".tsv", b"text\tintent\n" + b"a" * 500_000 + b"\tbig\n", "data.tsv:2: unreadable row"),
        (".csv", b'text,intent\nhi,a\n"' + b"a" * 500_000 + b'",big\n', "data.csv:3: unreadable"),
        (".csv", 'text,intent\n"two\nlines",a\n"x\u2028y",b\nz,c\n'.encode(), None),
        (".jsonl", '{"text": "x\u2028y", "intent": "a"}\n'.encode(), None),
        (".jsonl", b"[" * 100_000, "data.jsonl:1: JSON nested too deeply"),
        (".jsonl", json.dumps({"text": "a" * 500_000, "intent": "big"}).encode(), None),
        (".csv", b"text,intent\nhi,greet\nbye\n", "data.csv:3: 1 fields"),
        (".csv", b"text,intent\nhi,greet\n\xff\xfe,x\n", "data.csv:3: not valid UTF-8"),
        (".jsonl", "\n".join(["{}"] * 3).encode("utf-16"), "data.jsonl:1: not valid UTF-8"),
        (".yml", b"nlu:\n- intent: a\n  examples: |\n    - hi\n   bad: [\n", "data.yml:"),
        (".yml", b"[" * 10_000, "data.yml:"),
    ],
)
def test_named_cases(tmp_path, suffix: str, data: bytes, message: str | None):
    outcome = read(tmp_path, suffix, data)
    if message is None:  # loads as it is
        assert isinstance(outcome, list) and outcome, outcome
        assert all(example.intent in ("a", "b", "c", "big") for example in outcome)
    else:
        assert isinstance(outcome, DataError) and message in str(outcome), outcome
