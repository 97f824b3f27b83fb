"""What a run's loggers leave behind and what is read back from it: the logger objects, the
epochs a run trained (also under DDP-spawn) and `curves.png`."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig

from intentbot.training.curves import plot_curves
from intentbot.training.history import LOG_FILE, log_files, read_history


def make_loggers(settings: DictConfig | None, run_dir: Path) -> list[Logger]:
    """The `logger` group maps names to loggers (`~logger` turns logging off)."""
    loggers = [instantiate(logger, save_dir=str(run_dir)) for logger in (settings or {}).values()]
    for logger in loggers:
        # Fix the version folder now: DDP-spawn workers get a pickled copy, and a version
        # looked up after the fit would be the next, empty one.
        _ = logger.version
    return loggers


def epochs_trained(trainer: L.Trainer, checkpoint: ModelCheckpoint) -> int:
    """Epochs trained. Under DDP-spawn the fit ran in workers and this process's trainer still
    says 0, so the newest `last*.ckpt` of this run tells instead."""
    lasts = sorted(
        Path(checkpoint.dirpath).glob("last*.ckpt"), key=lambda path: path.stat().st_mtime
    )
    if trainer.current_epoch == 0 and lasts:
        return int(torch.load(lasts[-1], map_location="cpu", weights_only=True)["epoch"]) + 1
    return trainer.current_epoch


def write_curves(
    loggers: list[Logger], resumed: bool, clip: float | None, run_dir: Path
) -> Path | None:
    """curves.png from this run's CSV log (and, `resumed`, those of its earlier attempts);
    None without a CSV log (fast_dev_run, or no csv logger)."""
    csv_logger = next((logger for logger in loggers if isinstance(logger, CSVLogger)), None)
    if csv_logger is None or not (Path(csv_logger.log_dir) / LOG_FILE).exists():
        return None
    log_dir = Path(csv_logger.log_dir)
    attempts = resumed and isinstance(csv_logger.version, int)
    files = log_files(log_dir.parent, csv_logger.version) if attempts else [log_dir / LOG_FILE]
    return plot_curves(read_history(files), run_dir / "curves.png", clip)
