"""Scores of a model's final decisions: the scores metrics.json and evaluation reports carry.

Rates are fractions in [0, 1]. In-scope accuracy and out-of-scope recall are the two scores
of the CLINC150 paper; ECE is measured on in-scope utterances. Every labelled utterance counts:
one whose intent the model never saw counts as wrong (`ClassIndex`), never as an error.
Entities count as CoNLL counts them: a span is right when its start, end and type all are (no
credit for overlaps).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torchmetrics.functional.classification import (
    multiclass_calibration_error,
    multiclass_stat_scores,
)

if TYPE_CHECKING:
    from intentbot.examples import Entity, Example
    from intentbot.predictor import Predictor
    from intentbot.tagging import ExtractedEntity

ECE_BINS = 15


class ClassIndex:
    """Intent names <-> the class indices that scores count in: the model's labels, then
    'rejected' when the labels have no out-of-scope class, then intents the model never saw
    (no prediction can take those, so they are always wrong)."""

    def __init__(self, names: Sequence[str], oos_index: int | None, oos_label: str) -> None:
        self.names = list(names)
        self.oos_label = oos_label
        if oos_index is None:
            self.names.append(oos_label)  # 'rejected'
        self._positions = {name: index for index, name in enumerate(self.names)}

    def targets(self, intents: Sequence[str]) -> torch.Tensor:
        """(N,) indices of `intents`; unseen intents are appended to the names first."""
        for intent in intents:
            if intent not in self._positions:
                self._positions[intent] = len(self.names)
                self.names.append(intent)
        return torch.tensor([self._positions[intent] for intent in intents], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.names)


def final_predictions(
    probs: torch.Tensor, flagged: torch.Tensor, oos_index: int | None
) -> torch.Tensor:
    """(B,) class indices after the out-of-scope decision; C means 'rejected' when the
    labels have no out-of-scope class."""
    rejected = oos_index if oos_index is not None else probs.size(-1)
    return probs.argmax(dim=-1).masked_fill(flagged, rejected)


def score(
    probs: torch.Tensor, flagged: torch.Tensor, targets: torch.Tensor, oos_index: int | None
) -> dict[str, float]:
    """accuracy (final decisions), argmax_accuracy (top-1, no out-of-scope decision),
    coverage (share answered, not rejected), macro_f1, ece, and with out-of-scope targets
    in_scope_accuracy, oos_recall and oos_precision. `targets` may hold indices past the
    model's classes (intents it never saw, see `ClassIndex`): they count as wrong."""
    known = probs.size(-1)
    num_classes = max(known + (oos_index is None), int(targets.max()) + 1 if len(targets) else 0)
    predicted = final_predictions(probs, flagged, oos_index)
    per_class = per_class_scores(predicted, targets, num_classes)
    supported = per_class["support"] > 0
    in_scope = targets != oos_index if oos_index is not None else torch.ones_like(flagged)
    calibrated = in_scope & (targets < known)  # ECE needs a class the model has
    scores = {
        "accuracy": _rate(predicted == targets),
        "argmax_accuracy": _rate(probs.argmax(dim=-1) == targets),
        "coverage": _rate(~flagged),
        "macro_f1": float(per_class["f1"][supported].mean()),
        "ece": float(
            multiclass_calibration_error(
                probs[calibrated], targets[calibrated], known, n_bins=ECE_BINS
            )
        )
        if bool(calibrated.any())
        else 0.0,
    }
    if oos_index is not None and not bool(in_scope.all()):
        scores["in_scope_accuracy"] = _rate((predicted == targets)[in_scope])
        scores["oos_recall"] = _rate(flagged[~in_scope])
        scores["oos_precision"] = _rate(~in_scope[flagged]) if bool(flagged.any()) else 0.0
    return scores


