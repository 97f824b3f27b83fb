"""Every loader, on real files written here, and every bad-input error naming file:line."""

from __future__ import annotations

import json

import pytest

from intentbot.corpus import deduplicate, read_examples
from intentbot.examples import DataError, Example
from intentbot.formats.clinc150 import read_clinc150


def write(path, text: str, encoding: str = "utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def test_csv_autodetects_columns_and_keeps_line_numbers(tmp_path):
    path = write(
        tmp_path / "a.csv", 'id,utterance,category\n1,"What time, now?",time\n2,hi,greet\n'
    )
    examples = read_examples(path)
    assert [(e.text, e.intent) for e in examples] == [("What time, now?", "time"), ("hi", "greet")]
    assert examples[1].source == f"{path}:3"


def test_tsv_with_named_columns(tmp_path):
    path = write(tmp_path / "a.tsv", "msg\tgold\nhello there\tgreeting\n")
    assert read_examples(path, text_column="msg", label_column="gold")[0].intent == "greeting"


def test_jsonl(tmp_path):
    lines = [
        json.dumps({"text": "hi", "intent": "greeting"}),
        "",
        json.dumps({"text": "bye", "intent": "goodbye"}),
    ]
    assert [e.intent for e in read_examples(write(tmp_path / "a.jsonl", "\n".join(lines)))] == [
        "greeting",
        "goodbye",
    ]


def test_rasa_yaml_strips_entity_markup(tmp_path):
    path = write(
        tmp_path / "nlu.yml",
        """version: "3.1"
nlu:
- intent: weather
  examples: |
    - weather in [Paris](city)
    - will it rain in [Oslo]{"entity": "city"}
- synonym: NYC
  examples: |
    - New York
- intent: greet
  examples: |
    - hello
""",
    )
    examples = read_examples(path)
    assert [(e.text, e.intent) for e in examples] == [
        ("weather in Paris", "weather"),
        ("will it rain in Oslo", "weather"),
        ("hello", "greet"),
    ]
    assert examples[0].source == f"{path}:5"


def test_clinc150_keeps_out_of_scope_as_a_label(tmp_path):
    record = {name: [["what time is it", "time"]] for name in ("train", "val", "test")}
    record |= {f"oos_{name}": [["book a flight", "oos"]] for name in ("train", "val", "test")}
    write(tmp_path / "data_small.json", json.dumps(record))
    splits = read_clinc150(tmp_path, variant="small")
    assert [e.intent for e in splits["test"]] == ["time", "oos"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "text,intent\nhello,\n", r"a.csv:2: no intent label"),
        ("a.csv", "text,intent\n  ,greet\n", r"a.csv:2: empty text"),
        ("a.csv", "words,what\nhello,greet\n", r"a.csv:1: cannot find the text column"),
        ("a.csv", "text,intent\nhello,greet,extra\n", r"a.csv:2: 3 fields"),
        ("a.csv", "", r"a.csv:1: empty file"),
        (
            "a.jsonl",
            '{"text": "hi", "intent": "greet"}\n{"text": "bye"\n',
            r"a.jsonl:2: not a JSON",
        ),
        ("a.jsonl", '["hi", "greet"]\n', r"a.jsonl:1: expected an object"),
        ("a.jsonl", "text,intent\nhello,greet\n", r"a.jsonl:1: not a JSON object"),
        ("a.yml", "nlu: [unclosed\n", r"a.yml:\d+: not valid YAML"),
        ("a.yml", "stories: []\n", r"a.yml:1: not Rasa NLU data"),
        ("a.yml", "nlu:\n- intent: greet\n  examples: |\n    hello\n", r"a.yml:4: expected an"),
        ("a.txt", "hello\n", r"unsupported extension '.txt'"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, name, content, expected):
    with pytest.raises(DataError, match=expected):
        read_examples(write(tmp_path / name, content))


def test_named_column_that_does_not_exist(tmp_path):
    path = write(tmp_path / "a.csv", "text,intent\nhi,greet\n")
    with pytest.raises(DataError, match=r"a.csv:1: no label column named 'gold'"):
        read_examples(path, label_column="gold")


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,intent\nhello,greet\ncaf\xe9,order\n")
    with pytest.raises(DataError, match=r"a.csv:3: not valid UTF-8"):
        read_examples(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_examples(tmp_path / "nope.csv")


def test_duplicates_are_dropped_but_conflicts_reported():
    kept = deduplicate([Example("Hi!", "greet", "f:1"), Example("hi", "greet", "f:2")])
    assert len(kept) == 1
    with pytest.raises(DataError, match=r"f:3: 'hi' is labelled 'bye' here but 'greet' at f:1"):
        deduplicate(
            [Example("Hi!", "greet", "f:1"), Example("x", "y", "f:2"), Example("hi", "bye", "f:3")]
        )
