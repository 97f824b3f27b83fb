"""Splits: stratified and seeded, no leaks, and the errors for data too thin to split."""

from __future__ import annotations

import json

import pytest
from hydra.utils import instantiate

from bench.fixtures import write_jsonl
from intentbot.examples import DataError
from intentbot.splits import from_bio_folders, from_bundled, from_files
from tests.conftest import compose_config
from tests.helpers import write_bio


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


def test_a_test_file_is_scored_whole(tmp_path):
    """Every row counts, repeats and utterances also in train included, so that the figures
    compare with anyone else's on the same file; the overlap is named."""
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    rows = [("a example number 1", "a"), ("brand new", "b"), ("Brand new!", "b")]
    splits = from_files(train, test=write_jsonl(tmp_path / "s.jsonl", rows))
    assert [e.text for e in splits.test] == [text for text, _ in rows]
    assert "1 test utterances also appear in the training data" in splits.warnings


def test_training_repeats_merge_and_conflicts_are_all_listed_then_left_out(tmp_path):
    rows = [*many("a", 10), *many("b", 10), ("Hi there", "a"), ("hi there!", "b")]
    rows += [("Bye", "a"), ("bye", "b"), ("bye.", "a"), ("a example number 3", "a")]
    splits = from_files(write_jsonl(tmp_path / "t.jsonl", rows), seed=1)
    texts = {e.text.lower().rstrip("!.") for e in (*splits.train, *splits.val, *splits.test)}
    assert "hi there" not in texts and "bye" not in texts
    merged, conflicts = splits.warnings
    assert merged == "1 repeated training utterances merged"
    assert conflicts.startswith("2 utterances carry more than one label")
    assert "'hi there!': " not in conflicts  # named by its first copy
    assert "'Hi there': 'a' at " in conflicts and "t.jsonl:22" in conflicts
    assert all(f"t.jsonl:{line}" in conflicts for line in (23, 24, 25))


def test_conflicts_refused_when_asked_naming_every_one(tmp_path):
    rows = [*many("a", 10), *many("b", 10), ("Hi there", "a"), ("hi there", "b")]
    rows += [("Bye", "a"), ("bye", "b")]
    with pytest.raises(DataError, match=r"(?s)^2 utterances carry.*'Hi there'.*'Bye'"):
        from_files(write_jsonl(tmp_path / "t.jsonl", rows), on_conflict="error")


def test_intents_too_rare_to_split_are_trained_on_and_named_in_one_warning(tmp_path):
    """b (1 example) cannot give one to test or validation; c (2) gives one to test and keeps
    the other to train on, so none is left for validation. Both named at once, with lines."""
    rows = [*many("a", 10), ("lonely", "b"), ("pair one", "c"), *many("d", 10), ("pair two", "c")]
    splits = from_files(write_jsonl(tmp_path / "t.jsonl", rows))
    trained = {e.intent for e in splits.train}
    assert {"b", "c"} <= trained
    assert "b" not in {e.intent for e in (*splits.val, *splits.test)}
    assert [e.intent for e in splits.test].count("c") == 1
    assert "c" not in {e.intent for e in splits.val}
    assert {"a", "d"} <= {e.intent for e in splits.val} & {e.intent for e in splits.test}
    [warning] = [w for w in splits.warnings if "too few examples" in w]
    assert warning.startswith("2 intents have too few examples to hold some out, trained on")
    assert f"b (1 example: {tmp_path / 't.jsonl'}:11) left out of test and validation" in warning
    assert "c (2 examples: " in warning and "t.jsonl:12, " in warning and "t.jsonl:23" in warning
    assert warning.endswith(") left out of validation")


