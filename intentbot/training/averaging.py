"""An exponential moving average of the trained weights, validated, checkpointed and exported in
their place (`callbacks.ema_decay`).

Why: with a few thousand steps of a small batch, the weights of any one step carry that step's
noise; their running average is a cheap ensemble of the last few hundred steps, at no cost in
the served model. Lightning's `WeightAveraging` does the bookkeeping (validation and checkpoints
see the average, training goes on with the raw weights); this module gives it the average:
frozen weights (the pretrained embedding table, 11.7 M numbers) are left out, and the decay
warms up, so that the average does not start from the random initial weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch import Tensor


class MovingAverage(WeightAveraging):
    """Keeps `decay` of the average and `1 - decay` of the new weights at each optimizer step;
    over the first steps the decay is lower, (1 + n) / (10 + n) after n updates."""

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"callbacks.ema_decay={decay} must be between 0 and 1 (or null)")
        self.decay = decay
        self._trainable: list[bool] = []
        super().__init__(use_buffers=False, multi_avg_fn=self._update)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Note which weights train: the average is handed them detached, in this order."""
        self._trainable = [weight.requires_grad for weight in pl_module.parameters()]
        super().setup(trainer, pl_module, stage)

    @torch.no_grad()
    def _update(
        self, averages: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], updates: Tensor
    ) -> None:
        done = int(updates)
        keep = min(self.decay, (1 + done) / (10 + done))
        for average, weight, trainable in zip(averages, weights, self._trainable, strict=True):
            if trainable:
                average.lerp_(weight, 1.0 - keep)
