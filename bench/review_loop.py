"""Does the review loop pay? CLINC150: train on the Small variant, treat the rest of Full's
training utterances as traffic, classify it in bulk, let an oracle (the true labels) label the
N utterances review shows first and, separately, N random ones, retrain with each as
`data.extra`, and compare test in-scope accuracy and out-of-scope recall.

    python -m bench.review_loop [OVERRIDES...] [--data DIR] [--n 250 500 1000] [--seeds 0 1 2]
                                [--oos-plus]

Every training run is the real `python -m intentbot.train experiment=clinc150 ...` (OVERRIDES
appended, e.g. `model.pretrained=null trainer.max_epochs=1` for a quick look); classifying and
ordering are intentbot.classify's and intentbot.review's own functions. Full and Small share
their 100 out-of-scope training utterances, so the traffic is all in scope unless `--oos-plus`
adds the out-of-scope training utterances only the OOS+ variant has. Writes
bench/results/review_loop.json and the review-loop section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from rich.console import Console

from bench import fixtures, report
from intentbot.bulk.inputs import InputFile
from intentbot.bulk.outputs import JsonLinesWriter
from intentbot.bulk.stream import classify_rows
from intentbot.corpus import normalised
from intentbot.records import read_records
from intentbot.review.ordering import Item, review_order

MARKERS = ("<!-- review-loop:start -->", "<!-- review-loop:end -->")
HEADING = "## Closing the loop on CLINC150 (`bench/review_loop.py`)"
STRATEGIES = ("review", "random")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.review_loop", description=__doc__)
    default = fixtures.DEFAULT_DATA.parent
    parser.add_argument("--data", type=Path, default=default, help="the CLINC150 folder")
    parser.add_argument("--n", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--oos-plus", action="store_true", help="add OOS+'s extra out-of-scope utterances"
    )
    parser.add_argument("overrides", nargs="*", help="extra training overrides, key=value")
    return parser.parse_args()


def write_traffic(data: Path, path: Path, oos_plus: bool) -> int:
    """Full's training utterances that Small's training split lacks, labelled (the oracle's
    answers), as JSON lines; how many."""
    small = _document(data, "small")
    seen = {normalised(text) for text, _ in small["train"] + small["oos_train"]}
    full = _document(data, "full")
    pairs = full["train"] + full["oos_train"]
    if oos_plus:
        pairs += _document(data, "oos_plus")["oos_train"]
    traffic, kept = [], set()
    for text, intent in pairs:
        key = normalised(text)
        if key not in seen and key not in kept:
            kept.add(key)
            traffic.append((text, intent))
    fixtures.write_jsonl(path, traffic)
    return len(traffic)


def _document(data: Path, variant: str) -> dict:
    return json.loads((data / f"data_{variant}.json").read_text(encoding="utf-8"))


def train(data: Path, seed: int, run_dir: Path, overrides: list[str], extra: Path | None) -> dict:
    """One real training run on Small (plus `extra`); its test figures and the model's tag."""
    command = [
        *fixtures.TRAIN_COMMAND,
        f"data.path={data}",
        "data.variant=small",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        *([f"data.extra=[{extra}]", "export=false"] if extra else []),
        *overrides,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=fixtures.REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[3:])} failed:\n{done.stdout[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "in_scope": round(100 * metrics["test"]["in_scope_accuracy"], 2),
        "oos_recall": round(100 * metrics["test"]["oos_recall"], 2),
        "seconds": round(time.perf_counter() - started, 1),
        "model_tag": metrics["model_tag"],
    }


def classify_traffic(tag: str, traffic: Path, output: Path) -> float:
    """The deployed model answers the traffic in bulk (intentbot.classify's functions);
    utterances per second."""
    from intentbot.predictor import Predictor
    from intentbot.store import load_bundle

    predictor = Predictor(load_bundle(tag))
    started = time.perf_counter()
    with output.open("w", encoding="utf-8") as handle:
        counts = classify_rows(predictor, InputFile(traffic), JsonLinesWriter(handle), model=tag)
    return counts.answered / (time.perf_counter() - started)


def oracle_file(items: list[Item], path: Path) -> Path:
    """What a perfect reviewer decides: each item's true label (kept by bulk classification
    as `label`)."""
    return fixtures.write_jsonl(path, [(item.record.text, item.record.label) for item in items])


def run_seed(args: argparse.Namespace, seed: int, home: Path, traffic: Path, console) -> dict:
    """Baseline, then for each N one retraining per strategy."""
    with console.status(f"seed {seed}: training on Small"):
        baseline = train(args.data, seed, home / f"base-{seed}", args.overrides, None)
    console.print(f"seed {seed} baseline: {baseline}")
    records = home / f"traffic-answered-{seed}.jsonl"
    rate = classify_traffic(baseline["model_tag"], traffic, records)
    items = review_order(read_records(records))
    console.print(f"seed {seed}: {len(items)} distinct traffic utterances at {rate:,.0f} utt/s")
    shuffled = random.Random(seed).sample(items, len(items))
    runs: dict[str, dict[str, dict]] = {strategy: {} for strategy in STRATEGIES}
    for n in args.n:
        for strategy, chosen in (("review", items[:n]), ("random", shuffled[:n])):
            extra = oracle_file(chosen, home / f"{strategy}-{n}-seed{seed}.jsonl")
            run_dir = home / f"{strategy}-{n}-seed{seed}"
            with console.status(f"seed {seed}: {strategy} {n}"):
                result = train(args.data, seed, run_dir, args.overrides, extra)
            result["wrong_before"] = sum(item.record.label != item.record.intent for item in chosen)
            runs[strategy][str(n)] = result
            console.print(f"seed {seed} {strategy} N={n}: {result}")
    return {"seed": seed, "baseline": baseline, "traffic_utt_per_s": round(rate), **runs}


def summarise(seeds: list[dict], sizes: list[int]) -> dict:
    """Mean figures over the seeds: the baseline, and per N each strategy's."""

    def mean(rows: list[dict]) -> dict:
        keys = ("in_scope", "oos_recall", "wrong_before")
        return {k: round(statistics.fmean(row[k] for row in rows), 2) for k in keys if k in rows[0]}

    return {
        "baseline": mean([seed["baseline"] for seed in seeds]),
        "by_n": {
            str(n): {s: mean([seed[s][str(n)] for seed in seeds]) for s in STRATEGIES}
            for n in sizes
        },
    }


def rows(summary: dict) -> list[list[str]]:
    """N, then in-scope %, oos recall % and wrong-before per strategy (the baseline: N = 0)."""
    base = summary["baseline"]
    # N = 0 is the baseline for both strategies
    table: list[list[object]] = [["0", *(base["in_scope"], base["oos_recall"], None) * 2]]
    for n, by_strategy in summary["by_n"].items():
        row: list[object] = [n]
        for strategy in STRATEGIES:
            figures = by_strategy[strategy]
            row += [figures["in_scope"], figures["oos_recall"], figures["wrong_before"]]
        table.append(row)
    return [
        [
            "" if cell is None else f"{cell:g}" if isinstance(cell, float) else str(cell)
            for cell in row
        ]
        for row in table
    ]


COLUMNS = [
    "N",
    "review: in-scope %",
    "oos recall %",
    "wrong",
    "random: in-scope %",
    "oos recall %",
    "wrong",
]


def markdown(record: dict) -> str:
    lines = [
        f"{report.measured(record)}: trained on CLINC150 Small, {record['traffic']} traffic "
        "utterances (Full's training utterances that Small lacks) classified in bulk, N of them "
        "labelled by an oracle in review's order or at random and added with `data.extra`; "
        f'mean of {len(record["seeds"])} seeds, test split. "wrong": how many of the N the '
        "deployed model had answered wrongly.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(
            "| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |"
            for row in rows(record["summary"])
        ),
        "",
        *gains(record["seeds"]),
    ]
    return "\n".join(lines)