def test_only_the_carved_split_leaves_a_rare_intent_out(tmp_path):
    """With a test file, only validation is carved from train: the warning names only it."""
    train = write_jsonl(tmp_path / "t.jsonl", [*many("a", 10), *many("b", 10), ("lonely", "c")])
    test = write_jsonl(tmp_path / "s.jsonl", [("alone again", "c"), ("b again", "b")])
    splits = from_files(train, test=test)
    assert "c" in {e.intent for e in splits.train} and "c" not in {e.intent for e in splits.val}
    [warning] = [w for w in splits.warnings if "too few examples" in w]
    assert "c (1 example: " in warning and warning.endswith("t.jsonl:21) left out of validation")
    assert not any("no training example" in w for w in splits.warnings)  # c is trained on


def test_a_split_of_only_rare_intents_is_still_a_clear_error(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", [("one", "a"), ("two", "b")])
    with pytest.raises(DataError, match="the val split is empty; add examples or a val file"):
        from_files(train)


def test_intent_only_in_test_is_kept_and_named(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    test = write_jsonl(tmp_path / "s.jsonl", [("something else", "c"), ("more", "c")])
    splits = from_files(train, test=test)
    assert [e.intent for e in splits.test] == ["c", "c"]
    assert splits.warnings == [
        "2 test utterances have intents with no training example, scored as wrong: c (2)"
    ]


def test_intent_only_in_validation_is_kept_for_the_figures_and_named(tmp_path):
    """Scored (as wrong) with the rest of val; only `val_known` feeds what needs a class."""
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    rows = [("fresh a", "a"), ("something else", "c"), ("odd", "d"), ("odder", "c")]
    splits = from_files(train, val=write_jsonl(tmp_path / "v.jsonl", rows))
    assert [e.intent for e in splits.val] == ["a", "c", "d", "c"]
    assert [e.intent for e in splits.val_known] == ["a"]
    assert [w for w in splits.warnings if "validation utterances" in w] == [
        "3 validation utterances have intents with no training example, scored as wrong: "
        "c (2), d (1)"
    ]


def test_a_validation_file_of_only_unseen_intents_is_a_clear_error(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 10) + many("b", 10))
    val = write_jsonl(tmp_path / "v.jsonl", [("something else", "c")])
    with pytest.raises(DataError, match="no validation utterance has an intent of the training"):
        from_files(train, val=val)


def test_bundled_data_is_big_enough_and_disjoint():
    splits = from_bundled()
    intents = {e.intent for e in splits.train}
    assert len(intents - {"oos"}) >= 25
    assert sum(e.intent == "oos" for e in (*splits.train, *splits.val, *splits.test)) >= 150
    total = len(splits.train) + len(splits.val) + len(splits.test)
    assert len(splits.test) / total >= 0.15
    assert ("What time is it?", "time") in {(e.text, e.intent) for e in splits.train + splits.val}


def bio_rows(intent: str, count: int) -> list[tuple[str, str, str]]:
    return [(f"{intent} song {n} by  x{n}", "O O O O B-artist", intent) for n in range(count)]


def test_bio_folders_keep_official_splits(tmp_path):
    write_bio(
        tmp_path / "train", [*bio_rows("Play", 4), *bio_rows("Play", 2), *bio_rows("Rate", 3)]
    )
    write_bio(tmp_path / "val", [*bio_rows("Play", 1), ("rate  it", "O I-stars", "Rate")])
    write_bio(tmp_path / "test", bio_rows("Rate", 2))
    splits = from_bio_folders(str(tmp_path))
    # train deduplicated; val, test whole
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7, 2, 2)
    example = splits.train[0]
    assert example.text == "Play song 0 by x0"
    assert [example.surface(e) for e in example.entities] == ["x0"]
    assert splits.warnings == [
        f"{tmp_path / 'val' / 'seq.out'}:2: read as B- (they continued no span): I-stars at word 2",
        "2 repeated training utterances merged",
    ]


def test_bio_folders_need_all_three_splits(tmp_path):
    write_bio(tmp_path / "train", bio_rows("Play", 2))
    write_bio(tmp_path / "valid", bio_rows("Play", 2))
    with pytest.raises(DataError, match=r"no test/ folder; a BIO data set holds train/, valid/"):
        from_bio_folders(str(tmp_path))


