"""The evaluation pictures: confusions, calibration and confidence of right and wrong answers.

A 150-intent confusion matrix is unreadable, so the confusion figure ranks the most-confused
pairs and draws the matrix only over the intents those pairs involve.
"""

from __future__ import annotations

from pathlib import Path

import torch
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from intentbot.evaluation.outcomes import (
    Outcomes,
    confused_pairs,
    confusion_counts,
    out_of_scope_errors,
)
from intentbot.plotting import BLUE, GREEN, GREY, RED, new_figure, save

TOP_PAIRS = 20
ERRORS_MAP = LinearSegmentedColormap.from_list("errors", ["#FFF5EB", "#FD8D3C", "#7F2704"])


def plot_confusions(outcomes: Outcomes, path: Path, top: int = TOP_PAIRS) -> Path:
    """Left: the `top` most-confused pairs of intents (out-of-scope mistakes are counted in
    the title). Right: error counts among the intents those pairs involve."""
    pairs = confused_pairs(outcomes, top, between_intents=True)
    involved = _involved(pairs)
    height = max(5.0, 0.3 * max(len(pairs), len(involved)) + 2.0)
    figure = new_figure(17, height)
    bars, matrix = figure.subplots(1, 2, width_ratios=[1, 1.25])
    figure.suptitle(_headline(outcomes), fontsize=12)
    _ranked_pairs(bars, pairs)
    if not pairs:
        matrix.text(0.5, 0.5, "no confusions between intents", ha="center", va="center", color=GREY)
        matrix.set_axis_off()
        return save(figure, path)
    indices = torch.tensor([outcomes.index(name) for name in involved])
    counts = confusion_counts(outcomes).fill_diagonal_(0)[indices][:, indices].float()
    image = matrix.imshow(counts, cmap=ERRORS_MAP, vmin=0, aspect="auto")
    for row, column in torch.nonzero(counts).tolist():
        value = int(counts[row, column])
        dark = value > 0.6 * float(counts.max())
        matrix.text(
            column,
            row,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if dark else "black",
        )
    for diagonal in range(len(involved)):
        matrix.add_patch(_cell(diagonal))
    size = 8 if len(involved) <= 24 else 6.5
    matrix.set_xticks(range(len(involved)), involved, rotation=60, ha="right", fontsize=size)
    matrix.set_yticks(range(len(involved)), involved, fontsize=size)
    matrix.set_xlabel("predicted intent")
    matrix.set_ylabel("true intent")
    matrix.set_title(f"errors among the {len(involved)} intents involved (diagonal greyed)")
    colours = figure.colorbar(image, ax=matrix, shrink=0.6, label="utterances")
    colours.locator = MaxNLocator(integer=True)
    colours.update_ticks()
    return save(figure, path)


