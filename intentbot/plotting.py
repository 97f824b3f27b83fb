"""Matplotlib for files only: figures drawn on the Agg canvas, never through pyplot.

No global backend switch and no pyplot state, so plotting is safe inside training, the
Hydra callback and tests, with or without a display.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 120
# Colour-blind-safe pair (Okabe-Ito) for the recurring "train vs val" and "right vs wrong".
BLUE, ORANGE, GREEN, RED, GREY = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#7F7F7F"


def new_figure(width: float, height: float) -> Figure:
    """An empty figure with constrained layout, bound to the Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` at the house DPI; returns `path` so callers can report where it went."""
    figure.savefig(path, dpi=DPI)
    return path
