"""Joint intent + slot filling on SNIPS: the benchmark configuration the contract names,
`python -m intentbot.train experiment=snips data.path=DIR`, over several seeds, with the
same runs from scratch (`model.pretrained=null model.word_dropout=null
model.embedding_projection=null`) and without known names (`model.gazetteer=false`) beside it,
against the issue's targets.

    python -m bench.snips [--snips DIR] [--seeds 0 1 2] [--scratch-seeds 0] [--no-names-seeds]

Each run is the real training command (its wall time is the whole process); the figures are
its metrics.json test figures (intent accuracy, exact-span entity precision, recall and F1,
sentence accuracy). One utterance's latency is the median of `Predictor.predict([text])`
over the test texts, intent and entities, on the engine the service uses. Writes
bench/results/snips.json and the SNIPS section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from rich.console import Console

from bench import fixtures, report
from bench.inference import timed_single
from bench.suite import DataSet, mean, snips_splits, train_once
from intentbot.predictor import Predictor
from intentbot.store import load_bundle

MARKERS = ("<!-- snips:start -->", "<!-- snips:end -->")
# the preset's word dropout and projection are for pretrained embeddings; from scratch keeps
# the defaults' (its embeddings are as narrow as the projection)
SCRATCH = ["model.pretrained=null", "model.word_dropout=null", "model.embedding_projection=null"]
NO_NAMES = ["model.gazetteer=false"]  # the encoder reads the words alone
GOALS = [  # the targets for the benchmark configuration
    ("intent accuracy %", "accuracy", ">=", 98.0),
    ("slot F1 (exact span) %", "entity_f1", ">=", 95.0),
    ("sentence accuracy %", "sentence_accuracy", ">=", 88.0),
    ("one utterance, in-process median (ms)", "single_ms", "<=", 1.0),
    ("full training run, slowest seed (s)", "max_seconds", "<=", 300),
]
HEADING = "## Intents and entities on SNIPS (`bench/snips.py`)"
# the rows for scale: intent %, slot F1 %, sentence % (OpenSLU re-runs where the
# papers give none)
PUBLISHED = {
    "Slot-Gated": (97.0, 88.8, 75.5),
    "Stack-Propagation": (98.0, 94.2, 87.1),
    "JointBERT": (98.6, 97.0, 91.9),
}


def single_utterance_ms(tag: str, texts: list[str]) -> float:
    """Median milliseconds of one `predict([text])` call, intent and entities."""
    predictor = Predictor(load_bundle(tag))
    seconds, _ = timed_single(lambda batch: [p.intent for p in predictor.predict(batch)], texts)
    return round(1000 * statistics.median(seconds), 3)


def run_variant(
    name: str, snips: Path, extra: list[str], seeds: list[int], home: Path, console: Console
) -> dict:
    """Every seed of `experiment=snips` + `extra`, the mean, and the latency of the first
    seed's model."""
    folder = "-".join(["snips", *(part.replace("=", "-") for part in extra)])  # no "=": Hydra
    data = DataSet(folder, ["experiment=snips", f"data.path={snips}", *extra], snips_splits)
    runs = []
    for seed in seeds:
        with console.status(f"{name}, seed {seed}"):
            runs.append(train_once(data, seed, home, export=True))
        console.print(f"{name} seed {seed}: {runs[-1]}")
    summary = mean(runs)
    texts = [example.text for example in snips_splits(snips).test]
    summary["single_ms"] = single_utterance_ms(runs[0]["model_tag"], texts)
    return {"runs": runs, "mean": summary}


def markdown(record: dict) -> str:
    """The BENCHMARKS.md section: targets, then each configuration's mean beside the
    published rows."""
    lines = [
        f"{report.measured(record)}: SNIPS test split (700 utterances), mean over the seeds. "
        "Published rows: intent and slot F1 as the papers report them; sentence accuracy from "
        "Slot-Gated's paper and, where a paper gives none, the OpenSLU re-runs.",
        "",
        *report.targets_table(record["targets"]),
        "",
        "| model | seeds | intent % | entity P % | entity R % | slot F1 % | sentence % "
        "| one utterance ms | slowest run s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, variant in record["variants"].items():
        m = variant["mean"]
        lines.append(
            f"| intentbot, {name} | {len(variant['runs'])} | {m['accuracy']} ± "
            f"{m['accuracy_std']} | {m['entity_precision']} | {m['entity_recall']} | "
            f"{m['entity_f1']} | {m['sentence_accuracy']} | {m['single_ms']} | "
            f"{m['max_seconds']:.0f} |"
        )
    for name, (intent, f1, sentence) in PUBLISHED.items():
        lines.append(f"| {name} (published) | - | {intent} | - | - | {f1} | {sentence} | - | - |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.snips", description=__doc__)
    fixtures.add_data_arguments(parser, "snips")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--scratch-seeds", type=int, nargs="*", default=[0])
    parser.add_argument(
        "--no-names-seeds", type=int, nargs="*", default=[], help="seeds without known names"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not (args.snips / "train").is_dir():
        raise SystemExit(f"error: {args.snips} has no train/ folder; pass --snips DIR")
    console = Console(width=max(120, Console().width))
    home = fixtures.scratch_home("snips")
    snips = args.snips.resolve()
    record: dict = {"machine": report.machine(), "command": "make bench-snips", "variants": {}}
    record["variants"]["experiment=snips"] = run_variant(
        "experiment=snips", snips, [], args.seeds, home, console
    )
    if args.scratch_seeds:
        record["variants"]["from scratch"] = run_variant(
            "from scratch", snips, SCRATCH, args.scratch_seeds, home, console
        )
    if args.no_names_seeds:
        record["variants"]["without known names"] = run_variant(
            "without known names", snips, NO_NAMES, args.no_names_seeds, home, console
        )
    record["targets"] = report.goal_rows(record["variants"]["experiment=snips"]["mean"], GOALS)
    report.write("snips", record, console)
    shutil.rmtree(home, ignore_errors=True)
    report.update_benchmarks(MARKERS, HEADING, markdown(record), console)


if __name__ == "__main__":
    main()
