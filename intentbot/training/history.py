"""A run's training history, read back from the `metrics.csv` files Lightning's CSVLogger writes.

Each logged value is a row `(epoch, step, value)`: epoch-level metrics (`val/argmax_acc`) have one
row per epoch, step-level ones (`train/grad_norm`) one row every `log_every_n_steps`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

LOG_FILE = "metrics.csv"


@dataclass
class History:
    """metric name -> {(epoch, step): value}; later log files win (a resumed run)."""

    rows: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return bool(self.rows.get(name))

    def per_epoch(self, name: str) -> tuple[list[int], list[float]]:
        """1-based epochs and the metric's mean in each (one value for epoch-level metrics)."""
        by_epoch: dict[int, list[float]] = {}
        for (epoch, _), value in sorted(self.rows.get(name, {}).items()):
            by_epoch.setdefault(epoch, []).append(value)
        epochs = sorted(by_epoch)
        return [epoch + 1 for epoch in epochs], [_mean(by_epoch[epoch]) for epoch in epochs]

    def per_step(self, name: str) -> tuple[list[int], list[float]]:
        """Global steps and the values logged at them."""
        points = sorted((step, value) for (_, step), value in self.rows.get(name, {}).items())
        return [step for step, _ in points], [value for _, value in points]


def read_history(log_files: Iterable[Path]) -> History:
    """Merge CSV logs in the order given; an empty cell means 'not logged in this row'."""
    history = History()
    for path in log_files:
        with Path(path).open(newline="") as handle:
            for row in csv.DictReader(handle):
                epoch, step = row.pop("epoch", ""), row.pop("step", "")
                if not (epoch and step):  # a row logged outside the fit loop
                    continue
                epoch, step = int(epoch), int(step)
                for name, cell in row.items():
                    if cell:
                        history.rows.setdefault(name, {})[(epoch, step)] = float(cell)
    return history


def log_files(folder: Path, up_to: int | None = None) -> list[Path]:
    """The CSV logs of `folder/version_N/` (or one level deeper, `folder/<name>/version_N/`),
    oldest first; `up_to` keeps versions 0..up_to (a resumed run and its earlier attempts)."""
    found = [*folder.glob(f"version_*/{LOG_FILE}"), *folder.glob(f"*/version_*/{LOG_FILE}")]
    numbered = sorted((_version(path), path) for path in found)
    return [path for number, path in numbered if up_to is None or number <= up_to]


def _version(path: Path) -> int:
    match = re.fullmatch(r"version_(\d+)", path.parent.name)
    return int(match.group(1)) if match else -1


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