def _ranked_pairs(axes: Axes, pairs: list[dict]) -> None:
    """Horizontal bars, the most frequent pair on top."""
    if not pairs:
        axes.text(0.5, 0.5, "no confusions between intents", ha="center", va="center", color=GREY)
        axes.set_axis_off()
        return
    labels = [f"{pair['true']}  \u2192  {pair['predicted']}" for pair in pairs]
    counts = [pair["count"] for pair in pairs]
    drawn = axes.barh(range(len(pairs)), counts, color=RED)
    axes.bar_label(drawn, padding=2, fontsize=8)
    axes.set_yticks(range(len(pairs)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, max(counts) * 1.15)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("utterances (true intent \u2192 predicted)")
    axes.set_title(f"the {len(pairs)} most-confused pairs of intents")
    axes.grid(axis="x", alpha=0.3)


def _headline(outcomes: Outcomes) -> str:
    """How many answers are wrong, and how many of those are out-of-scope mistakes."""
    total = int((~outcomes.correct).sum())
    line = f"{total} of {len(outcomes.examples)} utterances wrong"
    oos = out_of_scope_errors(outcomes)
    if any(oos.values()):
        label = outcomes.labels.oos_label
        between = total - oos["oos_taken_as_intent"] - oos["intent_rejected_as_oos"]
        line += (
            f": {oos['oos_taken_as_intent']} out-of-scope answered with an intent, "
            f"{oos['intent_rejected_as_oos']} in-scope rejected as {label!r}, "
            f"{between} confused between intents"
        )
    return line


def plot_reliability(bins: list[dict], ece: float, path: Path) -> Path:
    """Accuracy against confidence per bin (a calibrated model sits on the diagonal), with
    the number of utterances per bin underneath."""
    figure = new_figure(7, 7.5)
    curve, counts = figure.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    width = (bins[0]["upper"] - bins[0]["lower"]) * 0.92
    filled = [row for row in bins if row["count"]]
    centres = [(row["lower"] + row["upper"]) / 2 for row in filled]
    accuracy = [row["accuracy"] for row in filled]
    curve.bar(centres, accuracy, width=width, color=BLUE, label="accuracy in bin")
    # the gap, hatched from accuracy to mean confidence: above the bar = over-confident
    gaps = [row["confidence"] - row["accuracy"] for row in filled]
    curve.bar(
        centres,
        gaps,
        bottom=accuracy,
        width=width,
        fill=False,
        hatch="///",
        edgecolor=RED,
        linewidth=1,
        label="gap to mean confidence",
    )
    curve.plot([0, 1], [0, 1], "--", color=GREY, label="perfect calibration")
    curve.set_xlim(0, 1)
    curve.set_ylim(0, 1.02)
    curve.set_ylabel("accuracy")
    curve.set_title(f"reliability (in-scope utterances, {len(bins)} bins): ECE = {ece:.4f}")
    curve.legend(loc="upper left", fontsize=9)
    curve.grid(alpha=0.3)
    drawn = counts.bar(
        [(row["lower"] + row["upper"]) / 2 for row in bins],
        [row["count"] for row in bins],
        width=width,
        color=GREY,
    )
    counts.bar_label(
        drawn,
        labels=[str(row["count"]) if row["count"] else "" for row in bins],
        fontsize=7,
        padding=1,
    )
    counts.set_ylim(0, max(row["count"] for row in bins) * 1.3 + 1)
    counts.set_xlabel("confidence (top-1 probability after temperature scaling)")
    counts.set_ylabel("utterances")
    counts.grid(alpha=0.3)
    return save(figure, path)


def plot_confidence_histogram(outcomes: Outcomes, threshold: float, path: Path) -> Path:
    """Top-1 confidence of right answers (top) and wrong ones (bottom, own scale), with the
    out-of-scope threshold: wrong answers left of it are rejected, right ones are lost."""
    edges = torch.linspace(0, 1, 21)
    right_count, wrong_count = int(outcomes.correct.sum()), int((~outcomes.correct).sum())
    figure = new_figure(9, 6.5)
    figure.suptitle(f"confidence of right ({right_count}) and wrong ({wrong_count}) answers")
    panels = figure.subplots(2, 1, sharex=True)
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    for axes, mask, colour, what in (
        (panels[0], outcomes.correct, GREEN, "right"),
        (panels[1], ~outcomes.correct, RED, "wrong"),
    ):
        counts = torch.histogram(outcomes.confidence[mask], edges).hist
        drawn = axes.bar(
            centres,
            counts.tolist(),
            width=float(edges[1] - edges[0]) * 0.92,
            color=colour,
            label=f"{what} answers",
        )
        axes.bar_label(
            drawn, labels=[str(int(v)) if v else "" for v in counts], fontsize=7, padding=1
        )
        axes.set_ylim(0, max(float(counts.max()), 1.0) * 1.2)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        if threshold > 0:
            axes.axvline(
                threshold,
                color=GREY,
                linestyle="--",
                label=f"out-of-scope threshold {threshold:.2f}",
            )
        axes.set_ylabel("utterances")
        # above the panel: bars can reach any height
        axes.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, fontsize=9, frameon=False)
        axes.grid(alpha=0.3)
    panels[1].set_xlim(0, 1)
    panels[1].set_xlabel("confidence (top-1 probability)")
    return save(figure, path)


def _involved(pairs: list[dict]) -> list[str]:
    """Intents named by the pairs, in order of first appearance (worst pair first)."""
    seen: dict[str, None] = {}
    for pair in pairs:
        seen.setdefault(pair["true"])
        seen.setdefault(pair["predicted"])
    return list(seen)


def _cell(index: int) -> Rectangle:
    return Rectangle((index - 0.5, index - 0.5), 1, 1, color="#D9D9D9")
