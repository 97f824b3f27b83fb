"""`classify --ray` on a local Ray of 2 CPUs: the same records as the single-process path, line
for line, the same bad rows reported (or ending the run), Parquet read by Ray, and an address
that does not answer ends in one line within seconds."""

from __future__ import annotations

import csv
import json
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from bench.servers import free_port
from intentbot.records import Record, read_records
from intentbot.splits import BUNDLED_DATA
from tests.helpers import run_cli
from tests.test_classify import classify

pytestmark = pytest.mark.slow

# Every kind of bad row a JSON-lines file can hold, scattered through the good ones.
BAD_LINES = ("{broken", '{"text": "   "}', "[1, 2]", '{"intent": "greeting"}')


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for the module (its start takes seconds), stopped after."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def bundled_utterances() -> list[dict]:
    """The bundled test set, labels and entity utterances included."""
    lines = (BUNDLED_DATA / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def write_lines(path: Path, count: int) -> Path:
    """`count` lines: bundled utterances (half labelled) with a bad row every 97 lines."""
    pool, chooser = bundled_utterances(), random.Random(7)
    lines = []
    for number in range(count):
        if number % 97 == 13:
            lines.append(BAD_LINES[number % len(BAD_LINES)])
            continue
        example = chooser.choice(pool)
        values = {"text": example["text"]}
        if number % 2:
            values["intent"] = example["intent"]
        lines.append(json.dumps(values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_same_records(local: list[Record], on_ray: list[Record]) -> None:
    """Line for line: text, label, intent, out-of-scope, ranking and entities; confidences
    within 1e-6 (the rows share other batches on Ray)."""
    assert len(local) == len(on_ray)
    for one, other in zip(local, on_ray, strict=True):
        assert (one.text, one.label, one.intent, one.out_of_scope, one.model) == (
            other.text,
            other.label,
            other.intent,
            other.out_of_scope,
            other.model,
        )
        assert math.isclose(one.confidence, other.confidence, abs_tol=1e-6)
        assert [name for name, _ in one.ranking] == [name for name, _ in other.ranking]
        for (_, score), (_, other_score) in zip(one.ranking, other.ranking, strict=True):
            assert math.isclose(score, other_score, abs_tol=1e-6)
        assert [_without_confidence(entity) for entity in one.entities] == [
            _without_confidence(entity) for entity in other.entities
        ]
        for entity, other_entity in zip(one.entities, other.entities, strict=True):
            assert math.isclose(entity["confidence"], other_entity["confidence"], abs_tol=1e-6)


def _without_confidence(entity: dict) -> dict:
    return {key: value for key, value in entity.items() if key != "confidence"}


def reports(told: str) -> list[str]:
    """What a run told about bad rows, and its summary's counts."""
    lines = [line for line in told.splitlines() if line.startswith(("skipped", "error:"))]
    summary = next(line for line in told.splitlines() if "rows read:" in line)
    return [*lines, summary.split("rows read:")[1].split(" in ")[0]]


def test_ray_answers_a_few_thousand_lines_as_one_process_does(trained_model, tmp_path, local_ray):
    source = write_lines(tmp_path / "in.jsonl", 3000)
    runs = {}
    for name, extra in (("local", ()), ("ray", ("--ray", "--actors", "2"))):
        output = tmp_path / f"{name}.jsonl"
        code, told = classify(str(source), str(output), "--model", trained_model.tag, *extra)
        assert code == 0, told
        runs[name] = (list(read_records(output)), reports(told))
    (local, local_told), (on_ray, ray_told) = runs["local"], runs["ray"]
    assert_same_records(local, on_ray)
    assert any(record.entities for record in local)  # the model tags: entities were compared
    assert any(record.out_of_scope for record in local)  # and out-of-scope decisions
    assert ray_told == local_told  # every bad row, in order, with file:line; the same counts
    assert len(local_told) == 1 + sum(1 for n in range(3000) if n % 97 == 13)


def test_csv_in_and_out_and_a_stop_at_a_bad_row_as_one_process_does(
    trained_model, tmp_path, local_ray
):
    source = tmp_path / "in.csv"
    rows = [(example["text"], example["intent"]) for example in bundled_utterances()[:300]]
    with source.open("w", encoding="utf-8", newline="") as handle:
        table = csv.writer(handle)
        table.writerows([("utterance", "intent"), *rows[:200], ("too", "many", "fields")])
        table.writerows(rows[200:])
    for on_error, code in (("skip", 0), ("stop", 2)):
        runs = {}
        for name, extra in (("local", ()), ("ray", ("--ray",))):
            output = tmp_path / f"{name}-{on_error}.csv"
            argv = (str(source), str(output), "--model", trained_model.tag, "--on-error", on_error)
            got, told = classify(*argv, "--batch-size", "64", *extra)
            assert got == code, told
            runs[name] = (list(read_records(output)), reports(told))
        assert_same_records(runs["local"][0], runs["ray"][0])
        assert runs["ray"][1] == runs["local"][1]
    assert len(runs["ray"][0]) == 200  # under stop: the rows before the bad one, written


def test_parquet_is_read_by_ray_with_its_columns_found_and_blank_texts_reported(
    trained_model, tmp_path, local_ray
):
    examples = bundled_utterances()
    texts: list[str | None] = [example["text"] for example in examples]
    texts[3], texts[5] = None, "  "
    table = pa.table({"query": texts, "category": [example["intent"] for example in examples]})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=100)
    output = tmp_path / "parquet.jsonl"
    code, told = classify(
        str(tmp_path / "in.parquet"), str(output), "--model", trained_model.tag, "--ray"
    )
    assert code == 0, told
    assert f"skipped {tmp_path / 'in.parquet'} row 4: empty text" in told
    assert f"skipped {tmp_path / 'in.parquet'} row 6: empty text" in told
    # the same rows as JSON lines, in one process
    good = [(text, example) for text, example in zip(texts, examples, strict=True) if text]
    same = tmp_path / "same.jsonl"
    same.write_text(
        "".join(json.dumps({"text": text, "intent": ex["intent"]}) + "\n" for text, ex in good)
    )
    assert classify(str(same), str(tmp_path / "local.jsonl"), "--model", trained_model.tag)[0] == 0
    assert_same_records(list(read_records(tmp_path / "local.jsonl")), list(read_records(output)))


def test_an_address_that_does_not_answer_ends_in_one_line_within_seconds(trained_model, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("What time is it?\n")
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    argv = (str(source), "--model", trained_model.tag, "--ray", address)
    result = run_cli("intentbot.classify", *argv, timeout=120)
    elapsed = time.monotonic() - started
    told = result.stdout + result.stderr
    assert result.returncode == 2, told
    errors = [line for line in told.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in told, told
    assert f"no Ray cluster answers at {address}" in errors[0]
    assert "leave ADDRESS out to start a local Ray" in errors[0]
    assert elapsed < 60
