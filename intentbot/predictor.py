"""The one inference path: texts -> ranked intents with the out-of-scope decision applied.

Training (validation and test scoring), evaluation, the HTTP service and the local chat all
call `Predictor`, so they cannot disagree. It computes logits with ONNX Runtime by default
(`engine`, see intentbot/engine/runtime.py); `engine="torch"` runs the same weights in torch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from intentbot.bundle import Bundle
from intentbot.engine.runtime import make_engine
from intentbot.oos import OosDecision


@dataclass(frozen=True)
class ScoredIntent:
    """One row of a `Prediction.ranking`: an intent and its calibrated probability."""

    intent: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """`intent` is the out-of-scope label when `out_of_scope`; `confidence` is the model's
    top-1 probability either way. `ranking` is the model's top intents, most likely first, as
    they were before the out-of-scope decision."""

    text: str
    intent: str
    confidence: float
    out_of_scope: bool
    ranking: list[ScoredIntent]


class Predictor:
    """A bundle ready to answer: texts -> logits -> `Prediction`s. The only inference path, so
    training's scores, evaluation, the service and the chat cannot disagree; `threshold` and
    `ambiguity_threshold` override the bundle's decision when given."""

    def __init__(
        self,
        bundle: Bundle,
        threshold: float | None = None,
        ambiguity_threshold: float | None = None,
        batch_size: int = 256,
        sort_by_length: bool = True,
        engine: str = "onnx",
    ) -> None:
        overrides = {"threshold": threshold, "ambiguity_threshold": ambiguity_threshold}
        self.decision = replace(
            bundle.decision, **{key: value for key, value in overrides.items() if value is not None}
        )
        self.net = bundle.net.eval()
        self.engine = make_engine(self.net, engine)
        self.tokenizer = bundle.tokenizer
        self.labels = bundle.labels
        self.batch_size = batch_size
        # Texts of similar length share a chunk, so a chunk pads little: same decisions on all
        # 5,500 CLINC150 test utterances, faster in batches (see BENCHMARKS.md).
        self.sort_by_length = sort_by_length

    def with_decision(self, decision: OosDecision) -> Predictor:
        """The same network and engine under another out-of-scope decision: building an
        engine costs ~0.5 s and, folded, a table per copy."""
        other = copy.copy(self)
        other.decision = decision
        return other

    @property
    def oos_label(self) -> str:
        """The intent a `Prediction` names when it is out of scope."""
        return self.labels.oos_label

    @torch.inference_mode()
    def logits(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, C) raw logits in the order of `texts`, computed in chunks of `batch_size`."""
        if not texts:
            return torch.empty(0, len(self.labels))
        order = list(range(len(texts)))
        sort = self.sort_by_length and len(texts) > 1
        if sort:
            order.sort(key=lambda index: len(texts[index]))
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            chunk = [texts[index] for index in order[start : start + self.batch_size]]
            ids, lengths = self.tokenizer.encode(chunk)
            chunks.append(self.engine(ids, lengths))
        logits = torch.cat(chunks) if len(chunks) > 1 else chunks[0]  # (N, C) in `order`
        if not sort:
            return logits
        restored = torch.empty_like(logits)
        restored[torch.tensor(order)] = logits
        return restored

    def predict(self, texts: Sequence[str], top_k: int = 5) -> list[Prediction]:
        """One `Prediction` per text, in order, with the out-of-scope decision applied and the
        `top_k` most likely intents as its ranking."""
        probs = self.decision.probabilities(self.logits(texts))  # (N, C)
        top = probs.topk(min(max(top_k, 2), probs.size(-1)), dim=-1)
        flagged = self.decision.out_of_scope_from_top(
            top.values, top.indices, self.labels.oos_index
        )
        names = self.labels.names
        predictions = []
        for text, values, indices, out_of_scope in zip(
            texts, top.values.tolist(), top.indices.tolist(), flagged.tolist(), strict=True
        ):
            ranking = [
                ScoredIntent(names[i], value)
                for value, i in zip(values[:top_k], indices[:top_k], strict=True)
            ]
            intent = self.oos_label if out_of_scope else ranking[0].intent
            predictions.append(Prediction(text, intent, values[0], out_of_scope, ranking))
        return predictions
