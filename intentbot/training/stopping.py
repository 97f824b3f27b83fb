"""Early stopping that starts watching once the learning rate's warm-up is over.

Why not Lightning's `Trainer(min_epochs=...)`: it holds the stop off, but `trainer.should_stop`
stays set once early stopping has asked (fit_loop `_can_stop_early`, Lightning 2.6), so a run
that stalled inside its warm-up ends on the first epoch past `min_epochs` even while improving.
Measured on xSID English with `budget.max_epochs=400`: stopped at epoch 50 of 400, the best
checkpoint its last epoch. Counting patience only after the warm-up has no such edge.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping


class EarlyStoppingAfterWarmup(EarlyStopping):
    """`EarlyStopping` that ignores epochs before `start_epoch` (0-based): while the learning
    rate still rises the monitored score may stall for longer than `patience`."""

    def __init__(self, monitor: str, mode: str, patience: int, start_epoch: int) -> None:
        super().__init__(monitor, mode=mode, patience=patience)
        self.start_epoch = start_epoch

    def _warming_up(self, trainer: L.Trainer) -> bool:
        return trainer.current_epoch < self.start_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning's check, from `start_epoch` on (the hook it uses when validating every
        epoch)."""
        if not self._warming_up(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning's check, from `start_epoch` on (the hook for other validation intervals)."""
        if not self._warming_up(trainer):
            super().on_validation_end(trainer, pl_module)
