"""The `optim` config group: how the network's weights are fitted.

AdamW under a one-cycle schedule stepped per batch: the learning rate warms up over
`warmup_fraction` of the planned steps, then anneals to about zero by the last one, so a run
of any planned length ends on small, settled steps. Label smoothing softens the intent loss's
targets (the tagging loss keeps hard ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Optimisation:
    """`conf/optim/*.yaml`."""

    lr: float
    weight_decay: float
    label_smoothing: float
    warmup_fraction: float

    def optimizers(self, parameters: Iterable[torch.nn.Parameter], total_steps: int) -> dict:
        """What Lightning's `configure_optimizers` returns: the optimiser and its schedule,
        `total_steps` long."""
        optimiser = torch.optim.AdamW(
            parameters,
            lr=self.lr,
            weight_decay=self.weight_decay,
            fused=True,  # one kernel per step, not a loop over the tensors: 2 % of a step
        )
        steps = max(1, total_steps)
        # a warm-up of exactly one step is a division by zero in OneCycleLR (a 10-step run, say):
        # a hair longer schedules the same, step 0 low and step 1 at about the peak
        warmup = self.warmup_fraction
        if warmup * steps == 1:
            warmup = 1.001 / steps
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=self.lr, total_steps=steps, pct_start=warmup
        )
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
