"""Splits: stratified and seeded, no leaks, and the errors for data too thin to split."""

from __future__ import annotations

import pytest

from intentbot.examples import DataError
from intentbot.splits import from_bundled, from_files
from tests.helpers import write_jsonl


def many(intent: str, count: int) -> list[tuple[str, str]]:
    return [(f"{intent} example number {n}", intent) for n in range(count)]


def test_split_is_stratified_seeded_and_disjoint(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 20) + many("b", 10))
    first, second = from_files(train, seed=3), from_files(train, seed=3)
    assert first == second
    assert {e.intent for e in first.val} == {"a", "b"} == {e.intent for e in first.test}
    texts = [{e.text for e in getattr(first, name)} for name in ("train", "val", "test")]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert sum(map(len, texts)) == 30
    assert from_files(train, seed=4) != first


def test_given_test_file_drops_utterances_seen_in_train(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    test = write_jsonl(tmp_path / "s.jsonl", [("a example number 1", "a"), ("brand new", "b")])
    assert [e.text for e in from_files(train, test=test).test] == ["brand new"]


def test_label_too_rare_to_split_names_its_line(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [*many("a", 10), ("lonely", "b")])
    with pytest.raises(DataError, match=r"t.jsonl:11: intent 'b' has 1 example"):
        from_files(train)


def test_intent_only_in_test_is_refused(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    test = write_jsonl(tmp_path / "s.jsonl", [("something else", "c")])
    with pytest.raises(DataError, match=r"s.jsonl:1: intent 'c' has no training example"):
        from_files(train, test=test)


def test_bundled_data_is_big_enough_and_disjoint():
    splits = from_bundled()
    intents = {e.intent for e in splits.train}
    assert len(intents - {"oos"}) >= 25
    assert sum(e.intent == "oos" for e in (*splits.train, *splits.val, *splits.test)) >= 150
    total = len(splits.train) + len(splits.val) + len(splits.test)
    assert len(splits.test) / total >= 0.15
    assert ("What time is it?", "time") in {(e.text, e.intent) for e in splits.train + splits.val}
