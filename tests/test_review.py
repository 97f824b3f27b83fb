"""Review in-process: the order utterances come in, every key's effect on the decisions file
(always valid training data), resumption, completion, and the model's intents on offer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from intentbot.chat.view import make_console
from intentbot.corpus import read_examples
from intentbot.records import Record
from intentbot.review.loop import ReviewLoop, completer, known_intents, main
from intentbot.review.ordering import collapse, review_order
from intentbot.review.reviewed import ReviewedFile
from tests.helpers import type_at_the_prompt


def record(text: str, *ranking: tuple[str, float], out_of_scope: bool = False) -> Record:
    top = ranking[0]
    intent = "oos" if out_of_scope else top[0]
    return Record(text, intent, top[1], out_of_scope, tuple(ranking), time="t")


RECORDS = [
    record("sure thing", ("greeting", 0.9), ("thanks", 0.05)),  # margin 0.85
    record("book it", ("travel", 0.45), ("calendar", 0.43)),  # margin 0.02
    record("Book it!", ("travel", 0.45), ("calendar", 0.43)),  # the same utterance
    record("hm", ("joke", 0.3), ("weather", 0.29), out_of_scope=True),  # 0.01, rejected
    record("what's up", ("greeting", 0.35), ("weather", 0.34)),  # 0.01, low confidence
    record("what's new", ("news", 0.6), ("weather", 0.59)),  # 0.01, higher confidence
    record("ok then", ("thanks", 0.6), ("goodbye", 0.3)),  # margin 0.3
]


def test_most_useful_first_and_duplicates_collapsed():
    items = review_order(RECORDS)
    assert [item.record.text for item in items] == [
        "hm",  # margins under 0.05 count as equal: out of scope first,
        "what's up",  # then the least confident:
        "Book it!",  # (the latest copy of a repeated utterance, counted)
        "what's new",
        "ok then",  # then larger margins
        "sure thing",
    ]
    assert [item.count for item in items] == [1, 1, 2, 1, 1, 1]
    assert len(collapse(RECORDS)) == 6


def review_with(
    out: Path, *lines: str, records: list[Record] = RECORDS
) -> tuple[dict[str, int], str]:
    console = make_console(file=io.StringIO(), width=120)
    intents, oos = known_intents(records)
    reviewed = ReviewedFile(out)
    loop = ReviewLoop(review_order(records), reviewed, console, intents, oos or "oos")
    typed = iter(lines)

    def read_line() -> str:
        line = next(typed, None)
        if line is None:
            raise EOFError
        return line

    try:
        counts = loop.run(read_line)
    finally:
        reviewed.close()
    return counts, console.file.getvalue()


def decided(out: Path) -> list[tuple[str, str]]:
    """The decisions as training data reads them (so the file is valid training data)."""
    return [(example.text, example.intent) for example in read_examples(out)]


def test_every_key(tmp_path):
    out = tmp_path / "reviewed.jsonl"
    keys = ["", "2", "o", "s", "u", "u", "weather", "wether", "+small_talk", "9", "?", "q"]
    counts, shown = review_with(out, *keys)
    assert decided(out) == [
        ("hm", "joke"),  # Enter: the top intent of the ranking, even when out of scope
        ("what's up", "weather"),  # 2: the second of the ranking
        ("Book it!", "weather"),  # o, s, u, u took back "Book it!": typed a name now
        ("what's new", "small_talk"),  # "wether" was refused; +name adds a new intent
    ]
    assert "unknown intent 'wether'; did you mean weather?" in shown
    assert "no intent #9 here; pick 1 to 2" in shown
    assert "undone (skipped)" in shown and "undone (out of scope)" in shown
    assert "Tab completes" in shown  # ? lists the keys
    assert counts == {"accepted": 1, "relabelled": 3, "out_of_scope": 0, "skipped": 0}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["source"] == "review" and "time" in lines[0]


def test_a_second_run_resumes_where_the_first_stopped(tmp_path):
    out = tmp_path / "reviewed.jsonl"
    review_with(out, "", "s", "q")
    counts, shown = review_with(out, "")  # "hm" is decided; "what's up" was only skipped
    assert decided(out) == [("hm", "joke"), ("what's up", "greeting")]
    assert "“what's up”" in shown and "“hm”" not in shown
    counts, shown = review_with(out, *[""] * 10)
    assert counts["accepted"] + counts["out_of_scope"] == 4
    assert "Nothing left to review." in shown and len(decided(out)) == 6


def test_a_line_cut_short_is_removed_so_the_file_reads(tmp_path):
    out = tmp_path / "reviewed.jsonl"
    out.write_text('{"text": "hi", "intent": "greeting"}\n{"text": "by')
    reviewed = ReviewedFile(out)
    reviewed.add("bye", "goodbye")
    reviewed.close()
    assert reviewed.repaired
    assert decided(out) == [("hi", "greeting"), ("bye", "goodbye")]


def test_completion_offers_intent_names():
    complete = completer(["weather", "welcome", "time"])
    assert [complete("we", state) for state in range(3)] == ["weather", "welcome", None]
    assert complete("+ti", 0) == "+time"


def test_the_model_adds_its_intents_and_bad_input_is_one_line(trained_model, tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(r.to_line() for r in RECORDS[:1]))
    code, shown = run_main(
        [str(log), "--out", str(tmp_path / "r.jsonl"), "--model", trained_model.tag],
        monkeypatch,
        lines=("calculator",),  # no record names it; the model has it
    )
    assert code == 0 and decided(tmp_path / "r.jsonl") == [("sure thing", "calculator")]
    log.write_text("{not a record\n")
    code, shown = run_main([str(log), "--out", str(tmp_path / "r.jsonl")], monkeypatch)
    assert code == 2 and f"{log}:1: not valid JSON" in shown


def run_main(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, lines: tuple[str, ...] = ()
) -> tuple[int, str]:
    """main() typing `lines` at the prompt, then Ctrl-D."""
    type_at_the_prompt(monkeypatch, lines)
    console = make_console(file=io.StringIO(), width=200)
    return main(argv, console), console.file.getvalue()
