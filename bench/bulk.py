"""Bulk classification against the predictor it wraps: `intentbot.classify`'s loop (read a text
file, answer in chunks, write JSON-lines records) on the same texts as `Predictor.predict` in
batches of 256 (bench/inference.py's batch figure), in one process, turn about.

    python -m bench.bulk [--model TAG] [--bentoml-home DIR] [--data FILE] [--lines 20000]

Writes bench/results/bulk.json; the goal is a classify rate within 20 % of the batch rate.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import fixtures, report
from bench.inference import decisions, timed_batches
from intentbot.bulk.inputs import InputFile
from intentbot.bulk.outputs import JsonLinesWriter
from intentbot.bulk.stream import classify_rows
from intentbot.predictor import Predictor


def timed_classify(predictor: Predictor, source: Path, output: Path, repeats: int) -> float:
    """Best rate (utt/s) of the whole file -> records path over `repeats` runs."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        with output.open("w", encoding="utf-8") as handle:
            counts = classify_rows(predictor, InputFile(source), JsonLinesWriter(handle))
        best = max(best, counts.answered / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__)
    fixtures.add_store_arguments(parser)
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    console = Console()
    fixtures.use_store(args.bentoml_home)
    folder = Path(tempfile.mkdtemp(prefix="intentbot-bench-bulk-"))
    tag = fixtures.ensure_model(args.model, args.data, folder / "train")
    from intentbot.store import load_bundle

    document = json.loads(Path(args.data).read_text(encoding="utf-8"))
    pool = [text for text, _ in document["train"] + document["test"]]
    texts = list(itertools.islice(itertools.cycle(pool), args.lines))
    source = folder / "utterances.txt"
    source.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")
    predictor = Predictor(load_bundle(tag))
    rates: dict[str, list[float]] = {"batch": [], "classify": []}
    for _ in range(2):  # turn about, so neither gets the quieter minute
        rates["batch"].append(timed_batches(decisions(predictor), texts, args.repeats)[0])
        rates["classify"].append(
            timed_classify(predictor, source, folder / "records.jsonl", args.repeats)
        )
    batch, bulk = max(rates["batch"]), max(rates["classify"])
    record = {
        "model": tag,
        "lines": args.lines,
        "batch_utt_per_s": round(batch),
        "classify_utt_per_s": round(bulk),
        "ratio": round(bulk / batch, 3),
        "rates": {name: [round(rate) for rate in found] for name, found in rates.items()},
    }
    console.print(
        report.table(
            f"{args.lines:,} utterances, best of {args.repeats} x 2",
            ["path", "utt/s"],
            [["Predictor.predict, batches of 256", batch], ["classify file -> JSONL", bulk]],
        )
    )
    console.print(f"classify / batches = {bulk / batch:.2f} (goal >= 0.80)")
    report.write("bulk", record, console)


if __name__ == "__main__":
    main()
