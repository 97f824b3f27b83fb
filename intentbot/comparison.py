"""The table that ends a multirun: one row per run, the overrides that differed, its figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.table import Table

from intentbot.console import make_console

FIGURES = ("accuracy", "macro_f1", "in_scope_accuracy", "oos_recall", "ece")


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
    for column in ("run", "config", "parameters", "val acc", *FIGURES, "epochs", "seconds"):
        table.add_column(column, justify="left" if column in ("run", "config") else "right")
    present = {name for run in runs for name in run["metrics"].get("test", {})}
    shared = set.intersection(*(set(run["overrides"]) for run in runs))
    for run in runs:
        differing = [item for item in run["overrides"] if item not in shared]
        metrics, test = run["metrics"], run["metrics"].get("test", {})
        table.add_row(
            run["run"],
            " ".join(differing) or "(defaults)",
            f"{metrics.get('parameters', 0):,}",
            _figure(metrics.get("val", {}).get("accuracy")),
            *(_figure(test.get(name)) if name in present else "-" for name in FIGURES),
            str(metrics.get("epochs", "")),
            f"{metrics.get('train_seconds', 0):.1f}",
        )
    return table


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


class MultirunComparison(Callback):
    """Hydra callback: print the comparison table when a sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        runs = collect_runs(Path(config.hydra.sweep.dir))
        console = make_console()
        if runs:
            console.print(comparison_table(runs))
        else:
            console.print("[warning]no run of this sweep wrote metrics.json[/]")
