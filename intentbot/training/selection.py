"""The `callbacks` config group: which epoch's weights a run keeps, and when it stops.

The best epoch on validation by `monitor` (with entities `entity_monitor`: a joint model picked
on intents alone would keep an epoch whose tags are still untrained), early stopping once the
learning rate's warm-up is over, and with `ema_decay` a moving average of the weights in their
place. A validation split under `min_val_size` utterances picks by noise (one utterance of 15
is 7 points): such a run trains its whole planned length, whose learning rate anneals to zero,
and keeps the last epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from intentbot.training.averaging import MovingAverage
from intentbot.training.stopping import EarlyStoppingAfterWarmup


@dataclass(frozen=True)
class CheckpointSelection:
    """`conf/callbacks/*.yaml`."""

    monitor: str
    entity_monitor: str
    patience: int
    min_val_size: int
    ema_decay: float | None

    def picks(self, val_size: int) -> bool:
        """Whether `val_size` validation utterances are enough to pick an epoch on."""
        return val_size >= self.min_val_size

    def callbacks(
        self, tagging: bool, val_size: int, warmup_epochs: int, folder: Path
    ) -> tuple[ModelCheckpoint, list[Callback]]:
        """The checkpoint callback (its `best_model_path` is what the run keeps) and the others:
        early stopping after `warmup_epochs`, the moving average."""
        others: list[Callback] = [] if self.ema_decay is None else [MovingAverage(self.ema_decay)]
        if not self.picks(val_size):
            last = ModelCheckpoint(
                folder, "last-epoch{epoch:02d}", auto_insert_metric_name=False, save_last=True
            )
            return last, others
        monitor = self.entity_monitor if tagging else self.monitor
        checkpoint = ModelCheckpoint(
            dirpath=folder,
            filename="best-epoch{epoch:02d}",
            auto_insert_metric_name=False,
            monitor=monitor,
            mode="max",
            save_last=True,
        )
        stopping = EarlyStoppingAfterWarmup(monitor, "max", self.patience, warmup_epochs)
        return checkpoint, [stopping, *others]


def warmup_epochs(epochs: int, warmup_fraction: float) -> int:
    """The epochs the one-cycle schedule's learning rate still rises in: no stopping there."""
    return math.ceil(epochs * warmup_fraction)
