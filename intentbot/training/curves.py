"""Training curves: `curves.png` for one run, `comparison.png` for the runs of a sweep.

Loss and accuracy per epoch show over- or under-fitting; the gradient norm per step (before
clipping, log scale) shows the vanishing and exploding gradients that set a vanilla RNN apart
from a GRU or an LSTM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from intentbot.plotting import BLUE, GREEN, GREY, ORANGE, new_figure, save
from intentbot.training.history import History

GRAD_NORM = "train/grad_norm"
# the score bars stay grey: colour belongs to the runs (curves and tick labels)
SHADES = ("#3A3A3A", "#8C8C8C", "#C9C9C9")
COLOURED = 6  # more lines than this in colour cannot be told apart
LIGHT = "#D0D0D0"


@dataclass(frozen=True)
class RunCurves:
    """One run of a sweep as the comparison figure shows it."""

    name: str  # the run's folder in the sweep: its job number
    config: str  # the overrides that set it apart
    history: History
    metrics: dict

    @property
    def label(self) -> str:
        """The legend entry: job number and the overrides that set the run apart."""
        return f"{self.name}: {self.config}"


def plot_curves(history: History, path: Path, clip: float | None = None) -> Path:
    """Loss, accuracy and gradient norm of one run; `clip` draws the clipping threshold."""
    figure = new_figure(15, 4.2)
    loss, accuracy, gradient = figure.subplots(1, 3)
    panels = ((loss, "loss", "loss"), (accuracy, "argmax_acc", "top-1 accuracy"))
    for axes, metric, title in panels:
        for stage, colour in (("train", BLUE), ("val", ORANGE)):
            epochs, values = history.per_epoch(f"{stage}/{metric}")
            axes.plot(epochs, values, "o-", color=colour, markersize=3, label=stage)
        _style(axes, title, "epoch", legend=True)
    accuracy.set_ylim(0, 1.02)
    epochs, values = history.per_epoch("val/argmax_acc")
    if values:  # the epoch a val/argmax_acc-monitored checkpoint keeps
        best = epochs[values.index(max(values))]
        accuracy.axvline(best, color=GREY, linestyle=":", label=f"best val, epoch {best}")
        accuracy.legend(fontsize=8, loc="lower right")
    steps, norms = history.per_step(GRAD_NORM)
    gradient.plot(steps, norms, color=GREEN, linewidth=1, label="total L2 norm")
    if clip:
        gradient.axhline(clip, color=GREY, linestyle="--", linewidth=1, label=f"clipped at {clip}")
    _style(gradient, "gradient norm (before clipping)", "step", legend=bool(steps), log=bool(steps))
    for axes, names in (
        (loss, ("train/loss", "val/loss")),
        (accuracy, ("train/argmax_acc", "val/argmax_acc")),
        (gradient, (GRAD_NORM,)),
    ):
        _empty_unless(axes, any(name in history for name in names))
    return save(figure, path)


def plot_comparison(runs: Sequence[RunCurves], path: Path) -> Path:
    """Validation curves of the runs on shared axes (the best `COLOURED` in colour, the rest
    grey), and every run's scores ranked by val accuracy (metrics.json: final decisions)."""
    height = 4.2 + 0.32 * len(runs) + 1.2
    figure = new_figure(15, height)
    top, bottom = figure.subfigures(2, 1, height_ratios=[4.2, height - 4.2])
    accuracy, loss, gradient = top.subplots(1, 3)
    colours = _colours(runs)
    ranked = _ranked(runs)
    # grey runs first, so the coloured ones are drawn on top, best last (legend: best first)
    for index in [i for i in ranked if colours[i] == LIGHT] + ranked[:COLOURED][::-1]:
        run, colour = runs[index], colours[index]
        style = {"color": colour, "markersize": 2.5, "linewidth": 1 if colour == LIGHT else 1.5}
        label = f"run {run.name}" if colour != LIGHT else None
        accuracy.plot(*run.history.per_epoch("val/argmax_acc"), "o-", label=label, **style)
        loss.plot(*run.history.per_epoch("val/loss"), "o-", **style)
        gradient.plot(*run.history.per_epoch(GRAD_NORM), "o-", **style)
    _style(accuracy, "val top-1 accuracy", "epoch")
    if accuracy.has_data():
        handles, labels = accuracy.get_legend_handles_labels()
        accuracy.legend(handles[::-1], labels[::-1], loc="lower right", fontsize=7)
    _style(loss, "val loss", "epoch")
    has_norms = any(GRAD_NORM in run.history for run in runs)
    _style(gradient, "gradient norm, mean per epoch", "epoch", log=has_norms)
    for axes, name in ((accuracy, "val/argmax_acc"), (loss, "val/loss"), (gradient, GRAD_NORM)):
        _empty_unless(axes, any(name in run.history for run in runs))
    _score_bars(bottom.subplots(), runs, colours)
    return save(figure, path)


def _score_bars(axes: Axes, runs: Sequence[RunCurves], colours: list) -> None:
    """Horizontal bars, best val accuracy on top; labels carry the run's overrides."""
    order = _ranked(runs)
    scores = (
        ("val accuracy", "val", "accuracy"),
        ("test accuracy", "test", "accuracy"),
        ("test macro-F1", "test", "macro_f1"),
    )
    width = 0.8 / len(scores)
    for offset, (name, split, key) in enumerate(scores):
        values = [runs[i].metrics.get(split, {}).get(key, 0.0) for i in order]
        positions = [row + (offset - 1) * width for row in range(len(order))]
        bars = axes.barh(positions, values, height=width, color=SHADES[offset], label=name)
        if offset == 0 or len(runs) <= 10:  # many rows: only the selection metric's values
            axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    axes.set_yticks(range(len(order)), [runs[i].label for i in order], fontsize=8)
    for tick, i in zip(axes.get_yticklabels(), order, strict=True):
        tick.set_color("black" if colours[i] == LIGHT else colours[i])
    axes.invert_yaxis()
    axes.set_xlim(0, 1.12)
    axes.set_xlabel("score (runs ranked by val accuracy after the out-of-scope decision)")
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="x", alpha=0.3)


def _ranked(runs: Sequence[RunCurves]) -> list[int]:
    """Run indices, best validation accuracy first."""
    return sorted(
        range(len(runs)),
        key=lambda i: runs[i].metrics.get("val", {}).get("accuracy", 0.0),
        reverse=True,
    )


def _colours(runs: Sequence[RunCurves]) -> list:
    """A tab10 colour for each of the best `COLOURED` runs, light grey for the others."""
    palette = colormaps["tab10"]
    colours: list = [LIGHT] * len(runs)
    for rank, index in enumerate(_ranked(runs)[:COLOURED]):
        colours[index] = palette(rank)
    return colours


def _style(axes: Axes, title: str, xlabel: str, legend: bool = False, log: bool = False) -> None:
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.grid(alpha=0.3)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        axes.set_yscale("log")
        # plain numbers at 1-2-5 steps: 0.5 reads better than 5 x 10^-1
        axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
        axes.yaxis.set_minor_formatter(NullFormatter())
    if legend and axes.has_data():
        axes.legend(fontsize=8)


def _empty_unless(axes: Axes, logged: bool) -> None:
    """Say "not logged" on a panel whose metrics the logs lack. From the history, not from
    `axes.has_data()`: a line plotted from no points is data to matplotlib."""
    if not logged:
        axes.text(
            0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes, color=GREY
        )
