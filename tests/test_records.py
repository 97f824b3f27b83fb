"""The one record format: what the service collects, the chat saves and bulk classification
writes reads back as it was written, from JSON lines and CSV alike."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from intentbot.examples import DataError
from intentbot.predictor import Prediction, ScoredIntent
from intentbot.records import CSV_FIELDS, Record, entities_of, read_records
from intentbot.tagging import ExtractedEntity


def prediction(text: str = "book a table in Paris", entities: tuple = ()) -> Prediction:
    ranking = [ScoredIntent("restaurant", 0.6), ScoredIntent("travel", 0.3)]
    return Prediction(text, "restaurant", 0.6, False, ranking, list(entities))


def test_a_record_round_trips_through_json_lines_and_csv(tmp_path):
    paris = ExtractedEntity("city", "Paris", 16, 21, "Paris", 0.97)
    records = [
        Record.of(prediction(entities=(paris,)), model="intentbot:a", label="restaurant"),
        Record.of(prediction('quoted, "odd"\nline ✓'), model="intentbot:a", reply="Sure."),
    ]
    jsonl, table = tmp_path / "r.jsonl", tmp_path / "r.csv"
    jsonl.write_text("".join(record.to_line() for record in records))
    with table.open("w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(CSV_FIELDS)
        rows.writerows(record.to_csv_row() for record in records)
    assert list(read_records(jsonl)) == records
    assert list(read_records(table)) == [
        records[0],
        replace(records[1], reply=None),  # CSV output carries no reply
    ]
    first = json.loads(jsonl.read_text().splitlines()[0])
    assert first["entities"] == [
        {
            "entity": "city",
            "value": "Paris",
            "start": 16,
            "end": 21,
            "text": "Paris",
            "confidence": 0.97,
        }
    ]
    assert first["ranking"][1] == {"intent": "travel", "confidence": 0.3}
    assert "reply" not in first and first["label"] == "restaurant"


def test_margin_and_entities_of_a_model_without_a_tagging_head():
    record = Record.of(prediction())
    assert record.margin == pytest.approx(0.3)
    assert record.entities == () and entities_of(prediction()) == []
    assert entities_of(type("Prediction", (), {"entities": [{"entity": "x", "role": None}]})) == [
        {"entity": "x"}
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"intent": "a", "confidence": 0.5}', "no 'text'"),
        ('{"text": "hi", "confidence": 0.5}', "no 'intent'"),
        ('{"text": "hi", "intent": "a", "confidence": 1.5}', "'confidence' must be"),
        ('{"text": "hi", "intent": "a", "confidence": 0.5, "ranking": [1]}', "'ranking'"),
    ],
)
def test_a_line_that_is_no_record_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "log.jsonl"
    path.write_text(Record.of(prediction()).to_line() + "\n" + line + "\n")
    with pytest.raises(DataError, match=rf"log.jsonl:3: {problem}"):
        list(read_records(path))
