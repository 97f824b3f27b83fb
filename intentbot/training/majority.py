"""Did the model learn anything? Its top-1 accuracy against always answering the most frequent
training intent, on the validation utterances of known intents: a model no better than that
is worth a warning, which its scores alone do not give."""

from __future__ import annotations

from collections import Counter

from intentbot.predictor import Predictor
from intentbot.splits import Splits


def majority_note(
    predictor: Predictor, splits: Splits, epochs: int, pretrained: bool
) -> str | None:
    """The warning, or None when the model beats the majority answer; `epochs` and
    `pretrained` (the run's) shape the advice."""
    val = splits.val_known
    counts = Counter(example.intent for example in splits.train)
    top = max(counts.values())
    # a tie for the most frequent: the constant answer that scores best on validation
    baseline, majority = max(
        (sum(example.intent == intent for example in val) / len(val), intent)
        for intent, count in counts.items()
        if count == top
    )
    answers = predictor.logits([example.text for example in val]).argmax(axis=-1)
    names = predictor.labels.names
    accuracy = sum(
        names[answer] == example.intent for answer, example in zip(answers, val, strict=True)
    ) / len(val)
    if accuracy > baseline:
        return None
    return (
        f"the best model's validation accuracy ({accuracy:.3f}) is no better than always "
        f"answering {majority!r}, the most frequent training intent ({baseline:.3f}); try more "
        f"epochs (this run planned {epochs}: trainer.max_epochs=N), "
        f"model.pretrained={'null' if pretrained else 'minilm'}, or more examples per intent"
    )