def test_files_may_be_bio_folders_and_carry_training_synonyms(tmp_path):
    train = write_bio(tmp_path / "train", bio_rows("Play", 10) + bio_rows("Rate", 10))
    assert len(from_files(str(train), seed=1).train) == 16
    rasa = tmp_path / "nlu.yml"
    rasa.write_text(
        "nlu:\n- synonym: New York\n  examples: |\n    - NYC\n"
        + "".join(
            f"- intent: {name}\n  examples: |\n"
            + "".join(f"    - {name} [Big Apple](city:New York) {n}\n" for n in range(10))
            for name in ("go", "stay")
        )
    )
    splits = from_files(str(rasa))
    assert splits.synonyms == {"nyc": "New York", "big apple": "New York"}
    assert all(e.entities[0].value == "New York" for e in splits.test)


def test_entity_types_only_in_test_are_named(tmp_path):
    def rows(intent: str, kind: str, count: int) -> list[str]:
        return [
            json.dumps(
                {
                    "text": f"{intent} in paris {n}",
                    "intent": intent,
                    "entities": [
                        {"start": len(intent) + 4, "end": len(intent) + 9, "entity": kind}
                    ],
                }
            )
            for n in range(count)
        ]

    (tmp_path / "t.jsonl").write_text("\n".join(rows("go", "city", 10) + rows("stay", "city", 10)))
    (tmp_path / "s.jsonl").write_text("\n".join(rows("go", "town", 2)))
    splits = from_files(str(tmp_path / "t.jsonl"), test=str(tmp_path / "s.jsonl"))
    assert (
        "2 test entities have types with no training example, counted as missed: town (2)"
        in splits.warnings
    )


def test_extra_files_join_the_training_split_only(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", many("a", 20) + many("b", 20))
    base = from_files(train, seed=2)
    relabel = next(e for e in base.train if e.intent == "a")
    reviewed = [(relabel.text, "b"), ("brand new", "c"), ("brand new!", "c")]
    reviewed.append((base.val[0].text, base.val[0].intent))  # already a validation utterance
    extra = write_jsonl(tmp_path / "reviewed.jsonl", reviewed)
    splits = from_files(train, seed=2, extra=[str(extra)])
    assert splits.test == base.test  # val and test carved as before, without the extra rows
    assert splits.val == base.val[1:]  # and no validation utterance is also trained on
    labels = {e.text: e.intent for e in splits.train}
    assert labels["brand new"] == "c" and "brand new!" not in labels  # repeats merged
    assert labels[relabel.text] == "b"  # the reviewed label replaced the data's
    assert len(splits.train) == len(base.train) + 2  # new: "brand new" and the val utterance
    [relabelled] = [w for w in splits.warnings if "take the label data.extra gives" in w]
    assert f"'a' at {relabel.source} -> 'b' at {extra}:1" in relabelled
    assert "data.extra: 3 utterances added to the training split (1 of them" in "\n".join(
        splits.warnings
    )


def test_every_data_option_takes_extra_files(tmp_path):
    extra = write_jsonl(tmp_path / "reviewed.jsonl", [("hello my old friend", "greeting")])
    cfg = compose_config(f"data.extra=[{extra}]")
    assert ("hello my old friend", "greeting") in {
        (e.text, e.intent) for e in instantiate(cfg.data).train
    }
    write_bio(tmp_path / "bio" / "train", bio_rows("Play", 3) + bio_rows("Rate", 3))
    write_bio(tmp_path / "bio" / "valid", bio_rows("Play", 1))
    write_bio(tmp_path / "bio" / "test", bio_rows("Rate", 1))
    bio_extra = write_jsonl(tmp_path / "more.jsonl", [("rate this one", "Rate")])
    splits = from_bio_folders(str(tmp_path / "bio"), extra=[str(bio_extra)])
    assert splits.train[-1].text == "rate this one"
    assert all(e.text != "rate this one" for e in (*splits.val, *splits.test))
