"""The out-of-scope decision rule, and fitting temperature and threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intentbot.oos import OosDecision
from intentbot.scoring import score
from intentbot.training.calibration import fit_temperature, fit_threshold


def test_decision_flags_oos_class_low_confidence_and_ambiguity():
    probs = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    decision = OosDecision(threshold=0.5, ambiguity_threshold=0.35)
    assert decision.out_of_scope(probs, oos_index=2).tolist() == [False, True, True, True]
    assert OosDecision().out_of_scope(probs, oos_index=None).tolist() == [False] * 4


def test_probabilities_are_the_tempered_softmax():
    logits = torch.randn(50, 7, generator=torch.Generator().manual_seed(0)) * 20
    probs = OosDecision(temperature=2.5).probabilities(logits.numpy())
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, torch.softmax(logits / 2.5, dim=-1).numpy(), atol=1e-6)


def test_temperature_softens_overconfident_logits():
    torch.manual_seed(0)
    targets = torch.randint(0, 3, (400,))
    logits = torch.randn(400, 3) * 10  # confident and random: badly calibrated
    assert fit_temperature(logits, targets) > 3.0


def test_threshold_with_out_of_scope_examples_separates_them():
    # in-scope answers are confident, out-of-scope ones are not
    probs = torch.tensor([[0.95, 0.05, 0.0]] * 8 + [[0.55, 0.45, 0.0]] * 4)
    targets = torch.tensor([0] * 8 + [2] * 4)
    threshold = fit_threshold(probs, targets, oos_index=2)
    assert 0.55 < threshold <= 0.95


def test_threshold_without_out_of_scope_keeps_most_answers():
    probs = torch.softmax(torch.randn(200, 5) * 3, dim=-1)
    targets = probs.argmax(dim=-1)
    threshold = fit_threshold(probs, targets, oos_index=None, keep_in_scope=0.98)
    kept = (probs.max(dim=-1).values >= threshold).float().mean()
    assert 0.97 <= float(kept) <= 1.0


def test_without_out_of_scope_data_the_default_answers_everything():
    probs = torch.softmax(torch.randn(200, 5) * 3, dim=-1)
    assert fit_threshold(probs, probs.argmax(dim=-1), oos_index=None) == 0.0


def test_scores_count_unseen_intents_as_wrong_and_report_coverage():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    flagged = torch.tensor([False, True, False, False])
    targets = torch.tensor([0, 1, 3, 0])  # 2 is 'rejected' (no oos class), 3 an unseen intent
    scores = score(probs, flagged, targets, oos_index=None)
    assert scores["accuracy"] == 0.5  # the rejected right answer and the unseen one are wrong
    assert scores["argmax_accuracy"] == 0.75  # before the decision, only the unseen one
    assert scores["coverage"] == 0.75


def test_scores_follow_the_paper_definitions():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.8, 0.1, 0.1]])
    flagged = torch.tensor([False, False, True, False])
    targets = torch.tensor([0, 0, 2, 2])  # class 2 is out-of-scope
    scores = score(probs, flagged, targets, oos_index=2)
    assert scores["accuracy"] == 0.5
    assert scores["in_scope_accuracy"] == 0.5
    assert scores["oos_recall"] == 0.5 and scores["oos_precision"] == 1.0
    # over the in-scope rows only, each alone in its bin: |1 - 0.9| / 2 + |0 - 0.7| / 2
    assert scores["ece"] == pytest.approx(0.4, abs=1e-6)


def test_a_fitted_temperature_calibrates_an_over_confident_model():
    """Right 60 % of the time and about 99.9 % sure each time: the expected calibration error
    is near 0.4 as it is, a fraction of that once the fitted temperature softens the logits."""
    generator = torch.Generator().manual_seed(0)
    targets = torch.randint(0, 4, (2000,), generator=generator)
    right = torch.rand(2000, generator=generator) < 0.6
    top = torch.where(right, targets, (targets + 1) % 4)
    logits = 8 * torch.nn.functional.one_hot(top, 4).float()
    logits += 0.5 * torch.randn(2000, 4, generator=generator)
    flagged = torch.zeros(2000, dtype=torch.bool)

    def ece(temperature: float) -> float:
        probs = OosDecision(temperature=temperature).probabilities(logits.numpy())
        return score(torch.from_numpy(probs), flagged, targets, oos_index=None)["ece"]

    before, after = ece(1.0), ece(fit_temperature(logits, targets))
    assert before > 0.35
    assert after < 0.1 and after < before / 4


def test_threshold_objectives_weigh_out_of_scope_differently():
    confidence = torch.tensor([0.4] * 10 + [0.9] * 80 + [0.3, 0.3, 0.45])
    rest = ((1 - confidence) / 3)[:, None].expand(93, 3)
    probs = torch.cat([confidence[:, None], rest], dim=1)  # class 0 on top; class 3 is oos
    targets = torch.tensor([0] * 90 + [3] * 3)
    by_accuracy = fit_threshold(probs, targets, oos_index=3, objective="accuracy")
    balanced = fit_threshold(probs, targets, oos_index=3, objective="balanced")
    assert 0.3 < by_accuracy < 0.41  # flagging ten in-scope answers to catch one more: no
    assert balanced > 0.45  # the same trade, when out-of-scope weighs as much as in-scope: yes


def test_threshold_is_steadier_than_the_single_best_one_across_resampled_validation_sets():
    # a flat, noisy curve, as on real data: 3,100 utterances, 100 out of scope whose confidences
    # overlap the low tail of the right in-scope answers; the single best threshold jumps with
    # the sample, the median of the near-best ones much less
    generator = torch.Generator().manual_seed(0)

    def uniform(count: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=generator)

    confidence = torch.cat(
        [uniform(2900, 0.7, 1.0), uniform(100, 0.2, 0.7), uniform(100, 0.2, 0.6)]
    )
    probs = torch.stack([confidence, 1 - confidence, torch.zeros(3100)], dim=1)
    targets = torch.tensor([0] * 3000 + [2] * 100)

    def single_best(sample: torch.Tensor) -> float:
        top, labels = probs[sample, 0], targets[sample]
        candidates = torch.cat([torch.zeros(1), top.unique()])
        right = ((top[None] >= candidates[:, None]) == (labels != 2)[None]).float().mean(1)
        return float(candidates[int(right.argmax())])

    samples = [torch.randint(0, 3100, (3100,), generator=generator) for _ in range(30)]
    fitted = torch.tensor([fit_threshold(probs[s], targets[s], oos_index=2) for s in samples])
    best = torch.tensor([single_best(s) for s in samples])
    assert float(fitted.std()) < 0.7 * float(best.std()), (fitted.std(), best.std())
