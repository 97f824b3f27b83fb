"""What many tests share: the command-line entry points run as a user runs them, BIO folders
written to disk, typing at a prompt, the figures a plot drew, and the modules serving must not
import. The server on loopback and labelled JSONL files are the benchmarks' too:
`bench.servers`, `bench.fixtures`."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text

REPO = Path(__file__).resolve().parent.parent
# What training, evaluation and plots need and serving must not import: ONNX Runtime runs the
# graphs a bundle carries, so neither torch nor the onnx package that writes them is needed.
TRAINING_STACK = (
    "torch",
    "onnx",
    "lightning",
    "pytorch_lightning",
    "hydra",
    "omegaconf",
    "matplotlib",
    "tensorboardX",
    "torchmetrics",
)


def run_cli(
    module: str, *args: str, cwd: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS` as a user runs it: clean errors (no Hydra traceback), wide
    output so that tables are not wrapped."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", "COLUMNS": "200"},
    )


def write_bio(folder: Path, rows: Iterable[tuple[str, str, str]]) -> Path:
    """A BIO split folder (seq.in, seq.out, label) of (words, tags, intent) rows."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(zip(*rows, strict=True))
    for name, lines in zip(("seq.in", "seq.out", "label"), columns, strict=True):
        (folder / name).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return folder


def drawn_figures(monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> list[Figure]:
    """Every figure that the `save` of `modules` writes from now on (the file still written),
    so that a test reads what was drawn: the bars' heights, the lines' points, the texts."""
    figures: list[Figure] = []
    for module in modules:

        def keep(figure: Figure, path: Path, write: Callable = module.save) -> Path:
            figures.append(figure)
            return write(figure, path)

        monkeypatch.setattr(module, "save", keep)
    return figures


def texts_of(figure: Figure) -> list[str]:
    """Every text drawn on `figure`: titles, labels, annotations, legends."""
    return [text.get_text() for text in figure.findobj(Text) if text.get_text()]


def share_of(picture: np.ndarray, colour: str) -> float:
    """The share of a picture's pixels (an RGB or RGBA array of 0-1 values, as matplotlib's
    `imread` gives a PNG) within two levels in 100 of `colour`."""
    target = np.array(to_rgb(colour))
    return float((np.abs(picture[..., :3] - target).max(axis=-1) < 0.02).mean())


def type_at_the_prompt(monkeypatch: pytest.MonkeyPatch, lines: Sequence[str]) -> None:
    """`input()` answers with `lines`, then Ctrl-D (EOFError), as a person would type them."""
    typed = iter(lines)

    def type_or_ctrl_d(*_: object) -> str:
        line = next(typed, None)
        if line is None:
            raise EOFError
        return line

    monkeypatch.setattr(builtins, "input", type_or_ctrl_d)
