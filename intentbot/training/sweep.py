"""What ends a multirun: one table row per run (the overrides that differed, its scores), the
best run by validation accuracy, and comparison.png in the sweep directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig
from rich.markup import escape
from rich.table import Table

from intentbot.console import make_console
from intentbot.training.curves import RunCurves, plot_comparison
from intentbot.training.history import log_files, read_history

SCORES = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "ece")


def collect_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Each finished run of a sweep: its overrides and its metrics.json."""
    runs = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json"), key=_job_number):
        overrides_file = metrics_file.parent / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
        runs.append(
            {
                "run": metrics_file.parent.name,
                "overrides": overrides or [],
                "metrics": json.loads(metrics_file.read_text()),
            }
        )
    return runs


def _job_number(path: Path) -> tuple[int, str]:
    name = path.parent.name
    return (int(name), name) if name.isdigit() else (1 << 30, name)


def comparison_table(runs: list[dict[str, Any]]) -> Table:
    """One row per run; the config column shows only the overrides that differ."""
    table = Table(title="multirun comparison (test split; val accuracy for reference)")
    for column in ("run", "config", "parameters", "val accuracy", *SCORES, "epochs", "seconds"):
        left = column in ("run", "config")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    present = {name for run in runs for name in run["metrics"].get("test", {})}
    for run in runs:
        metrics, test = run["metrics"], run["metrics"].get("test", {})
        table.add_row(
            run["run"],
            differing_config(run, runs),
            f"{metrics.get('parameters', 0):,}",
            _score_cell(metrics.get("val", {}).get("accuracy")),
            *(_score_cell(test.get(name)) if name in present else "-" for name in SCORES),
            str(metrics.get("epochs", "")),
            f"{metrics.get('train_seconds', 0):.1f}",
        )
    return table


def differing_config(run: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The run's overrides that not every run of the sweep shares."""
    shared = set.intersection(*(set(other["overrides"]) for other in runs))
    return " ".join(item for item in run["overrides"] if item not in shared) or "(defaults)"


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The run with the highest validation accuracy: the score a search selects on."""
    scored = [run for run in runs if run["metrics"].get("val", {}).get("accuracy") is not None]
    return max(scored, key=lambda run: run["metrics"]["val"]["accuracy"], default=None)


def write_comparison_plot(sweep_dir: Path, runs: list[dict[str, Any]]) -> Path:
    """comparison.png from each run's CSV log and metrics.json."""
    curves = [
        RunCurves(
            name=run["run"],
            config=differing_config(run, runs),
            history=read_history(log_files(sweep_dir / run["run"])),
            metrics=run["metrics"],
        )
        for run in runs
    ]
    return plot_comparison(curves, sweep_dir / "comparison.png")


def _best_line(best: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    line = (
        f"[step]best by val accuracy[/]  run {best['run']} "
        f"({escape(differing_config(best, runs))}): "
        f"[score]{best['metrics']['val']['accuracy']:.4f}[/]"
    )
    tag = best["metrics"].get("model_tag")
    if tag:
        line += f", model [path]{tag}[/]"
        if best is not runs[-1]:
            line += " (intentbot:latest is the sweep's last run, not this one)"
    return line


def _score_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class MultirunComparison(Callback):
    """Hydra callback: print the comparison table when a sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Hydra calls this once every job of the sweep has ended: table, best run, plot."""
        if rank_zero_only.rank != 0:  # a DDP worker re-launched with the sweep: rank 0 reports
            return
        sweep_dir = Path(config.hydra.sweep.dir)
        runs = collect_runs(sweep_dir)
        console = make_console()
        if not runs:
            console.print("[warning]no run of this sweep wrote metrics.json[/]")
            return
        console.print(comparison_table(runs))
        best = best_run(runs)
        if best is not None:
            console.print(_best_line(best, runs))
        path = write_comparison_plot(sweep_dir, runs)
        console.print(f"[step]comparison[/]  [path]{escape(str(path))}[/]")
