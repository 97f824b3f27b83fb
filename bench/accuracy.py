"""CLINC150 accuracy: `experiment=clinc150` over several seeds on the Full, Small and
Imbalanced variants, the same network trained from scratch beside it, and TF-IDF + LinearSVC
as the in-run peer, next to the paper's table.

    python -m bench.accuracy [--data FILE] [--seeds 0 1 2] [--variants full small imbalanced]
                             [--scratch-seeds 1] [OVERRIDES...]

Every run is the real `python -m intentbot.train` (export included, into a throw-away store);
its wall time is the whole process. Test-split figures only; everything is tuned on val.
Writes bench/results/accuracy.json and the accuracy section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from bench import fixtures, report
from bench.peers import tfidf_peer
from intentbot.examples import Example
from intentbot.splits import Splits

# Table 2 of Larson et al. (2019), Full: in-scope accuracy % / out-of-scope recall %
PAPER = {
    "FastText": ((89.0, 9.7), (88.6, 28.3)),
    "SVM (bag of words)": ((91.0, 14.5), (88.2, 18.0)),
    "CNN (GloVe)": ((91.2, 18.9), (90.9, 30.9)),
    "DialogFlow": ((91.7, 14.0), (90.8, 26.7)),
    "Rasa": ((91.5, 45.3), (90.9, 31.2)),
    "MLP (USE embeddings)": ((93.5, 47.4), (93.4, 49.1)),
    "BERT": ((96.9, 40.3), (96.2, 52.3)),
}
# the preset's goals on Full: at least all-MiniLM-L6-v2 + logistic regression with a tuned
# threshold (94.5 / 62.3, measured here), recall that does not hang on the seed, calibration
GOALS = [
    ("mean in-scope accuracy %", "in_scope", ">=", 94.5),
    ("mean out-of-scope recall %", "oos_recall", ">=", 62.3),
    ("lowest seed's out-of-scope recall %", "min_oos_recall", ">=", 57.0),
    ("ECE % (in-scope)", "ece", "<=", 2.0),
    ("slowest run (s)", "max_seconds", "<=", 300),
]
SCRATCH = ("model.pretrained=null",)  # the same network, its own vocabulary, nothing pretrained
SHOWN = ("in_scope", "in_scope_std", "oos_recall", "ece", "seconds")
MARKERS = ("<!-- accuracy:start -->", "<!-- accuracy:end -->")
HEADING = "## Accuracy on CLINC150 (`bench/accuracy.py`)"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__)
    parser.add_argument("--data", default=str(fixtures.DEFAULT_DATA), help="data_full.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["full", "small", "imbalanced"])
    parser.add_argument(
        "--scratch-seeds", type=int, default=1, help="from-scratch runs on Full (0: none)"
    )
    parser.add_argument("overrides", nargs="*", help="extra training overrides, key=value")
    return parser.parse_args()


def train_once(
    data: Path, variant: str, seed: int, overrides: list[str], home: Path, label: str
) -> dict:
    """One real training run; its test metrics, epochs and wall seconds."""
    run_dir = home / f"{label}-{variant}-seed{seed}"
    command = [
        *fixtures.TRAIN_COMMAND,
        f"data.path={data.parent}",
        f"data.variant={variant}",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=fixtures.REPO,
        env={**os.environ, "BENTOML_HOME": str(home / "store")},
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[1:])} failed:\n{done.stdout[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    return {
        "seed": seed,
        "in_scope": round(100 * test["in_scope_accuracy"], 2),
        "oos_recall": round(100 * test["oos_recall"], 2),
        "accuracy": round(100 * test["accuracy"], 2),
        "ece": round(100 * test["ece"], 2),
        "epochs": metrics["epochs"],
        "seconds": round(seconds, 1),
    }


def summary(runs: list[dict]) -> dict:
    """Mean of each figure over the seeds, and the spread of in-scope accuracy."""
    keys = ("in_scope", "oos_recall", "accuracy", "ece", "seconds")
    mean = {key: round(statistics.fmean(run[key] for run in runs), 2) for key in keys}
    spread = statistics.stdev(run["in_scope"] for run in runs) if len(runs) > 1 else 0.0
    return {
        **mean,
        "in_scope_std": round(spread, 2),
        "max_seconds": max(r["seconds"] for r in runs),
        "min_oos_recall": min(r["oos_recall"] for r in runs),
    }


def peer_scores(splits: Splits) -> dict:
    """TF-IDF + LinearSVC with out-of-scope as a class, then with a max-score threshold fitted on
    val (accuracy objective, as intentbot's default)."""
    pipeline, fit_seconds = tfidf_peer(
        fixtures.texts(splits.train), [example.intent for example in splits.train]
    )

    def decide(scores: np.ndarray, threshold: float) -> np.ndarray:
        best = pipeline.classes_[scores.argmax(axis=1)]
        return np.where(scores.max(axis=1) < threshold, "oos", best)

    val_scores = pipeline.decision_function(fixtures.texts(splits.val))
    test_scores = pipeline.decision_function(fixtures.texts(splits.test))
    val_gold = np.array([example.intent for example in splits.val])
    threshold = max(
        np.quantile(val_scores.max(axis=1), np.linspace(0, 1, 101)),
        key=lambda t: float((decide(val_scores, t) == val_gold).mean()),
    )
    return {
        "fit_seconds": round(fit_seconds, 1),
        "oos_class": rates(decide(test_scores, -np.inf), splits.test),
        "threshold": rates(decide(test_scores, threshold), splits.test),
    }


def rates(predicted: np.ndarray, examples: list[Example]) -> dict:
    in_scope = [
        (p, e.intent) for p, e in zip(predicted, examples, strict=True) if e.intent != "oos"
    ]
    oos = [p for p, e in zip(predicted, examples, strict=True) if e.intent == "oos"]
    return {
        "in_scope": round(100 * sum(p == gold for p, gold in in_scope) / len(in_scope), 2),
        "oos_recall": round(100 * sum(p == "oos" for p in oos) / len(oos), 2),
    }


def markdown(record: dict) -> str:
    """The BENCHMARKS.md section: targets, our rows, the peer and the paper."""
    seeds = len(record["variants"]["full"]["runs"])
    lines = [
        f"{report.measured(record)}; mean of {seeds} seeds, test split, one decision rule "
        "(out-of-scope class + confidence threshold fitted on val).",
        "",
        "Targets on Full:",
        "",
        *report.targets_table(record["targets"]),
        "",
        "| model | variant | in-scope acc % | oos recall % | ECE % | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for variant, result in record["variants"].items():
        s = result["summary"]
        lines.append(
            f"| intentbot `experiment=clinc150` | {variant} | {s['in_scope']} ± "
            f"{s['in_scope_std']} | {s['oos_recall']} | {s['ece']} | {s['seconds']:.0f} |"
        )
    if record.get("scratch"):
        s = record["scratch"]["summary"]
        lines.append(
            f"| same network from scratch (`model.pretrained=null`) | full | {s['in_scope']} | "
            f"{s['oos_recall']} | {s['ece']} | {s['seconds']:.0f} |"
        )
    for variant, peer in record["peer"].items():
        for rule in ("oos_class", "threshold"):
            lines.append(
                f"| TF-IDF + LinearSVC, {rule.replace('_', ' ')} (in-run peer) | {variant} | "
                f"{peer[rule]['in_scope']} | {peer[rule]['oos_recall']} | - | "
                f"{peer['fit_seconds']} |"
            )
    for name, (oos_train, threshold) in PAPER.items():  # each figure: oos-train / threshold
        lines.append(
            f"| paper: {name}, oos-train / threshold | full | {oos_train[0]} / {threshold[0]} | "
            f"{oos_train[1]} / {threshold[1]} | | |"
        )
    lines += ["", "Each seed (in-scope % / oos recall %, seconds):", ""]
    for variant, result in record["variants"].items():
        seeds = "; ".join(
            f"seed {r['seed']}: {r['in_scope']} / {r['oos_recall']}, {r['seconds']:.0f} s"
            for r in result["runs"]
        )
        lines.append(f"- {variant}: {seeds}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    console = Console(width=max(120, Console().width))
    data = Path(args.data).resolve()
    if not data.is_file():
        raise SystemExit(f"error: {data}: no such file; pass --data .../data_full.json")
    machine = report.machine()
    home = Path(tempfile.mkdtemp(prefix="intentbot-bench-accuracy-"))
    record: dict = {"machine": machine, "command": "make bench-accuracy", "variants": {}}
    plan = [(v, s, list(args.overrides)) for v in args.variants for s in args.seeds]
    runs: dict[str, list[dict]] = {}
    for index, (variant, seed, overrides) in enumerate(plan, 1):
        with console.status(f"[{index}/{len(plan)}] {variant}, seed {seed}"):
            run = train_once(data, variant, seed, overrides, home, "tuned")
        console.print(f"{variant} seed {seed}: {run}")
        runs.setdefault(variant, []).append(run)
    for variant, variant_runs in runs.items():
        record["variants"][variant] = {"runs": variant_runs, "summary": summary(variant_runs)}
    if args.scratch_seeds:
        scratch = []
        for seed in args.seeds[: args.scratch_seeds]:
            with console.status(f"full, from scratch, seed {seed}"):
                overrides = [*SCRATCH, *args.overrides]
                scratch.append(train_once(data, "full", seed, overrides, home, "scratch"))
            console.print(f"from scratch seed {seed}: {scratch[-1]}")
        record["scratch"] = {
            "overrides": list(SCRATCH),
            "runs": scratch,
            "summary": summary(scratch),
        }
    record["peer"] = {}
    for variant in args.variants:
        with console.status(f"TF-IDF + LinearSVC on {variant}"):
            record["peer"][variant] = peer_scores(fixtures.load_splits(data.parent, variant))
    if "full" in record["variants"]:
        record["targets"] = report.goal_rows(record["variants"]["full"]["summary"], GOALS)
    console.print(
        report.table(
            "CLINC150 test split (mean over seeds)",
            ["variant", "in-scope %", "std", "oos recall %", "ECE %", "seconds"],
            [
                [variant, *(f"{result['summary'][key]:.2f}" for key in SHOWN)]
                for variant, result in record["variants"].items()
            ],
        )
    )
    report.write("accuracy", record, console)
    shutil.rmtree(home, ignore_errors=True)  # every run's checkpoints and model: ~1.5 GB
    if "targets" in record:
        report.update_benchmarks(MARKERS, HEADING, markdown(record), console)


if __name__ == "__main__":
    main()
