"""History from CSV logs, and every picture drawn from small hand-made inputs."""

from __future__ import annotations

import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import imread

from intentbot.evaluation import plots
from intentbot.evaluation.outcomes import Outcomes, confused_pairs, out_of_scope_errors
from intentbot.evaluation.plots import (
    plot_confidence_histogram,
    plot_confusions,
    plot_reliability,
)
from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.plotting import DPI, RED
from intentbot.scoring import ClassIndex
from intentbot.training import curves
from intentbot.training.curves import COLOURED, LIGHT, RunCurves, plot_comparison, plot_curves
from intentbot.training.history import History, log_files, read_history
from tests.helpers import drawn_figures, share_of, texts_of

HEADER = "epoch,step,train/argmax_acc,train/grad_norm,train/loss,val/argmax_acc,val/loss\n"


def write_log(folder, rows: str):
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(HEADER + rows)
    return folder / "metrics.csv"


def first_attempt_and_resume(tmp_path):
    """Epochs 0-1 logged, then a resumed attempt that redoes epoch 1 and adds epoch 2."""
    write_log(
        tmp_path / "logs" / "version_0",
        "0,9,,2.0,,,\n0,9,,,,0.5,1.0\n0,9,0.4,,1.2,,\n1,19,,4.0,,,\n1,19,,,,0.55,0.9\n",
    )
    write_log(
        tmp_path / "logs" / "version_1",
        "1,19,,,,0.6,0.8\n1,19,0.6,,0.9,,\n2,24,,1.0,,,\n2,29,,3.0,,,\n2,29,,,,0.7,0.7\n",
    )


def test_history_merges_attempts_later_log_wins(tmp_path):
    first_attempt_and_resume(tmp_path)
    files = log_files(tmp_path / "logs")
    assert [path.parent.name for path in files] == ["version_0", "version_1"]
    history = read_history(files)
    assert history.per_epoch("val/argmax_acc") == ([1, 2, 3], [0.5, 0.6, 0.7])
    assert history.per_epoch("train/loss") == ([1, 2], [1.2, 0.9])
    assert history.per_step("train/grad_norm") == ([9, 19, 24, 29], [2.0, 4.0, 1.0, 3.0])
    assert history.per_epoch("train/grad_norm") == ([1, 2, 3], [2.0, 4.0, 2.0])  # epoch means
    assert "val/argmax_acc" in history and "test/argmax_acc" not in history
    assert log_files(tmp_path / "logs", up_to=0) == files[:1]


def test_history_also_found_one_folder_down(tmp_path):
    write_log(tmp_path / "run" / "logs" / "version_0", "0,9,,,,0.5,1.0\n")
    assert len(log_files(tmp_path / "run")) == 1  # <run dir>/<logger name>/version_N


def png_size(path) -> tuple[int, int]:
    height, width = imread(path).shape[:2]
    return width, height


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """The figures the plots draw in this test, in order."""
    return drawn_figures(monkeypatch, plots, curves)


def points(axes: Axes) -> dict[str, tuple[list[float], list[float]]]:
    """Each line of `axes` by its legend label: its x and y values."""
    return {
        line.get_label(): (
            [float(x) for x in line.get_xdata()],
            [float(y) for y in line.get_ydata()],
        )
        for line in axes.get_lines()
    }


def test_curves_draw_each_epoch_and_step_of_both_attempts(tmp_path, figures):
    first_attempt_and_resume(tmp_path)
    path = plot_curves(read_history(log_files(tmp_path / "logs")), tmp_path / "c.png", clip=1.0)
    assert png_size(path) == (15 * DPI, int(4.2 * DPI))
    loss, accuracy, gradient = figures[-1].axes
    assert points(loss) == {"train": ([1, 2], [1.2, 0.9]), "val": ([1, 2, 3], [1.0, 0.8, 0.7])}
    assert points(accuracy) == {
        "train": ([1, 2], [0.4, 0.6]),
        "val": ([1, 2, 3], [0.5, 0.6, 0.7]),
        "best val, epoch 3": ([3, 3], [0, 1]),  # the epoch the checkpoint keeps
    }
    assert points(gradient) == {
        "total L2 norm": ([9, 19, 24, 29], [2.0, 4.0, 1.0, 3.0]),  # per step, not per epoch
        "clipped at 1.0": ([0, 1], [1.0, 1.0]),
    }


def test_curves_from_an_empty_history_say_not_logged(tmp_path, figures):
    plot_curves(History(), tmp_path / "c.png")
    assert texts_of(figures[-1]).count("not logged") == 3
    assert all(xs == [] for axes in figures[-1].axes for xs, _ in points(axes).values())


def test_comparison_ranks_the_runs_and_grows_with_their_number(tmp_path, figures):
    first_attempt_and_resume(tmp_path)
    history = read_history(log_files(tmp_path / "logs"))

    def runs(count: int, config: str) -> list[RunCurves]:
        metrics = [
            {"val": {"accuracy": 0.5 + n / 100}, "test": {"accuracy": 0.6}} for n in range(count)
        ]
        return [RunCurves(str(n), config, history, metrics[n]) for n in range(count)]

    small = png_size(plot_comparison(runs(2, "encoder=gru"), tmp_path / "few.png"))
    scores = figures[-1].subfigs[1].axes[0]
    assert [tick.get_text() for tick in scores.get_yticklabels()] == [
        "1: encoder=gru",
        "0: encoder=gru",
    ]
    # val accuracy, test accuracy and test macro-F1 (absent: 0) of each run, the best first
    assert [bar.get_width() for bar in scores.patches] == [0.51, 0.5, 0.6, 0.6, 0.0, 0.0]
    large = png_size(plot_comparison(runs(14, "optim.lr=0.1"), tmp_path / "many.png"))
    assert small[0] == large[0] and large[1] > small[1]
    accuracy = figures[-1].subfigs[0].axes[0]
    colours = [line.get_color() for line in accuracy.get_lines()]
    assert len(colours) == 14 and colours.count(LIGHT) == 14 - COLOURED  # the best in colour


