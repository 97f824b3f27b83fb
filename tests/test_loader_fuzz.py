"""Data loader fuzzing (hypothesis): whatever bytes a .csv/.tsv/.jsonl/.yml file holds, reading
it gives examples or a DataError naming the file (and line, where there is one); never another
exception from deep inside a library."""

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
