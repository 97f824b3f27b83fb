"""Rich tables and bench/results/<name>.json, with the machine they were measured on, and the
BENCHMARKS.md sections written from them.

    python -m bench.report [NAME ...]   # rewrite sections from bench/results/NAME.json

Each benchmark's script writes its JSON and its section itself; the command above writes the
sections again from the JSON files (after a change to a section's layout), measuring nothing.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil
import torch
from rich.console import Console
from rich.table import Table

from bench.fixtures import REPO, RESULTS

BENCHMARKS = REPO / "BENCHMARKS.md"


VECTOR_FLAGS = {"avx2", "avx512f", "avx512_vnni", "amx_tile"}  # what changes kernel speeds
FLAG_NAMES = {  # in the order a reader ranks them
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_vnni": "AVX-512 VNNI",
    "amx_tile": "AMX",
}
# the results file (bench/results/NAME.json) -> the module whose `markdown` writes its section
WRITERS = {
    "inference": "bench.inference",
    "serving": "bench.serving",
    "training": "bench.training",
    "accuracy": "bench.accuracy",
    "suite": "bench.suite",
    "snips": "bench.snips",
    "review_loop": "bench.review_loop",
    "transformer": "bench.transformer",
    "small": "bench.small",
}


def machine() -> dict:
    """Where the figures came from, including how busy the CPU was at the start."""
    cpu = _cpuinfo()
    return {
        "cpu": platform.processor() or platform.machine(),
        # the cloud machine behind "this machine" changes between sessions (AMD EPYC with AVX2,
        # Intel Xeon with AVX-512, ...): figures from different models do not compare
        "cpu_model": cpu.get("model name", ""),
        "cpu_flags": sorted(set(cpu.get("flags", "").split()) & VECTOR_FLAGS),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (Linux); {} where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


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


def command_line(module: str) -> str:
    """How this process was started, as a person would type it: `python -m bench.NAME ...`."""
    return shlex.join(["python", "-m", module, *sys.argv[1:]])


def describe(machine: dict) -> str:
    """The machine in words: cores, CPU model and vector extensions, memory, torch. The cloud
    machine behind a session changes (AMD EPYC with AVX2 one day, Intel Xeon with AVX-512 the
    next), so a table's figures compare with each other, not with another table's."""
    cpu = machine.get("cpu_model") or "a CPU whose model was not recorded"
    flags = [name for flag, name in FLAG_NAMES.items() if flag in machine.get("cpu_flags", [])]
    extensions = f" ({', '.join(flags)})" if flags else ""
    return (
        f"{machine['cores']} cores of {cpu}{extensions}, {machine['memory_gib']} GiB, "
        f"torch {machine['torch']}"
    )


def measured(record: dict, command: str | None = None) -> str:
    """The opening of a BENCHMARKS.md section: when, on which machine, by which command."""
    machine = record["machine"]
    load = machine.get("load_average_1m")
    return (
        f"Measured {machine['date']} on {describe(machine)}"
        + (f" (load {load} at the start)" if load is not None else "")
        + f", by `{command or record['command']}`"
    )


def goal_rows(figures: dict, goals: list[tuple[str, str, str, float]]) -> list[dict]:
    """Each goal `(target, key, ">=" or "<=", bound)` checked against `figures[key]`: the rows
    `targets_table` and `targets_console` write. A goal whose figure this run did not measure
    (a server or peer left out) is left out too."""
    rows = []
    for target, key, sense, bound in goals:
        if key not in figures:
            continue
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


def aside(value: str, others: Sequence[str]) -> str:
    """`value (other / other)`, or `value` alone: one table cell holding a figure and those it
    is read with (a peer's, a percentile's), so a table needs no row or column for each."""
    return f"{value} ({' / '.join(others)})" if others else value


def section_head(intro: str, targets: list[dict], columns: Sequence[str]) -> list[str]:
    """A section's opening: its one-paragraph method, the goals, then the header of a table
    with `columns`."""
    return [
        intro,
        "",
        *targets_table(targets),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]


def targets_console(title: str, targets: list[dict]) -> Table:
    """`goal_rows` as a table for the terminal."""
    rows = [
        [t["target"], t["goal"], t["measured"], "pass" if t["pass"] else "MISS"] for t in targets
    ]
    return table(title, ["target", "goal", "measured", ""], rows)


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


def publish(names: list[str], console: Console) -> None:
    """Write the BENCHMARKS.md sections of these results files again, from their JSON."""
    for name in names:
        module = importlib.import_module(WRITERS[name])
        record = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        markers = module.markers(name) if hasattr(module, "markers") else module.MARKERS
        update_benchmarks(markers, module.HEADING, module.markdown(record), console)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(WRITERS)} (default: all)")
    names = parser.parse_args().names or list(WRITERS)
    unknown = sorted(set(names) - set(WRITERS))
    if unknown:
        parser.error(f"unknown {unknown}; choose from {list(WRITERS)}")
    publish(names, Console())


if __name__ == "__main__":
    main()
