"""`python -m intentbot.classify`: every format in and out, bad rows reported with file:line
(skipped or stopping the run), counts, and streaming: output appears before the input ends."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from intentbot.bulk.inputs import BadRow, InputFile, Row
from intentbot.bulk.stream import classify_rows
from intentbot.classify import main
from intentbot.console import make_console
from intentbot.predictor import Prediction, ScoredIntent
from intentbot.records import Record, read_records
from tests.helpers import REPO


def classify(*argv: str) -> tuple[int, str]:
    """main() in this process; what it told the person (wide, so one line stays one line)."""
    console = make_console(file=io.StringIO(), width=300)
    return main(list(argv), console), console.file.getvalue()


def test_labelled_csv_in_jsonl_out_keeps_the_label(trained_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('utterance,category\nWhat time is it?,time\n"hello, bot",greeting\n')
    code, told = classify(str(source), str(tmp_path / "out.jsonl"), "--model", trained_model.tag)
    assert code == 0, told
    records = list(read_records(tmp_path / "out.jsonl"))
    assert (records[0].text, records[0].label, records[0].intent) == (
        "What time is it?",
        "time",
        "time",
    )
    assert records[1].text == "hello, bot" and records[1].label == "greeting"
    assert all(len(r.ranking) == 5 and r.model == trained_model.tag for r in records)
    assert records[0].confidence == records[0].ranking[0][1]
    assert "2 rows read: 2 answered, 0 skipped" in told


def test_text_in_csv_out(trained_model, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("What time is it?\n\n  \ntell me a joke\r\n")  # blank lines are no rows
    code, told = classify(str(source), str(tmp_path / "out.csv"), "--model", trained_model.tag)
    assert code == 0, told
    with (tmp_path / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == ["What time is it?", "tell me a joke"]
    assert rows[0]["label"] == "" and rows[0]["intent"] == "time"
    assert json.loads(rows[0]["ranking"])[0]["intent"] == "time"
    assert [record.text for record in read_records(tmp_path / "out.csv")] == [
        "What time is it?",
        "tell me a joke",
    ]


def test_jsonl_in_records_on_stdout(trained_model, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "What time is it?"}\n{"text": "hi", "intent": "greeting"}\n')
    code, told = classify(str(source), "--model", trained_model.tag, "--batch-size", "1")
    assert code == 0, told
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["text"] for record in records] == ["What time is it?", "hi"]
    assert "label" not in records[0] and records[1]["label"] == "greeting"
    assert "2 answered" in told  # the person's lines went to the console, not among records


BAD_JSONL = [
    '{"text": "What time is it?"}',
    "{broken",
    '{"text": "   "}',
    "[1, 2]",
    '{"text": "tell me a joke"}',
]


def test_bad_rows_are_reported_with_file_and_line_and_skipped(trained_model, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(BAD_JSONL) + "\n")
    code, told = classify(str(source), str(tmp_path / "out.jsonl"), "--model", trained_model.tag)
    assert code == 0
    assert f"skipped {source}:2: not valid JSON" in told
    assert f"skipped {source}:3: empty text" in told
    assert f"skipped {source}:4: not a JSON object; expected an object" in told
    assert "5 rows read: 2 answered, 3 skipped as bad" in told
    texts = [record.text for record in read_records(tmp_path / "out.jsonl")]
    assert texts == ["What time is it?", "tell me a joke"]


def test_a_bad_row_stops_the_run_with_on_error_stop(trained_model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('text\nWhat time is it?\n"a","b"\ntell me a joke\n')
    output = tmp_path / "out.jsonl"
    argv = (str(source), str(output), "--model", trained_model.tag, "--on-error", "stop")
    code, told = classify(*argv)
    assert code == 2
    assert f"error: {source}:3: 2 fields where the header has 1" in told
    assert "2 rows read: 1 answered, 0 skipped" in told  # the rows before it are written
    assert [record.text for record in read_records(output)] == ["What time is it?"]


def test_ray_without_ray_installed_is_one_line_with_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    monkeypatch.delitem(sys.modules, "intentbot.bulk.on_ray", raising=False)
    (tmp_path / "in.txt").write_text("What time is it?\n")
    code, told = classify(str(tmp_path / "in.txt"), "--ray")
    assert code == 2 and told.count("\n") == 1, told
    assert "--ray needs Ray" in told and "pip install 'intentbot[ray]'" in told


def test_parquet_without_ray_says_to_add_it(tmp_path):
    (tmp_path / "in.parquet").write_bytes(b"PAR1")
    code, told = classify(str(tmp_path / "in.parquet"))
    assert code == 2 and "Parquet is read by Ray; add --ray" in told


def test_mistakes_are_one_line_and_exit_2(trained_model, tmp_path):
    table = tmp_path / "in.csv"
    table.write_text("message,intent\nhi,greeting\n")
    code, told = classify(str(table), "--model", trained_model.tag)
    assert code == 2 and "cannot find the text column" in told and "--text-column=NAME" in told
    code, told = classify(str(table), str(tmp_path / "out.txt"), "--model", trained_model.tag)
    assert code == 2 and "write .jsonl or .csv" in told
    code, told = classify(str(tmp_path / "missing.txt"))
    assert code == 2 and "no such file" in told
    code, told = classify(
        str(table), "--model", "intentbot:nosuchversion", "--text-column", "message"
    )
    assert code == 2 and "no model 'intentbot:nosuchversion'" in told


class CountingPredictor:
    """Answers anything with one intent, and counts the texts it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    def predict(self, texts: list[str], top_k: int = 5) -> list[Prediction]:
        self.asked += len(texts)
        ranking = [ScoredIntent("a", 0.75), ScoredIntent("b", 0.25)]
        return [Prediction(text, "a", 0.75, False, ranking) for text in texts]


