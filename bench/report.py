"""Rich tables and bench/results/<name>.json, with the machine they were measured on."""

from __future__ import annotations

import json
import os
import platform
import re
import time
from pathlib import Path

import psutil
import torch
from rich.console import Console
from rich.table import Table

from bench.fixtures import REPO, RESULTS

BENCHMARKS = REPO / "BENCHMARKS.md"


def machine() -> dict:
    """Where the figures came from, including how busy the CPU was at the start."""
    return {
        "cpu": platform.processor() or platform.machine(),
        # the cloud machine behind "this machine" changes between sessions (AMD EPYC with AVX2,
        # Intel Xeon with AVX-512, ...): figures from different models do not compare
        "cpu_model": cpu_model(),
        "cpu_flags": sorted(_cpu_flags() & {"avx2", "avx512f", "avx512_vnni", "amx_tile"}),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def cpu_model() -> str:
    """The processor's marketing name, from /proc/cpuinfo (Linux); "" where there is none."""
    return _cpuinfo_field("model name")


def _cpu_flags() -> set[str]:
    return set(_cpuinfo_field("flags").split())


def _cpuinfo_field(name: str) -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
    view = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        view.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        view.add_row(*(cell if isinstance(cell, str) else _format(cell) for cell in row))
    return view


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return str(value)


def write(name: str, record: dict, console: Console, output: Path | None = None) -> Path:
    path = output or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    load_end = round(os.getloadavg()[0], 2)
    record = {"benchmark": name, **record}
    record.setdefault("machine", machine())["load_average_1m_end"] = load_end
    path.write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"wrote {path}")
    return path


def measured(record: dict) -> str:
    """The opening of a BENCHMARKS.md section: when, where and by which command."""
    machine = record["machine"]
    return (
        f"Measured {machine['date']} on this {machine['cores']}-core machine (load "
        f"{machine['load_average_1m']} at the start) by `{record['command']}`"
    )


def goal_rows(figures: dict, goals: list[tuple[str, str, str, float]]) -> list[dict]:
    """Each goal `(target, key, ">=" or "<=", bound)` checked against `figures[key]`: the rows
    `targets_table` writes."""
    rows = []
    for target, key, sense, bound in goals:
        measured = figures[key]
        passed = measured >= bound if sense == ">=" else measured <= bound
        goal = f"{sense} {bound:g}"
        rows.append({"target": target, "goal": goal, "measured": measured, "pass": passed})
    return rows


def targets_table(targets: list[dict]) -> list[str]:
    """A benchmark's goals as markdown rows: target, goal, measured, pass or miss."""
    return [
        "| target | goal | measured | |",
        "|---|---|---|---|",
        *(
            f"| {t['target']} | {t['goal']} | {t['measured']} | {'pass' if t['pass'] else 'miss'} |"
            for t in targets
        ),
    ]


def update_benchmarks(
    markers: tuple[str, str], heading: str, section: str, console: Console | None = None
) -> None:
    """Replace the text between `markers` in BENCHMARKS.md (added at the end under `heading`
    the first time), and say so on `console`."""
    text = BENCHMARKS.read_text(encoding="utf-8")
    start, end = markers
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        text = re.sub(f"{re.escape(start)}.*?{re.escape(end)}", lambda _: block, text, flags=re.S)
    else:
        text = f"{text.rstrip()}\n\n{heading}\n\n{block}\n"
    BENCHMARKS.write_text(text, encoding="utf-8")
    if console is not None:
        console.print(f"updated {BENCHMARKS}")
