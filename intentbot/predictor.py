"""The one inference path: texts -> ranked intents with the out-of-scope decision applied.

Training (validation and test scoring), evaluation, the HTTP service and the local chat all
call `Predictor`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from intentbot.artifact import Bundle


@dataclass(frozen=True)
class ScoredIntent:
    intent: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """`intent` is the out-of-scope label when `out_of_scope`; `confidence` is the model's
    top-1 probability either way."""

    text: str
    intent: str
    confidence: float
    out_of_scope: bool
    ranking: list[ScoredIntent]


class Predictor:
    def __init__(
        self,
        bundle: Bundle,
        threshold: float | None = None,
        ambiguity_threshold: float | None = None,
        batch_size: int = 256,
    ) -> None:
        overrides = {"threshold": threshold, "ambiguity_threshold": ambiguity_threshold}
        self.decision = replace(
            bundle.decision, **{key: value for key, value in overrides.items() if value is not None}
        )
        self.net = bundle.net.eval()
        self.tokenizer = bundle.tokenizer
        self.labels = bundle.labels
        self.batch_size = batch_size

    @property
    def oos_label(self) -> str:
        return self.labels.oos_label

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) raw logits, computed in batches of `batch_size`."""
        if not texts:
            return torch.empty(0, len(self.labels))
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            ids, lengths = self.tokenizer.encode(texts[start : start + self.batch_size])
            chunks.append(self.net(ids, lengths))
        return torch.cat(chunks)

    def predict(self, texts: Sequence[str], top_k: int = 5) -> list[Prediction]:
        probs = self.decision.probabilities(self.logits(texts))  # (N, C)
        flagged = self.decision.out_of_scope(probs, self.labels.oos_index).tolist()
        top = probs.topk(min(top_k, probs.size(-1)), dim=-1)
        names = self.labels.names
        predictions = []
        for text, values, indices, out_of_scope in zip(
            texts, top.values.tolist(), top.indices.tolist(), flagged, strict=True
        ):
            ranking = [
                ScoredIntent(names[i], value) for value, i in zip(values, indices, strict=False)
            ]
            intent = self.oos_label if out_of_scope else ranking[0].intent
            predictions.append(Prediction(text, intent, values[0], out_of_scope, ranking))
        return predictions