class ListWriter:
    def __init__(self) -> None:
        self.calls: list[list[Record]] = []

    def write(self, records: list[Record]) -> None:
        self.calls.append(list(records))


def test_rows_are_answered_and_written_a_chunk_at_a_time():
    """The input is a generator that checks, while it is being read, that every full chunk
    was already written: nothing waits for the end of the input."""
    writer, predictor = ListWriter(), CountingPredictor()
    chunk, total = 100, 100_000

    def rows() -> Iterator[Row | BadRow]:
        good = 0
        for number in range(1, total + 1):
            # rows read but not yet answered: at most the chunk being filled
            assert good - predictor.asked < chunk
            if number % 1000 == 0:
                yield BadRow(f"gen:{number}", "empty text")
            else:
                good += 1
                yield Row(f"utterance {number}", None, f"gen:{number}")

    bad: list[BadRow] = []
    counts = classify_rows(predictor, rows(), writer, chunk_size=chunk, on_bad_row=bad.append)
    assert max(len(call) for call in writer.calls) == chunk
    assert (counts.read, counts.answered, counts.skipped) == (total, total - 100, 100)
    assert [str(row) for row in bad[:2]] == ["gen:1000: empty text", "gen:2000: empty text"]


def test_input_file_reads_as_it_goes(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("".join(f"utterance number {n}\n" for n in range(200_000)))  # 5 MB
    source = InputFile(path)
    rows = iter(source)
    assert next(rows).where == f"{path}:1"
    assert 0 < source.position() < source.size / 10  # a few kilobytes read, not the file


def test_output_appears_before_the_input_ends(trained_model, tmp_path):
    """The real command reading a pipe: the first chunk's records are on disk while the
    writer of the input still holds it open."""
    pipe, output = tmp_path / "input.txt", tmp_path / "out.jsonl"
    os.mkfifo(pipe)
    command = [sys.executable, "-m", "intentbot.classify", str(pipe), str(output)]
    env = {**os.environ, "BENTOML_HOME": str(trained_model.bentoml_home)}
    child = subprocess.Popen([*command, "--model", trained_model.tag], cwd=REPO, env=env)
    try:
        with pipe.open("w") as feed:
            feed.write("What time is it?\n" * 1500)  # one full chunk of 1,024 and some
            feed.flush()
            deadline = time.monotonic() + 120
            while _lines(output) < 1024:
                assert child.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            feed.write("tell me a joke\n" * 10)
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
    assert _lines(output) == 1510


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0