def gains(seeds: list[dict]) -> list[str]:
    """One line per N: review's in-scope accuracy and out-of-scope recall minus random's, in
    the mean and seed by seed (the evidence the ordering has to give)."""
    lines = []
    for n in seeds[0]["review"]:
        lines.append(f"- N = {n}, review minus random:")
        for key, name in (("in_scope", "in-scope"), ("oos_recall", "out-of-scope recall")):
            each = [seed["review"][n][key] - seed["random"][n][key] for seed in seeds]
            wins = sum(gain > 0 for gain in each)
            spread = ", ".join(f"{gain:+.2f}" for gain in each)
            lines.append(
                f"  - {name} {statistics.fmean(each):+.2f} points (seeds: {spread}; review ahead "
                f"in {wins} of {len(each)})"
            )
    return lines


def main() -> None:
    args = parse_args()
    args.data = args.data.resolve()
    console = Console(width=max(120, Console().width))
    if not (args.data / "data_small.json").is_file():
        raise SystemExit(f"error: {args.data}: no data_small.json; pass --data CLINC150_FOLDER")
    home = fixtures.scratch_home("review-loop")  # its store: this process and its trainings
    traffic = home / "traffic.jsonl"
    count = write_traffic(args.data, traffic, args.oos_plus)
    command = "python -m bench.review_loop " + " ".join(
        [*args.overrides, f"--n {' '.join(map(str, args.n))}"]
        + [f"--seeds {' '.join(map(str, args.seeds))}"]
        + (["--oos-plus"] if args.oos_plus else [])
    )
    record: dict = {"machine": report.machine(), "command": command, "traffic": count}
    record["seeds"] = [run_seed(args, seed, home, traffic, console) for seed in args.seeds]
    record["summary"] = summarise(record["seeds"], args.n)
    console.print(
        report.table(
            "CLINC150 test after review (mean over seeds)", COLUMNS, rows(record["summary"])
        )
    )
    report.write("review_loop", record, console)
    report.update_benchmarks(MARKERS, HEADING, markdown(record), console)
    shutil.rmtree(home, ignore_errors=True)  # every run's checkpoints and models


if __name__ == "__main__":
    main()
