"""The `oos` config group and the fitting it names: the softmax temperature, then the
out-of-scope confidence threshold, both on validation data (`intentbot.oos.OosDecision`
applies them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from intentbot.labels import LabelSet
from intentbot.oos import OosDecision


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, steps: int = 100) -> float:
    """The temperature that minimises validation NLL (Guo et al., 2017)."""
    logits = logits.detach().clone()  # may come from inference mode
    log_temperature = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=steps)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_temperature.exp(), targets)
        loss.backward()
        return loss

    optimiser.step(closure)
    return float(log_temperature.detach().exp().clamp(0.05, 20.0))


OBJECTIVES = ("accuracy", "balanced")


def fit_threshold(
    probs: torch.Tensor,
    targets: torch.Tensor,
    oos_index: int | None,
    keep_in_scope: float | None = None,
    objective: str = "accuracy",
) -> float:
    """Pick the confidence threshold on validation data.

    With out-of-scope examples, a threshold that maximises `objective`: `accuracy` (every
    validation utterance counts once, so out-of-scope weighs as much as it is frequent) or
    `balanced` (the mean of in-scope accuracy and out-of-scope recall, as if half the traffic
    were out of scope). Not the single best one: validation holds few out-of-scope utterances
    (CLINC150: 100), so the best threshold is one point of a noisy curve and moved test recall
    by 12 points between seeds. Every threshold whose score is within one standard error of the
    best is as good as the data can tell; the median of those is steadier (CLINC150 preset,
    five seeds: lowest seed's test out-of-scope recall 51.3 -> 59.0, mean 58.5 -> 61.6, in-scope
    94.18 -> 94.11). Without them there is nothing to learn a threshold from: 0 (answer
    everything) unless `keep_in_scope` asks for the highest threshold that still keeps that
    share of the correct in-scope answers.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"oos.objective={objective!r} is not one of {OBJECTIVES}")
    confidence, predicted = probs.max(dim=-1)
    in_scope = targets != oos_index if oos_index is not None else torch.ones_like(targets).bool()
    correct = (predicted == targets) & in_scope
    if oos_index is None or bool(in_scope.all()):
        kept = confidence[correct]
        if keep_in_scope is None or not kept.numel():
            return 0.0
        return float(kept.quantile(1.0 - keep_in_scope))
    candidates = torch.cat([torch.zeros(1), confidence.unique()])
    # (K, N): would utterance n be flagged at candidate threshold k?
    flagged = (confidence[None, :] < candidates[:, None]) | (predicted == oos_index)[None, :]
    right_in_scope = correct[None, :] & ~flagged
    right_oos = flagged & ~in_scope[None, :]
    if objective == "accuracy":
        score = (right_in_scope | right_oos).float().mean(1)
        best = float(score.max())
        error = (best * (1 - best) / len(targets)) ** 0.5  # of a proportion
    else:
        in_count, oos_count = int(in_scope.sum()), int((~in_scope).sum())
        in_rate, oos_rate = right_in_scope.sum(1) / in_count, right_oos.sum(1) / oos_count
        score = (in_rate + oos_rate) / 2
        at = int(score.argmax())
        best, kept, caught = float(score[at]), float(in_rate[at]), float(oos_rate[at])
        # of the mean of two independent proportions
        error = (kept * (1 - kept) / in_count + caught * (1 - caught) / oos_count) ** 0.5 / 2
    return float(candidates[score >= best - error].median())


@dataclass(frozen=True)
class OutOfScopeFit:
    """`conf/oos/*.yaml`: how out-of-scope utterances weigh in training, and how the decision
    (`OosDecision`) is fitted on validation: the temperature, then the threshold."""

    loss_weight: float
    calibrate: bool
    objective: str
    keep_in_scope: float | None
    ambiguity_threshold: float

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"oos.objective={self.objective!r} is not one of {OBJECTIVES}")

    def class_weights(self, labels: LabelSet) -> list[float] | None:
        """`loss_weight` for the out-of-scope class, 1 for the others; None when all are 1."""
        if labels.oos_index is None or self.loss_weight == 1:
            return None
        weights = [1.0] * len(labels)
        weights[labels.oos_index] = float(self.loss_weight)
        return weights

    def fit(self, logits: np.ndarray, targets: torch.Tensor, oos_index: int | None) -> OosDecision:
        """The decision for validation `logits` (N, C) and their `targets` (N,)."""
        temperature = fit_temperature(torch.from_numpy(logits), targets) if self.calibrate else 1.0
        # the probabilities the decision will compute: the threshold is fitted on those numbers
        probs = torch.from_numpy(OosDecision(temperature=temperature).probabilities(logits))
        threshold = fit_threshold(probs, targets, oos_index, self.keep_in_scope, self.objective)
        return OosDecision(threshold, self.ambiguity_threshold, temperature)
