"""Entity figures on exact spans, CoNLL style: micro-averaged over types, per type, and the
sentence accuracy of the joint benchmarks."""

from __future__ import annotations

import pytest
import torch

from intentbot.evaluation.outcomes import Outcomes, entity_errors
from intentbot.examples import Entity, Example
from intentbot.labels import LabelSet
from intentbot.scoring import (
    ClassIndex,
    entity_scores,
    entity_scores_by_type,
    sentence_accuracy,
)
from intentbot.tagging import ExtractedEntity


def found(start: int, end: int, kind: str) -> ExtractedEntity:
    return ExtractedEntity(kind, "v", start, end, "t", 0.9)


GOLD = [
    (Entity(0, 5, "city"), Entity(10, 15, "date")),
    (Entity(3, 8, "city"),),
    (),
    (Entity(0, 4, "artist"),),  # a type the model never saw: always missed
]
FOUND = [
    [found(0, 5, "city"), found(10, 15, "date")],  # both right
    [found(3, 9, "city")],  # one character too long: wrong, no credit for overlap
    [found(1, 2, "date")],  # a span where there is none
    [],
]


def test_micro_scores_count_exact_spans_only() -> None:
    scores = entity_scores(GOLD, FOUND)
    assert scores["entity_precision"] == pytest.approx(2 / 4)
    assert scores["entity_recall"] == pytest.approx(2 / 4)
    assert scores["entity_f1"] == pytest.approx(0.5)


def test_per_type_scores_and_support() -> None:
    table = entity_scores_by_type(GOLD, FOUND)
    assert list(table) == ["artist", "city", "date"]
    assert table["artist"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert table["city"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert table["date"]["precision"] == 0.5 and table["date"]["recall"] == 1.0
    assert table["date"]["support"] == 1


def test_the_type_must_match_too() -> None:
    scores = entity_scores([(Entity(0, 5, "city"),)], [[found(0, 5, "date")]])
    assert scores == {"entity_precision": 0.0, "entity_recall": 0.0, "entity_f1": 0.0}


def test_sentence_accuracy_needs_the_intent_and_every_span() -> None:
    # 1: all right; 2: a span wrong; 3: intent wrong; 4: no spans either side, intent right
    gold = [GOLD[0], GOLD[1], GOLD[0], ()]
    predicted = [FOUND[0], FOUND[1], FOUND[0], []]
    assert sentence_accuracy([True, True, False, True], gold, predicted) == pytest.approx(2 / 4)


def test_entity_mistakes_are_named_by_kind():
    examples = [
        Example(
            "in paris on friday", "weather", "t:1", (Entity(3, 8, "city"), Entity(12, 18, "date"))
        ),
        Example("play jazz now", "music", "t:2", (Entity(5, 9, "genre"),)),
    ]
    outcomes = Outcomes(
        examples=examples,
        labels=LabelSet(("music", "weather")),
        probs=torch.tensor([[0.1, 0.9], [0.9, 0.1]]),
        flagged=torch.tensor([False, False]),
        predicted=torch.tensor([1, 0]),
        targets=torch.tensor([1, 0]),
        classes=ClassIndex(("music", "weather"), None, "oos"),
        found=[
            [found(3, 8, "date"), found(12, 16, "date")],  # wrong type, wrong boundary
            [found(10, 13, "genre")],  # jazz missed, "now" spurious
        ],
    )
    errors = [(e["error"], (e["expected"] or e["found"])["text"]) for e in entity_errors(outcomes)]
    assert errors == [
        ("wrong type", "paris"),
        ("wrong boundary", "friday"),
        ("missed", "jazz"),
        ("spurious", "now"),
    ]
