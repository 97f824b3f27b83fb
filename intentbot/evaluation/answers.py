"""One model's final decisions on labelled utterances, and the figures a report gives about them:
overall scores, per-intent scores, the most-confused pairs, calibration bins and the errors.

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
    decisions,
    entity_scores,
    entity_scores_by_type,
    final_predictions,
    per_class_scores,
    score,
    sentence_accuracy,
)
from intentbot.tagging import ExtractedEntity


@dataclass(frozen=True)
class Answers:
    """A model's answers to labelled examples: `probs` (N, C), the rest (N,).

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
        """The data has gold entities and the answers carry the tagger's (a tagging model)."""
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


def answer(predictor: Predictor, examples: Sequence[Example]) -> Answers:
    """Run the one inference path over `examples`; utterances of an intent the model lacks
    are scored as wrong (`Answers.unseen` names those intents)."""
    labels = predictor.labels
    classes = ClassIndex(labels.names, labels.oos_index, labels.oos_label)
    targets = classes.targets([example.intent for example in examples])
    probs, flagged, found = decisions(predictor, examples)
    return Answers(
        examples=examples,
        labels=labels,
        probs=probs,
        flagged=flagged,
        predicted=final_predictions(probs, flagged, labels.oos_index),
        targets=targets,
        classes=classes,
        found=found,
    )


def overall(answers: Answers) -> dict[str, float]:
    """The figures of metrics.json: accuracy, macro_f1, ece, with oos data the oos ones, and
    with entities the entity figures and sentence accuracy."""
    scores = score(answers.probs, answers.flagged, answers.targets, answers.labels.oos_index)
    if answers.has_entities:
        gold = [example.entities for example in answers.examples]
        scores |= entity_scores(gold, answers.found)
        scores["sentence_accuracy"] = sentence_accuracy(
            answers.correct.tolist(), gold, answers.found
        )
    return scores


def per_entity(answers: Answers) -> list[dict]:
    """Exact-span precision, recall, F1 and support per entity type, worst F1 first."""
    if not answers.has_entities:
        return []
    gold = [example.entities for example in answers.examples]
    rows = [
        {"entity": kind, **figures}
        for kind, figures in entity_scores_by_type(gold, answers.found).items()
    ]
    return sorted(rows, key=lambda row: (row["f1"], -row["support"], row["entity"]))


def entity_errors(answers: Answers) -> list[dict]:
    """Every entity mistake, in data order: `missed` (a gold span nothing overlaps),
    `spurious` (a found span no gold one overlaps), `wrong type` (overlapping spans of other
    types) and `wrong boundary` (the same type, other offsets)."""
    if not answers.has_entities:
        return []
    records = []
    for example, found in zip(answers.examples, answers.found, strict=True):
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


def confusion_counts(answers: Answers) -> torch.Tensor:
    """(K, K) counts, rows true and columns predicted, K = `answers.num_classes`."""
    classes = answers.num_classes
    pairs = answers.targets * classes + answers.predicted
    return torch.bincount(pairs, minlength=classes * classes).view(classes, classes)


def per_intent(answers: Answers) -> list[dict]:
    """Precision, recall, F1, support and the most frequent wrong answer of every intent in
    the data, worst F1 first (ties: the larger support first)."""
    scores = per_class_scores(answers.predicted, answers.targets, answers.num_classes)
    counts = confusion_counts(answers).fill_diagonal_(0)  # (K, K) errors only
    rows = []
    for index in torch.nonzero(scores["support"] > 0).flatten().tolist():
        worst = int(counts[index].argmax())
        rows.append(
            {
                "intent": answers.name(index),
                "precision": float(scores["precision"][index]),
                "recall": float(scores["recall"][index]),
                "f1": float(scores["f1"][index]),
                "support": int(scores["support"][index]),
                "top_confusion": answers.name(worst) if counts[index, worst] > 0 else None,
                "top_confusion_count": int(counts[index, worst]),
            }
        )
    return sorted(rows, key=lambda row: (row["f1"], -row["support"], row["intent"]))


def confused_pairs(
    answers: Answers, limit: int | None = None, between_intents: bool = False
) -> list[dict]:
    """(true, predicted) pairs that differ, most frequent first; `between_intents` leaves out
    pairs with the out-of-scope label (on CLINC150 those crowd out every other pair)."""
    counts = confusion_counts(answers).fill_diagonal_(0)
    oos = answers.index(answers.labels.oos_label)
    if between_intents and oos < answers.num_classes:
        counts[oos, :] = counts[:, oos] = 0
    flat = counts.flatten()
    order = torch.argsort(flat, descending=True, stable=True)
    pairs = []
    for position in order.tolist():
        count = int(flat[position])
        if count == 0 or (limit is not None and len(pairs) == limit):
            break
        true, predicted = divmod(position, answers.num_classes)
        pairs.append(
            {"true": answers.name(true), "predicted": answers.name(predicted), "count": count}
        )
    return pairs


def out_of_scope_errors(answers: Answers) -> dict[str, int]:
    """Out-of-scope utterances answered with an intent, and in-scope ones rejected."""
    oos = answers.labels.oos_label
    wrong = [
        (example.intent == oos, answers.name(predicted) == oos)
        for example, predicted in zip(answers.examples, answers.predicted.tolist(), strict=True)
        if answers.name(predicted) != example.intent
    ]
    return {
        "oos_taken_as_intent": sum(true_oos for true_oos, _ in wrong),
        "intent_rejected_as_oos": sum(said_oos for _, said_oos in wrong),
    }


def reliability_bins(answers: Answers, bins: int = ECE_BINS) -> list[dict]:
    """Top-1 confidence against accuracy on in-scope utterances, binned as scoring's ECE is
    (torchmetrics: equal-width bins, [lower, upper), 1.0 in the last one)."""
    in_scope = _in_scope(answers)
    confidence, top = answers.probs[in_scope].max(dim=-1)
    hits = (top == answers.targets[in_scope]).float()
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


def errors(answers: Answers) -> list[dict]:
    """Every utterance the final decision got wrong, in data order."""
    confidence = answers.confidence.tolist()
    return [
        {
            "kind": "intent",
            "text": example.text,
            "true": example.intent,
            "predicted": answers.name(predicted),
            "confidence": round(confidence[row], 4),
            "out_of_scope": bool(answers.flagged[row]),
            "source": example.source,
        }
        for row, (example, predicted) in enumerate(
            zip(answers.examples, answers.predicted.tolist(), strict=True)
        )
        if predicted != int(answers.targets[row])
    ]


def summarise(answers: Answers, model: str, top_confusions: int = 20) -> dict:
    """What report.json holds (the errors themselves go to errors.jsonl)."""
    return {
        "model": model,
        "examples": len(answers.examples),
        "overall": overall(answers),
        "errors": int((~answers.correct).sum()),
        "per_intent": per_intent(answers),
        "per_entity": per_entity(answers),
        "confusions": confused_pairs(answers, top_confusions),
        "confusions_between_intents": confused_pairs(answers, top_confusions, True),
        "out_of_scope_errors": out_of_scope_errors(answers),
        "reliability": reliability_bins(answers),
    }


def _in_scope(answers: Answers) -> torch.Tensor:
    """(N,) in-scope utterances of intents the model has (what calibration can be read on)."""
    known = answers.targets < len(answers.labels)
    oos_index = answers.labels.oos_index
    return known if oos_index is None else known & (answers.targets != oos_index)