def per_class_scores(
    predicted: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> dict[str, torch.Tensor]:
    """Per-class precision, recall, F1 and support, each (C,)."""
    stats = multiclass_stat_scores(predicted, targets, num_classes, average=None)  # (C, 5)
    tp, fp, _, fn, support = stats.unbind(dim=-1)
    precision = tp / (tp + fp).clamp(min=1)
    recall = tp / (tp + fn).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _rate(hits: torch.Tensor) -> float:
    return float(hits.float().mean()) if hits.numel() else 0.0


def prediction_tensors(
    predictor: Predictor, examples: Sequence[Example]
) -> tuple[torch.Tensor, torch.Tensor, list[list[ExtractedEntity]]]:
    """The predictor's calibrated probabilities (N, C), out-of-scope flags (N,) and entities
    over `examples`, as tensors for the scores."""
    probs, flagged, found = predictor.decide([example.text for example in examples])
    return torch.from_numpy(probs), torch.from_numpy(flagged), found


def score_examples(predictor: Predictor, examples: Sequence[Example]) -> dict[str, float]:
    """Run the predictor's final decision over labelled examples and score it; with gold
    entities, also the entity figures and `sentence_accuracy` (intent and every span right)."""
    labels = predictor.labels
    probs, flagged, found = prediction_tensors(predictor, examples)
    index = ClassIndex(labels.names, labels.oos_index, labels.oos_label)
    targets = index.targets([example.intent for example in examples])
    scores = score(probs, flagged, targets, labels.oos_index)
    gold = [example.entities for example in examples]
    if any(gold):
        right = final_predictions(probs, flagged, labels.oos_index) == targets
        scores |= entity_scores(gold, found)
        scores["sentence_accuracy"] = sentence_accuracy(right.tolist(), gold, found)
    return scores


Span = tuple[int, int, str]  # start, end, entity type


def _spans(entities: Sequence[Entity | ExtractedEntity]) -> set[Span]:
    return {(entity.start, entity.end, entity.entity) for entity in entities}


def entity_counts(
    gold: Sequence[Sequence[Entity]], found: Sequence[Sequence[ExtractedEntity]]
) -> dict[str, Counter]:
    """Per entity type, exact-span true positives (`tp`), false positives (`fp`) and misses
    (`fn`); a gold type the model cannot predict is all misses."""
    counts: dict[str, Counter] = {}
    for expected, predicted in zip(gold, found, strict=True):
        expected_spans, predicted_spans = _spans(expected), _spans(predicted)
        for spans, outcome in (
            (expected_spans & predicted_spans, "tp"),
            (predicted_spans - expected_spans, "fp"),
            (expected_spans - predicted_spans, "fn"),
        ):
            for _, _, kind in spans:
                counts.setdefault(kind, Counter())[outcome] += 1
    return counts


def _precision_recall_f1(counts: Counter) -> dict[str, float]:
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_scores(
    gold: Sequence[Sequence[Entity]], found: Sequence[Sequence[ExtractedEntity]]
) -> dict[str, float]:
    """`entity_precision`, `entity_recall` and `entity_f1`, micro-averaged over types."""
    total = sum(entity_counts(gold, found).values(), Counter())
    return {f"entity_{name}": value for name, value in _precision_recall_f1(total).items()}


def entity_scores_by_type(
    gold: Sequence[Sequence[Entity]], found: Sequence[Sequence[ExtractedEntity]]
) -> dict[str, dict[str, float]]:
    """Per entity type (sorted): precision, recall, F1 and support (gold spans)."""
    return {
        kind: {**_precision_recall_f1(counts), "support": counts["tp"] + counts["fn"]}
        for kind, counts in sorted(entity_counts(gold, found).items())
    }


def sentence_accuracy(
    intent_right: Sequence[bool],
    gold: Sequence[Sequence[Entity]],
    found: Sequence[Sequence[ExtractedEntity]],
) -> float:
    """Share of utterances whose final intent is right and whose spans are exactly the gold ones
    (start, end and type): the joint intent + slot benchmarks' overall score."""
    hits = [
        right and _spans(expected) == _spans(predicted)
        for right, expected, predicted in zip(intent_right, gold, found, strict=True)
    ]
    return sum(hits) / len(hits) if hits else 0.0
