"""One model's outcomes on labelled utterances (`Outcomes`), and the figures a report gives about
them: overall scores, per-intent scores, the most-confused pairs, calibration bins and the
errors.

Everything goes through `Predictor` and `scoring`, so a report agrees with metrics.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.predictor import Predictor
from intentbot.scoring import (
    ECE_BINS,
    ClassIndex,
    entity_scores,
    entity_scores_by_type,
    final_predictions,
    per_class_scores,
    prediction_tensors,
    score,
    sentence_accuracy,
)
from intentbot.tagging import ExtractedEntity


@dataclass(frozen=True)
class Outcomes:
    """What a model made of labelled examples, beside their labels: `probs` (N, C), the rest
    (N,).

    `predicted` is the final class index after the out-of-scope decision; index C stands for
    'rejected' when the labels have no out-of-scope class; `classes` names every index,
    intents of the data that the model never saw last (`ClassIndex`).
    """

    examples: Sequence[Example]
    labels: LabelSet
    probs: torch.Tensor
    flagged: torch.Tensor
    predicted: torch.Tensor
    targets: torch.Tensor
    classes: ClassIndex
    found: Sequence[Sequence[ExtractedEntity]] = ()  # per example, what the tagger found

    @property
    def has_entities(self) -> bool:
        """The data has gold entities and the outcomes carry the tagger's (a tagging model)."""
        return bool(self.found) and any(example.entities for example in self.examples)

    @property
    def confidence(self) -> torch.Tensor:
        """(N,) the model's top-1 probability, as `Prediction.confidence` reports it."""
        return self.probs.max(dim=-1).values

    @property
    def correct(self) -> torch.Tensor:
        """(N,) bool: the final answer, out-of-scope decision included, is the label."""
        return self.predicted == self.targets

    @property
    def num_classes(self) -> int:
        """Classes counted: the labels, 'rejected' without an oos label, unseen intents."""
        return len(self.classes)

    @property
    def unseen(self) -> list[str]:
        """Intents of the data that the model has no class for."""
        return self.classes.names[len(self.labels) + (self.labels.oos_index is None) :]

    def name(self, index: int) -> str:
        """The intent a class index stands for; 'rejected' reads as the oos label."""
        return self.classes.names[index]

    def index(self, name: str) -> int:
        """Inverse of `name`."""
        return self.classes.names.index(name)


def outcomes_of(predictor: Predictor, examples: Sequence[Example]) -> Outcomes:
    """Run the one inference path over `examples`; utterances of an intent the model lacks
    are scored as wrong (`Outcomes.unseen` names those intents)."""
    labels = predictor.labels
    classes = ClassIndex(labels.names, labels.oos_index, labels.oos_label)
    targets = classes.targets([example.intent for example in examples])
    probs, flagged, found = prediction_tensors(predictor, examples)
    return Outcomes(
        examples=examples,
        labels=labels,
        probs=probs,
        flagged=flagged,
        predicted=final_predictions(probs, flagged, labels.oos_index),
        targets=targets,
        classes=classes,
        found=found,
    )


def overall(outcomes: Outcomes) -> dict[str, float]:
    """The figures of metrics.json: accuracy, macro_f1, ece, with oos data the oos ones, and
    with entities the entity figures and sentence accuracy."""
    scores = score(outcomes.probs, outcomes.flagged, outcomes.targets, outcomes.labels.oos_index)
    if outcomes.has_entities:
        gold = [example.entities for example in outcomes.examples]
        scores |= entity_scores(gold, outcomes.found)
        scores["sentence_accuracy"] = sentence_accuracy(
            outcomes.correct.tolist(), gold, outcomes.found
        )
    return scores


def per_entity(outcomes: Outcomes) -> list[dict]:
    """Exact-span precision, recall, F1 and support per entity type, worst F1 first."""
    if not outcomes.has_entities:
        return []
    gold = [example.entities for example in outcomes.examples]
    rows = [
        {"entity": kind, **figures}
        for kind, figures in entity_scores_by_type(gold, outcomes.found).items()
    ]
    return sorted(rows, key=lambda row: (row["f1"], -row["support"], row["entity"]))


def entity_errors(outcomes: Outcomes) -> list[dict]:
    """Every entity mistake, in data order: `missed` (a gold span nothing overlaps),
    `spurious` (a found span no gold one overlaps), `wrong type` (overlapping spans of other
    types) and `wrong boundary` (the same type, other offsets)."""
    if not outcomes.has_entities:
        return []
    records = []
    for example, found in zip(outcomes.examples, outcomes.found, strict=True):
        gold = {(e.start, e.end, e.entity) for e in example.entities}
        predicted = {(e.start, e.end, e.entity) for e in found}
        for span in sorted(gold - predicted):
            overlapping = [other for other in predicted - gold if _overlap(span, other)]
            if not overlapping:
                records.append(_entity_error(example, "missed", span, None))
            for other in overlapping:
                error = "wrong boundary" if other[2] == span[2] else "wrong type"
                records.append(_entity_error(example, error, span, other))
        for span in sorted(predicted - gold):
            if not any(_overlap(span, other) for other in gold - predicted):
                records.append(_entity_error(example, "spurious", None, span))
    return records


