"""The one inference path: texts -> ranked intents with the out-of-scope decision applied, and
the entities of a model with a tagging head.

Training (validation and test scoring), evaluation, the HTTP service and the local chat all
call `Predictor`, so they cannot disagree. It computes logits with ONNX Runtime by default
(`engine`, see intentbot/engine/runtime.py); `engine="torch"` runs the same weights in torch.
numpy throughout: with the ONNX engine a process that predicts never imports torch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from intentbot.bundle import Bundle
from intentbot.engine.choice import make_engine
from intentbot.oos import OosDecision, top_classes
from intentbot.records import DEFAULT_TOP_K
from intentbot.tagging import ExtractedEntity, decode


@dataclass(frozen=True)
class ScoredIntent:
    """One row of a `Prediction.ranking`: an intent and its calibrated probability."""

    intent: str
    confidence: float


@dataclass(frozen=True)
class Prediction:
    """`intent` is the out-of-scope label when `out_of_scope`; `confidence` is the model's
    top-1 probability either way. `ranking` is the model's top intents, most likely first, as
    they were before the out-of-scope decision; `entities` the spans found in `text` ([] for a
    model without a tagging head)."""

    text: str
    intent: str
    confidence: float
    out_of_scope: bool
    ranking: list[ScoredIntent]
    entities: list[ExtractedEntity] = field(default_factory=list)

    def top(self, k: int) -> Prediction:
        """The same prediction, its ranking cut to the first `k`: one forward pass may rank
        further than a caller asked (a service keeping five for review)."""
        return replace(self, ranking=self.ranking[:k])


class Predictor:
    """A bundle ready to answer: texts -> logits -> `Prediction`s. The only inference path, so
    training's scores, evaluation, the service and the chat cannot disagree; `threshold` and
    `ambiguity_threshold` override the bundle's decision when given; `threads`: how many length
    groups of a batch run at once (default: `intentbot.engine.runtime.default_threads`)."""

    def __init__(
        self,
        bundle: Bundle,
        threshold: float | None = None,
        ambiguity_threshold: float | None = None,
        batch_size: int = 256,
        sort_by_length: bool = True,
        engine: str = "onnx",
        threads: int | None = None,
    ) -> None:
        overrides = {"threshold": threshold, "ambiguity_threshold": ambiguity_threshold}
        self.decision = replace(
            bundle.decision, **{key: value for key, value in overrides.items() if value is not None}
        )
        self.engine = make_engine(bundle, engine, threads)
        self.tokenizer = bundle.tokenizer
        self.labels = bundle.labels
        self.tag_set, self.synonyms = bundle.tag_set, bundle.synonyms
        self.gazetteer = bundle.gazetteer
        self.ngrams = bundle.ngrams
        self.batch_size = batch_size
        # Texts of similar length share a chunk, so a chunk pads little: same decisions on all
        # 5,500 CLINC150 test utterances, faster in batches (see BENCHMARKS.md).
        self.sort_by_length = sort_by_length

    def with_decision(self, decision: OosDecision) -> Predictor:
        """The same network and engine under another out-of-scope decision: a new engine would
        start its ONNX Runtime sessions again."""
        other = copy.copy(self)
        other.decision = decision
        return other

    @property
    def oos_label(self) -> str:
        """The intent a `Prediction` names when it is out of scope."""
        return self.labels.oos_label

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """(N, C) raw logits in the order of `texts`, computed in chunks of `batch_size`."""
        return self._infer(texts, entities=False)[0]

    def decide(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, list[list[ExtractedEntity]]]:
        """Calibrated probabilities (N, C), the out-of-scope flags (N,) and the entities of
        `texts`: what scoring needs of the whole distribution, where `predict` keeps its top."""
        logits, found = self._infer(texts)
        probs = self.decision.probabilities(logits)
        return probs, self.decision.out_of_scope(probs, self.labels.oos_index), found

    def _infer(
        self, texts: Sequence[str], entities: bool = True
    ) -> tuple[np.ndarray, list[list[ExtractedEntity]]]:
        """(N, C) raw logits and each text's entities, in the order of `texts`; the entities are
        [] without a tagging head or `entities`, and then no offsets are computed."""
        if not texts:
            return np.empty((0, len(self.labels)), np.float32), []
        tagging = entities and self.tag_set is not None
        order = list(range(len(texts)))
        sort = self.sort_by_length and len(texts) > 1
        if sort:
            order.sort(key=lambda index: len(texts[index]))
        chunks, found = [], []
        for start in range(0, len(texts), self.batch_size):
            chunk = [texts[index] for index in order[start : start + self.batch_size]]
            grams = self.ngrams.bag(chunk) if self.ngrams is not None else None
            if not tagging and self.gazetteer is None:
                chunks.append(self.engine(*self.tokenizer.encode(chunk), None, grams).intents)
                continue
            ids, lengths, offsets = self.tokenizer.encode_with_offsets(chunk)
            intents, tags = self.engine(ids, lengths, self.matches(chunk, offsets), grams)
            chunks.append(intents)
            if tagging:
                found += decode(tags, lengths, offsets, chunk, self.tag_set, self.synonyms)
        logits = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]  # (N, C) in `order`
        if sort:
            restored = np.empty_like(logits)
            restored[order] = logits
            logits = restored
        if not tagging:
            return logits, [[] for _ in texts]
        in_place: list[list[ExtractedEntity]] = [[] for _ in texts]
        for position, index in enumerate(order):
            in_place[index] = found[position]
        return logits, in_place

    def matches(self, texts: Sequence[str], offsets: np.ndarray) -> np.ndarray | None:
        """(B, T, G) known-name features of a batch tokenized into `offsets` (B, T, 2); None
        for a network that reads none."""
        if self.gazetteer is None:
            return None
        rows = [
            self.gazetteer.features(text, row)
            for text, row in zip(texts, offsets.tolist(), strict=True)
        ]
        return np.array(rows, np.float32)

    def predict(
        self, texts: Sequence[str], top_k: int | Sequence[int] = DEFAULT_TOP_K
    ) -> list[Prediction]:
        """One `Prediction` per text, in order, with the out-of-scope decision applied, its
        `top_k` most likely intents as its ranking (one number for all, or one per text: the
        callers a service batches together each ask their own) and the entities found."""
        widths = [top_k] * len(texts) if isinstance(top_k, int) else list(top_k)
        logits, found = self._infer(texts)
        probs = self.decision.probabilities(logits)  # (N, C)
        # two at least: the out-of-scope decision reads the top-1 minus top-2 margin
        top_values, top_indices = top_classes(probs, max([2, *widths]))
        flagged = self.decision.out_of_scope_from_top(
            top_values, top_indices, self.labels.oos_index
        )
        names = self.labels.names
        predictions = []
        for text, width, values, indices, out_of_scope, entities in zip(
            texts,
            widths,
            top_values.tolist(),
            top_indices.tolist(),
            flagged.tolist(),
            found,
            strict=True,
        ):
            ranking = [
                ScoredIntent(names[i], value)
                for value, i in zip(values[:width], indices[:width], strict=True)
            ]
            intent = self.oos_label if out_of_scope else ranking[0].intent
            predictions.append(Prediction(text, intent, values[0], out_of_scope, ranking, entities))
        return predictions