def outcomes_for(
    pairs: list[tuple[str, str]], names: tuple[str, ...], oos: str = "oos"
) -> Outcomes:
    """Outcomes where each (true, predicted) pair was predicted with confidence 0.8."""
    labels = LabelSet(names, oos)
    probs = torch.full((len(pairs), len(names)), 0.2 / max(1, len(names) - 1))
    predicted = torch.tensor([labels.index(answer) for _, answer in pairs])
    probs[torch.arange(len(pairs)), predicted] = 0.8
    classes = ClassIndex(labels.names, labels.oos_index, labels.oos_label)
    return Outcomes(
        examples=[Example(f"text {n}", true) for n, (true, _) in enumerate(pairs)],
        labels=labels,
        probs=probs,
        flagged=predicted == labels.oos_index if labels.oos_index is not None else predicted < 0,
        predicted=predicted,
        targets=classes.targets([true for true, _ in pairs]),
        classes=classes,
    )


def test_confused_pairs_between_intents_leave_out_of_scope_aside():
    outcomes = outcomes_for(
        [("a", "b"), ("a", "b"), ("b", "a"), ("oos", "a"), ("oos", "a"), ("oos", "a"), ("a", "a")],
        ("a", "b", "oos"),
    )
    assert confused_pairs(outcomes)[0] == {"true": "oos", "predicted": "a", "count": 3}
    assert confused_pairs(outcomes, between_intents=True) == [
        {"true": "a", "predicted": "b", "count": 2},
        {"true": "b", "predicted": "a", "count": 1},
    ]
    assert out_of_scope_errors(outcomes) == {"oos_taken_as_intent": 3, "intent_rejected_as_oos": 0}


def test_the_confusion_picture_counts_the_errors_between_intents(tmp_path, figures):
    mixed = outcomes_for([("a", "b"), ("b", "b"), ("oos", "a"), ("a", "oos")], ("a", "b", "oos"))
    assert png_size(plot_confusions(mixed, tmp_path / "mixed.png"))[0] == 17 * DPI
    bars, matrix = figures[-1].axes[:2]
    assert figures[-1].get_suptitle() == (
        "3 of 4 utterances wrong: 1 out-of-scope answered with an intent, 1 in-scope rejected "
        "as 'oos', 1 confused between intents"
    )
    assert [bar.get_width() for bar in bars.patches] == [1]  # a -> b, once
    assert [tick.get_text() for tick in matrix.get_xticklabels()] == ["a", "b"]
    assert matrix.images[0].get_array().tolist() == [[0, 1], [0, 0]]  # rows true, columns said
    perfect = outcomes_for([("a", "a"), ("b", "b")], ("a", "b"))  # no oos label, no errors
    plot_confusions(perfect, tmp_path / "perfect.png")
    assert figures[-1].get_suptitle() == "0 of 2 utterances wrong"
    assert texts_of(figures[-1]).count("no confusions between intents") == 2


def test_the_confidence_histogram_puts_right_and_wrong_answers_in_their_bins(tmp_path, figures):
    mixed = outcomes_for([("a", "b"), ("b", "b"), ("oos", "a"), ("a", "oos")], ("a", "b", "oos"))
    perfect = outcomes_for([("a", "a"), ("b", "b")], ("a", "b"))
    red = {}
    for name, outcomes, right, wrong in (("mixed", mixed, 1, 3), ("perfect", perfect, 2, 0)):
        path = plot_confidence_histogram(outcomes, 0.5, tmp_path / f"{name}.png")
        assert png_size(path)[0] == 9 * DPI
        figure = figures[-1]
        assert figure.get_suptitle() == f"confidence of right ({right}) and wrong ({wrong}) answers"
        for axes, count in zip(figure.axes, (right, wrong), strict=True):
            drawn = [(bar.get_x(), bar.get_height()) for bar in axes.patches if bar.get_height()]
            # every answer was 0.8 sure: one bar, in the bin from 0.80 to 0.85
            assert [(round(x, 2), height) for x, height in drawn] == (
                [(0.8, count)] if count else []
            )
            assert points(axes)["out-of-scope threshold 0.50"][0] == [0.5, 0.5]
        red[name] = share_of(imread(path), RED)
    assert red["mixed"] > 5 * red["perfect"]  # in the file: red bars, or only the legend's patch


def test_the_reliability_picture_draws_each_bin(tmp_path, figures):
    bins = [
        {"lower": n / 4, "upper": (n + 1) / 4, "count": n, "confidence": None, "accuracy": None}
        for n in range(4)
    ]
    for row in bins[1:]:
        row["confidence"], row["accuracy"] = row["upper"] - 0.1, 0.5
    assert png_size(plot_reliability(bins, 0.12, tmp_path / "rel.png")) == (7 * DPI, 7.5 * DPI)
    curve, counts = figures[-1].axes
    assert curve.get_title() == "reliability (in-scope utterances, 4 bins): ECE = 0.1200"
    accuracy, gaps = curve.patches[:3], curve.patches[3:6]  # the empty first bin has no bar
    assert [bar.get_height() for bar in accuracy] == [0.5, 0.5, 0.5]
    assert [round(bar.get_height(), 6) for bar in gaps] == [-0.1, 0.15, 0.4]  # confidence - acc
    assert [bar.get_height() for bar in counts.patches] == [0, 1, 2, 3]
