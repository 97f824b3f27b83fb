"""Every training run draws curves.png from its CSV log, with the gradient norm per step;
`logger=tensorboard` writes TensorBoard events as well."""

from __future__ import annotations

import lightning as L
import pytest
from lightning.pytorch.callbacks import Callback
from matplotlib.figure import Figure
from matplotlib.image import imread

from intentbot.plotting import DPI, GREEN
from intentbot.train import train
from intentbot.training import curves
from intentbot.training.history import log_files, read_history
from tests.conftest import compose_config
from tests.helpers import drawn_figures, share_of

TINY = (
    "encoder.embedding_dim=16",
    "encoder.hidden_size=16",
    "model.head.hidden_sizes=[16]",
    "export=false",
)


def test_training_logs_the_gradient_norm_and_draws_curves(trained_model):
    history = read_history(log_files(trained_model.run_dir / "logs"))
    steps, norms = history.per_step("train/grad_norm")
    assert len(steps) >= trained_model.metrics["epochs"] and all(norm > 0 for norm in norms)
    for name in ("train/loss", "val/loss", "train/argmax_acc", "val/argmax_acc"):
        assert len(history.per_epoch(name)[0]) == trained_model.metrics["epochs"], name
    picture = imread(trained_model.run_dir / "curves.png")
    assert picture.shape[:2] == (int(4.2 * DPI), 15 * DPI)
    # the gradient norm, step by step, is a long green line; its legend sample alone is not
    assert share_of(picture, GREEN) > 3e-4  # a legend sample is about 5e-5


def tiny_data(folder) -> tuple[str, ...]:
    """Overrides for a 2-intent CSV of 24 rows: training on it takes a second."""
    rows = [f"example {n} about {intent},{intent}" for intent in ("a", "b") for n in range(12)]
    (folder / "mine.csv").write_text("text,intent\n" + "\n".join(rows))
    return ("data=files", f"data.train={folder / 'mine.csv'}", "callbacks.patience=10")


def drawn_epochs(figure: Figure) -> dict[str, list[float]]:
    """The epochs the accuracy panel of a curves figure has points for, per line."""
    accuracy = figure.axes[1]
    return {line.get_label(): list(line.get_xdata()) for line in accuracy.get_lines()}


def test_tensorboard_logger_writes_events_and_keeps_the_csv_for_curves(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch, curves)
    cfg = compose_config(*TINY, *tiny_data(tmp_path), "trainer.max_epochs=2", "logger=tensorboard")
    metrics = train(cfg, tmp_path)
    assert metrics["epochs"] == 2
    assert list((tmp_path / "tensorboard" / "version_0").glob("events.out.tfevents.*"))
    assert (tmp_path / "curves.png").is_file()
    history = read_history(log_files(tmp_path / "logs"))  # the CSV log, beside TensorBoard's
    [figure] = figures
    val = figure.axes[1].get_lines()[1]
    assert (list(val.get_xdata()), list(val.get_ydata())) == history.per_epoch("val/argmax_acc")
    assert drawn_epochs(figure)["train"] == [1, 2]


def test_fast_dev_run_logs_nothing_and_skips_the_curves(tmp_path):
    train(compose_config(*TINY, *tiny_data(tmp_path), "trainer.fast_dev_run=true"), tmp_path)
    assert (tmp_path / "metrics.json").exists() and not (tmp_path / "curves.png").exists()


class CrashAfterSecondEpoch(Callback):
    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("simulated crash")


def test_resumed_run_draws_the_curves_of_both_attempts(tmp_path, monkeypatch):
    figures = drawn_figures(monkeypatch, curves)
    cfg = compose_config(*TINY, *tiny_data(tmp_path), "trainer.max_epochs=4")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, tmp_path / "run", callbacks=[CrashAfterSecondEpoch()])
    cfg.ckpt_path = "last"
    train(cfg, tmp_path / "run")
    assert len(log_files(tmp_path / "run" / "logs")) == 2
    epochs, _ = read_history(log_files(tmp_path / "run" / "logs")).per_epoch("val/argmax_acc")
    assert epochs == [1, 2, 3, 4]
    assert (tmp_path / "run" / "curves.png").is_file()
    assert drawn_epochs(figures[-1])["val"] == [1, 2, 3, 4]  # the crashed attempt's epochs too
