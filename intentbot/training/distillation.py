"""Knowledge distillation's loss (Hinton et al., 2015): the student learns the teacher's
softened outputs beside the labels. Which wrong intents the teacher finds close to the right
one is what a label alone does not say."""

from __future__ import annotations

import torch
from torch.nn import functional


def soft_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T² · KL(softmax(teacher / T) || softmax(student / T)), the mean over the batch, from
    (B, C) logits each. T² keeps the gradients' scale as T changes."""
    return functional.kl_div(
        functional.log_softmax(student / temperature, dim=-1),
        functional.log_softmax(teacher / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    ) * (temperature**2)


def blended_loss(
    hard: torch.Tensor,
    student: torch.Tensor,
    teacher: torch.Tensor,
    alpha: float,
    temperature: float,
) -> torch.Tensor:
    """(1 - alpha) · `hard` (the labels' loss) + alpha · `soft_loss`."""
    return (1 - alpha) * hard + alpha * soft_loss(student, teacher, temperature)
