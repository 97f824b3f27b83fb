"""Every loader, on real files written here, and every bad-input error naming file:line."""

from __future__ import annotations

import json

import pytest

from intentbot.corpus import deduplicate, read_data, read_examples, read_splits
from intentbot.examples import DataError, Entity, Example
from intentbot.formats.clinc150 import data_file
from tests.helpers import write_bio


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


def test_clinc150_keeps_out_of_scope_as_a_label_and_its_splits_apart(tmp_path):
    record = {name: [[f"what time is it {name}", "time"]] for name in ("train", "val", "test")}
    record |= {f"oos_{name}": [["book a flight", "oos"]] for name in ("train", "val", "test")}
    path = write(tmp_path / "data_small.json", json.dumps(record))
    assert data_file(tmp_path, variant="small") == path
    splits = read_splits(path)
    assert [(e.text, e.intent) for e in splits["test"]] == [
        ("what time is it test", "time"),
        ("book a flight", "oos"),
    ]
    assert splits["val"][0].source == f"{path}: val[0]"
    with pytest.raises(DataError, match=r"holds its own train, val, test splits; read it with"):
        read_data(path)  # as one file, its test split would train or its train split test
    with pytest.raises(DataError, match=r"a.jsonl: holds no splits of its own"):
        read_splits(write(tmp_path / "a.jsonl", '{"text": "hi", "intent": "greet"}\n'))
    with pytest.raises(DataError, match=r"data_full.json: no such file; set data.path"):
        data_file(tmp_path)


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
        ("a.json", '{"text": "hi"}', r"a.json: no 'train' key; .json files are read as CLINC150"),
        ("a.json", '{"train": [["hi"]]}', r"a.json: train\[0\]: expected \[text, intent\]"),
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


def test_duplicates_are_merged_and_conflicts_set_aside():
    merged = deduplicate([Example("Hi!", "greet", "f:1"), Example("hi", "greet", "f:2")])
    assert (len(merged.examples), merged.repeats, merged.conflicts) == (1, 1, [])
    rows = [Example("Hi!", "greet", "f:1"), Example("x", "y", "f:2"), Example("hi", "bye", "f:3")]
    merged = deduplicate(rows)
    assert merged.examples == [rows[1]] and merged.conflicts == [[rows[0], rows[2]]]
    [report] = merged.report()
    assert report.endswith("'Hi!': 'greet' at f:1, 'bye' at f:3")
    with pytest.raises(DataError, match="1 utterances carry more than one label"):
        deduplicate(rows, on_conflict="error")


def spans(example: Example) -> list[tuple[str, str, str | None]]:
    """(surface, type, value) of each entity, read back through its offsets."""
    return [(example.surface(e), e.entity, e.value) for e in example.entities]


def test_rasa_entity_markup_in_every_form(tmp_path):
    travel = (
        '[Oslo]{"entity": "city", "role": "from"} to '
        '[NYC]{"entity": "city", "value": "New York", "role": "to", "group": "1"}'
    )
    path = write(
        tmp_path / "nlu.yml",
        """nlu:
- intent: travel
  examples: |
    - fly from TRAVEL
    - [big  apple](city:New York)   please
    - weather in [Paris](city) (today)
- synonym: New York
  examples: |
    - the  Big Apple
- lookup: city
  examples: |
    - Paris
    - Oslo
- regex: zip
  examples: |
    - \\d{5}
""".replace("TRAVEL", travel),
    )
    data = read_data(path)
    first, second, third = data.examples
    assert spans(first) == [("Oslo", "city", None), ("NYC", "city", "New York")]
    assert (first.entities[0].role, first.entities[1].role, first.entities[1].group) == (
        "from",
        "to",
        "1",
    )
    assert second.text == "big apple please"
    assert spans(second) == [("big apple", "city", "New York")]
    assert third.text == "weather in Paris (today)" and spans(third) == [("Paris", "city", None)]
    assert data.synonyms == {
        "the big apple": "New York",
        "nyc": "New York",
        "big apple": "New York",
    }
    assert data.lookups == {"city": ["Paris", "Oslo"]} and data.regexes == {"zip": [r"\d{5}"]}
    assert data.warnings == []


def test_rasa_value_equal_to_the_text_is_no_synonym(tmp_path):
    path = write(
        tmp_path / "nlu.yml",
        'nlu:\n- intent: a\n  examples: |\n    - in [Paris]{"entity": "city", "value": "Paris"}\n',
    )
    data = read_data(path)
    assert data.examples[0].entities == (Entity(3, 8, "city"),) and data.synonyms == {}


