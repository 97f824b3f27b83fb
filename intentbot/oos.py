"""The out-of-scope decision (fitted by `intentbot.training.calibration`).

An utterance is out of scope when the model's top class is the out-of-scope label, its
calibrated confidence is under `threshold`, or top-1 minus top-2 is under `ambiguity_threshold`.
numpy only: the decision runs on every request of a serving process, which imports no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class OosDecision:
    """What turns probabilities into an in-scope intent or out-of-scope."""

    threshold: float = 0.0
    ambiguity_threshold: float = 0.0
    temperature: float = 1.0

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """(B, C) logits -> (B, C) calibrated probabilities (float32)."""
        scaled = logits.astype(np.float32, copy=False) / np.float32(self.temperature)
        exponentials = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
        return exponentials / exponentials.sum(axis=-1, keepdims=True)

    def out_of_scope(self, probs: np.ndarray, oos_index: int | None) -> np.ndarray:
        """(B, C) probabilities -> (B,) bool."""
        values, indices = top_classes(probs, 2)
        return self.out_of_scope_from_top(values, indices, oos_index)

    def out_of_scope_from_top(
        self, values: np.ndarray, indices: np.ndarray, oos_index: int | None
    ) -> np.ndarray:
        """The same decision from a (B, k) top-k already at hand (k >= 2 unless C is 1):
        the predictor ranks anyway, so it need not sort twice."""
        margin = values[:, 0] - values[:, 1] if values.shape[-1] > 1 else values[:, 0]
        flagged = (values[:, 0] < self.threshold) | (margin < self.ambiguity_threshold)
        if oos_index is not None:
            flagged |= indices[:, 0] == oos_index
        return flagged

    def to_dict(self) -> dict[str, float]:
        """decision.json in a bundle, and the `decision` of an evaluation report."""
        return asdict(self)


def top_classes(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` (at most C) largest probabilities of each row, largest first, and their class
    indices, each (B, k); ties go to the lower index."""
    indices = np.argsort(-probs, axis=-1, kind="stable")[:, : min(k, probs.shape[-1])]
    # plain indexing: take_along_axis builds the same index in Python, on every request
    return probs[np.arange(len(probs))[:, None], indices], indices