def _overlap(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _entity_error(
    example: Example,
    error: str,
    expected: tuple[int, int, str] | None,
    found: tuple[int, int, str] | None,
) -> dict:
    def span(item: tuple[int, int, str] | None) -> dict | None:
        if item is None:
            return None
        start, end, kind = item
        return {"entity": kind, "start": start, "end": end, "text": example.text[start:end]}

    return {
        "kind": "entity",
        "error": error,
        "text": example.text,
        "expected": span(expected),
        "found": span(found),
        "source": example.source,
    }


def confusion_counts(outcomes: Outcomes) -> torch.Tensor:
    """(K, K) counts, rows true and columns predicted, K = `outcomes.num_classes`."""
    classes = outcomes.num_classes
    pairs = outcomes.targets * classes + outcomes.predicted
    return torch.bincount(pairs, minlength=classes * classes).view(classes, classes)


def per_intent(outcomes: Outcomes) -> list[dict]:
    """Precision, recall, F1, support and the most frequent wrong answer of every intent in
    the data, worst F1 first (ties: the larger support first)."""
    scores = per_class_scores(outcomes.predicted, outcomes.targets, outcomes.num_classes)
    counts = confusion_counts(outcomes).fill_diagonal_(0)  # (K, K) errors only
    rows = []
    for index in torch.nonzero(scores["support"] > 0).flatten().tolist():
        worst = int(counts[index].argmax())
        rows.append(
            {
                "intent": outcomes.name(index),
                "precision": float(scores["precision"][index]),
                "recall": float(scores["recall"][index]),
                "f1": float(scores["f1"][index]),
                "support": int(scores["support"][index]),
                "top_confusion": outcomes.name(worst) if counts[index, worst] > 0 else None,
                "top_confusion_count": int(counts[index, worst]),
            }
        )
    return sorted(rows, key=lambda row: (row["f1"], -row["support"], row["intent"]))


def confused_pairs(
    outcomes: Outcomes, limit: int | None = None, between_intents: bool = False
) -> list[dict]:
    """(true, predicted) pairs that differ, most frequent first; `between_intents` leaves out
    pairs with the out-of-scope label (on CLINC150 those crowd out every other pair)."""
    counts = confusion_counts(outcomes).fill_diagonal_(0)
    oos = outcomes.index(outcomes.labels.oos_label)
    if between_intents and oos < outcomes.num_classes:
        counts[oos, :] = counts[:, oos] = 0
    flat = counts.flatten()
    order = torch.argsort(flat, descending=True, stable=True)
    pairs = []
    for position in order.tolist():
        count = int(flat[position])
        if count == 0 or (limit is not None and len(pairs) == limit):
            break
        true, predicted = divmod(position, outcomes.num_classes)
        pairs.append(
            {"true": outcomes.name(true), "predicted": outcomes.name(predicted), "count": count}
        )
    return pairs


def out_of_scope_errors(outcomes: Outcomes) -> dict[str, int]:
    """Out-of-scope utterances answered with an intent, and in-scope ones rejected."""
    oos = outcomes.labels.oos_label
    wrong = [
        (example.intent == oos, outcomes.name(predicted) == oos)
        for example, predicted in zip(outcomes.examples, outcomes.predicted.tolist(), strict=True)
        if outcomes.name(predicted) != example.intent
    ]
    return {
        "oos_taken_as_intent": sum(true_oos for true_oos, _ in wrong),
        "intent_rejected_as_oos": sum(said_oos for _, said_oos in wrong),
    }


def reliability_bins(outcomes: Outcomes, bins: int = ECE_BINS) -> list[dict]:
    """Top-1 confidence against accuracy on in-scope utterances, binned as scoring's ECE is
    (torchmetrics: equal-width bins, [lower, upper), 1.0 in the last one)."""
    in_scope = _in_scope(outcomes)
    confidence, top = outcomes.probs[in_scope].max(dim=-1)
    hits = (top == outcomes.targets[in_scope]).float()
    edges = torch.linspace(0, 1, bins + 1)
    index = (torch.bucketize(confidence, edges, right=True) - 1).clamp(0, bins - 1)
    rows = []
    for number in range(bins):
        members = index == number
        count = int(members.sum())
        rows.append(
            {
                "lower": float(edges[number]),
                "upper": float(edges[number + 1]),
                "count": count,
                "confidence": float(confidence[members].mean()) if count else None,
                "accuracy": float(hits[members].mean()) if count else None,
            }
        )
    return rows


def errors(outcomes: Outcomes) -> list[dict]:
    """Every utterance the final decision got wrong, in data order."""
    confidence = outcomes.confidence.tolist()
    return [
        {
            "kind": "intent",
            "text": example.text,
            "true": example.intent,
            "predicted": outcomes.name(predicted),
            "confidence": round(confidence[row], 4),
            "out_of_scope": bool(outcomes.flagged[row]),
            "source": example.source,
        }
        for row, (example, predicted) in enumerate(
            zip(outcomes.examples, outcomes.predicted.tolist(), strict=True)
        )
        if predicted != int(outcomes.targets[row])
    ]


def summarise(outcomes: Outcomes, model: str, top_confusions: int = 20) -> dict:
    """What report.json holds (the errors themselves go to errors.jsonl)."""
    return {
        "model": model,
        "examples": len(outcomes.examples),
        "overall": overall(outcomes),
        "errors": int((~outcomes.correct).sum()),
        "per_intent": per_intent(outcomes),
        "per_entity": per_entity(outcomes),
        "confusions": confused_pairs(outcomes, top_confusions),
        "confusions_between_intents": confused_pairs(outcomes, top_confusions, True),
        "out_of_scope_errors": out_of_scope_errors(outcomes),
        "reliability": reliability_bins(outcomes),
    }


def _in_scope(outcomes: Outcomes) -> torch.Tensor:
    """(N,) in-scope utterances of intents the model has (what calibration can be read on)."""
    known = outcomes.targets < len(outcomes.labels)
    oos_index = outcomes.labels.oos_index
    return known if oos_index is None else known & (outcomes.targets != oos_index)