RASA = "nlu:\n- intent: a\n  examples: |\n    - hi\n    - {}\n"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fly to [Paris(city)", r"'\[' never closed"),
        ("fly to Paris](city)", r"'\]' with no '\['"),
        ("fly to [Paris](city", r"'\(' never closed"),
        ('fly to [Paris]{"entity": "city"', r"'\{' never closed"),
        ("fly to [](city)", r"entity markup with no text"),
        ("fly to [ ](city)", r"entity markup with no text"),
        ("fly to [Paris]{entity: city}", r"not valid JSON"),
        ('fly to [Paris]{"value": "x"}', r'lacks "entity"'),
        ('fly to [Paris]{"entity": "city", "colour": 1}', r"unknown keys \['colour'\]"),
        ('fly to [Paris]{"entity": "city", "value": 3}', r"non-string value"),
        ("fly to [Paris]()", r"no entity type"),
        ("fly to [the [Paris](city) area](place)", r"markup inside markup"),
        ("fly to [Paris] today", r"not followed by \(type\)"),
    ],
)
def test_rasa_markup_errors_name_file_and_line(tmp_path, line, expected):
    with pytest.raises(DataError, match=r"nlu.yml:5: .*" + expected):
        read_data(write(tmp_path / "nlu.yml", RASA.format(line)))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("nlu:\n- regex: zip\n  examples: |\n    - (\\d\n", r"nlu.yml:4: not a valid regular"),
        ("nlu:\n- intnet: greet\n  examples: |\n    - hi\n", r"nlu.yml:2: expected an entry"),
        ("nlu:\n- synonym:\n  examples: |\n    - x\n", r"nlu.yml:2: 'synonym:' needs a name"),
        ("nlu:\n- lookup: city\n", r"nlu.yml:2: lookup 'city' has no 'examples: \|' block"),
    ],
)
def test_rasa_block_errors(tmp_path, content, expected):
    with pytest.raises(DataError, match=expected):
        read_data(write(tmp_path / "nlu.yml", content))


def test_jsonl_entities_follow_collapsed_whitespace(tmp_path):
    person = "Jo\u0308rg\u00e9 \U0001f468\u200d\U0001f469"  # combining mark, ZWJ emoji
    text = f" fly\u00a0 from  {person}  to\t東京 \n"
    jorge, tokyo = text.index(person), text.index("東京")
    records = [
        {
            "text": text,
            "intent": "travel",
            "entities": [  # unsorted, with spaces at the edges of one span
                {"start": tokyo - 1, "end": tokyo + 2, "entity": "city", "value": "Tokyo"},
                {"start": jorge, "end": jorge + len(person), "entity": "person", "text": person},
            ],
        }
    ]
    data = read_data(write(tmp_path / "a.jsonl", "\n".join(map(json.dumps, records))))
    (example,) = data.examples
    assert example.text == f"fly from {person} to 東京"
    assert spans(example) == [(person, "person", None), ("東京", "city", "Tokyo")]
    assert data.synonyms == {"東京": "Tokyo"}


def test_conflicting_synonyms_warn_and_keep_the_first(tmp_path):
    lines = [
        {"text": "to NYC", "intent": "a", "entities": [{"start": 3, "end": 6, "entity": "c"}]},
        {"text": "nyc", "intent": "a", "entities": [{"start": 0, "end": 3, "entity": "c"}]},
    ]
    lines[0]["entities"][0]["value"] = "New York"
    lines[1]["entities"][0]["value"] = "Newark"
    data = read_data(write(tmp_path / "a.jsonl", "\n".join(map(json.dumps, lines))))
    assert data.synonyms == {"nyc": "New York"}
    assert len(data.warnings) == 1 and data.warnings[0].startswith(f"{tmp_path / 'a.jsonl'}:2: ")


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        ([{"start": 3, "end": 99, "entity": "c"}], r"lies outside the text \(0\.\.8\)"),
        ([{"start": -1, "end": 2, "entity": "c"}], r"lies outside the text"),
        ([{"start": 3, "end": 3, "entity": "c"}], r"starts at 3 but ends at 3"),
        ([{"start": 5, "end": 3, "entity": "c"}], r"starts at 5 but ends at 3"),
        ([{"start": 2, "end": 4, "entity": "c"}], r"covers only whitespace"),
        (
            [{"start": 3, "end": 6, "entity": "c"}, {"start": 5, "end": 8, "entity": "d"}],
            r"entity 'd' at 5\.\.8 overlaps 'c' at 3\.\.6",
        ),
        ([{"start": 3.0, "end": 8, "entity": "c"}], r"needs integer 'start' and 'end'"),
        ([{"start": "3", "end": 8, "entity": "c"}], r"needs integer"),
        ([{"start": True, "end": 8, "entity": "c"}], r"needs integer"),
        ([{"start": 3, "end": 8}], r"no 'entity' type name"),
        ([{"start": 3, "end": 8, "entity": "c", "text": "York"}], r"says its text is 'York'"),
        ([{"start": 3, "end": 8, "entity": "c", "role": 1}], r"'role' that is not a string"),
        ({"start": 3}, r"'entities' must be a list"),
        (["Paris"], r"each entity must be an object"),
    ],
)
def test_jsonl_entity_errors_name_file_and_line(tmp_path, entities, expected):
    record = {"text": "in  Oslo", "intent": "a", "entities": entities}  # offsets of this raw text
    content = json.dumps({"text": "hi", "intent": "a"}) + "\n" + json.dumps(record) + "\n"
    with pytest.raises(DataError, match=r"a.jsonl:2: .*" + expected):
        read_data(write(tmp_path / "a.jsonl", content))


