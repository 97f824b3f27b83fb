"""History from CSV logs, and every picture drawn from small hand-made inputs."""

from __future__ import annotations

import torch
from matplotlib.image import imread

from intentbot.evaluation.outcomes import Outcomes, confused_pairs, out_of_scope_errors
from intentbot.evaluation.plots import (
    plot_confidence_histogram,
    plot_confusions,
    plot_reliability,
)
from intentbot.examples import Example
from intentbot.labels import LabelSet
from intentbot.plotting import DPI
from intentbot.scoring import ClassIndex
from intentbot.training.curves import RunCurves, plot_comparison, plot_curves
from intentbot.training.history import History, log_files, read_history

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


def test_curves_png_has_three_panels_worth_of_width(tmp_path):
    first_attempt_and_resume(tmp_path)
    path = plot_curves(read_history(log_files(tmp_path / "logs")), tmp_path / "c.png", clip=1.0)
    assert png_size(path) == (15 * DPI, int(4.2 * DPI))


def test_curves_png_from_an_empty_history_says_not_logged(tmp_path):
    assert plot_curves(History(), tmp_path / "c.png").stat().st_size > 5_000


def test_comparison_png_grows_with_the_number_of_runs(tmp_path):
    first_attempt_and_resume(tmp_path)
    history = read_history(log_files(tmp_path / "logs"))
    metrics = {"val": {"accuracy": 0.7}, "test": {"accuracy": 0.6, "macro_f1": 0.5}}
    few = [RunCurves(str(n), "encoder=gru", history, metrics) for n in range(2)]
    many = [RunCurves(str(n), "optim.lr=0.1", history, metrics) for n in range(14)]
    small = png_size(plot_comparison(few, tmp_path / "few.png"))
    large = png_size(plot_comparison(many, tmp_path / "many.png"))
    assert small[0] == large[0] and large[1] > small[1]


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


def test_evaluation_pictures_draw_with_and_without_errors(tmp_path):
    mixed = outcomes_for([("a", "b"), ("b", "b"), ("oos", "a"), ("a", "oos")], ("a", "b", "oos"))
    perfect = outcomes_for([("a", "a"), ("b", "b")], ("a", "b"))  # no oos label, no errors
    for name, outcomes in (("mixed", mixed), ("perfect", perfect)):
        confusion = plot_confusions(outcomes, tmp_path / f"{name}-confusion.png")
        histogram = plot_confidence_histogram(outcomes, 0.5, tmp_path / f"{name}-hist.png")
        assert png_size(confusion)[0] == 17 * DPI and png_size(histogram)[0] == 9 * DPI
    bins = [
        {"lower": n / 4, "upper": (n + 1) / 4, "count": n, "confidence": None, "accuracy": None}
        for n in range(4)
    ]
    for row in bins[1:]:
        row["confidence"], row["accuracy"] = row["upper"] - 0.1, 0.5
    assert png_size(plot_reliability(bins, 0.12, tmp_path / "rel.png")) == (7 * DPI, 7.5 * DPI)