def test_bio_folder_spans_and_repairs(tmp_path):
    folder = write_bio(
        tmp_path / "train",
        [
            ("listen to  westbam on google music ", "O O B-artist O B-service I-service", "Play"),
            ("I-artist I-artist x", "I-artist I-artist O", "Play"),  # at the start
            ("a b c d", "O I-x B-y I-x", "Rate"),  # after O, after another type
            ("fine", "O", "Rate"),
        ],
    )
    data = read_data(folder)
    first, second, third, _ = data.examples
    assert first.text == "listen to westbam on google music"
    assert spans(first) == [("westbam", "artist", None), ("google music", "service", None)]
    assert first.source == f"{folder / 'seq.in'}:1"
    assert spans(second) == [("I-artist I-artist", "artist", None)]
    assert spans(third) == [("b", "x", None), ("c", "y", None), ("d", "x", None)]
    repaired = "read as B- (they continued no span)"
    assert data.warnings == [
        f"{folder / 'seq.out'}:2: {repaired}: I-artist at word 1",
        f"{folder / 'seq.out'}:3: {repaired}: I-x at word 2, I-x at word 4",
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a b", "O B-x I-x", "L")], r"seq.out:1: 3 tags for the 2 words of seq.in:1"),
        ([("a b", "O X-x", "L")], r"seq.out:1: tag 'X-x' of word 2 \('b'\) is not O"),
        ([("a b", "O B-", "L")], r"seq.out:1: tag 'B-'"),
        ([("a", "O", "L"), ("", "", "L")], r"seq.in:2: empty text"),
        ([("a", "O", "L"), ("b", "O", "")], r"seq.in:2: no intent label"),
    ],
)
def test_bio_errors_name_file_and_line(tmp_path, rows, expected):
    with pytest.raises(DataError, match=expected):
        read_data(write_bio(tmp_path / "f", rows))


def test_bio_files_of_different_lengths(tmp_path):
    folder = write_bio(tmp_path / "f", [("a", "O", "L"), ("b", "O", "L")])
    write(folder / "label", "L\n")
    with pytest.raises(DataError, match=r"label:2: line missing; seq.in has 2 lines, seq.out"):
        read_data(folder)


def test_folders_that_are_not_one_bio_split(tmp_path):
    with pytest.raises(DataError, match=r"not a BIO folder; it lacks seq.out, label"):
        read_data(write(tmp_path / "seq.in", "hi\n").parent)
    for split in ("train", "valid", "test"):
        write_bio(tmp_path / "set" / split, [("a", "O", "L")])
    with pytest.raises(DataError, match=r"set: holds train/valid/test splits; .* data=bio"):
        read_data(tmp_path / "set")
    assert [e.text for e in read_data(tmp_path / "set" / "valid").examples] == ["a"]


def test_entities_survive_deduplication_and_keep_examples_hashable():
    entities = [Entity(0, 5, "city")]
    example = Example("Paris", "go", "f:1", entities)  # a list is kept as a tuple
    assert example.entities == (Entity(0, 5, "city"),) and hash(example)
    assert deduplicate([example, Example("paris", "go", "f:2")]).examples == [example]
    assert Example("hi", "greet", "f:3") == Example("hi", "greet", "f:3", ())


@pytest.mark.parametrize(
    ("entities", "expected"),
    [
        ((Entity(3, 5, "b"), Entity(0, 2, "a")), r"f:1: entities are not sorted"),
        ((Entity(0, 3, "a"), Entity(2, 5, "b")), r"f:1: entity 'b' at 2\.\.5 overlaps 'a'"),
        ((Entity(0, 9, "a"),), r"f:1: entity 'a' at 0\.\.9 lies outside the text \(0\.\.5\)"),
        ((Entity(2, 2, "a"),), r"f:1: entity 'a' starts at 2 but ends at 2"),
    ],
)
def test_examples_refuse_bad_spans(entities, expected):
    with pytest.raises(DataError, match=expected):
        Example("a b c", "x", "f:1", entities)
