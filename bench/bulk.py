"""Bulk classification against the predictor it wraps, and on Ray: `intentbot.classify`'s loop
(read a text file, answer in chunks, write JSON-lines records) on the same texts as
`Predictor.predict` in batches of 256 (bench/inference.py's batch figure), in one process, turn
about; then `classify --ray`'s runner on a local Ray of 2 CPUs with 1 and with 2 actors.

    python -m bench.bulk [--model TAG] [--bentoml-home DIR] [--data FILE] [--lines 20000]

Writes bench/results/bulk.json; the goal is a classify rate within 20 % of the batch rate. A
Ray figure is the whole run as a user waits for it (the driver reads the file into the object
store, the actors start and load the model, the driver writes in order), the local Ray already
running; "next N" is the marginal rate, from a file holding the lines twice (what a long run
approaches once the start is paid). The one process runs its default threads (both cores
here), an actor one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import tempfile
import time
from pathlib import Path

import ray
from rich.console import Console

from bench import fixtures, report
from bench.inference import intents_and_spans, timed_batches
from intentbot.bulk.inputs import InputFile
from intentbot.bulk.on_ray import classify_on_ray
from intentbot.bulk.outputs import JsonLinesWriter
from intentbot.bulk.stream import classify_rows
from intentbot.bundle import Bundle
from intentbot.predictor import Predictor

RAY_CPUS = 2
ACTORS = (1, 2)


def timed_classify(predictor: Predictor, source: Path, output: Path, repeats: int) -> float:
    """Best rate (utt/s) of the whole file -> records path over `repeats` runs."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        with output.open("w", encoding="utf-8") as handle:
            counts = classify_rows(predictor, InputFile(source), JsonLinesWriter(handle))
        best = max(best, counts.answered / (time.perf_counter() - started))
    return best


def timed_ray(bundle: Bundle, source: Path, output: Path, actors: int, repeats: int) -> float:
    """Best seconds of `classify --ray`'s runner with `actors` over the whole file."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        with output.open("w", encoding="utf-8") as handle:
            classify_on_ray(InputFile(source), JsonLinesWriter(handle), bundle, actors=actors)
        best = min(best, time.perf_counter() - started)
    return best


def ray_rates(
    bundle: Bundle, sources: tuple[Path, Path], lines: int, output: Path, repeats: int
) -> tuple[float, dict[int, tuple[float, float]]]:
    """Seconds a local Ray of `RAY_CPUS` CPUs takes to start (once), and for each number of
    `ACTORS` the rate over `lines` as a user waits for it and the marginal rate: the second
    of `sources` holds the first twice, so their difference in time is `lines` answered
    without the start (reading, actors starting, loading the model)."""
    started = time.perf_counter()
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, logging_level=logging.ERROR)
    start_seconds = time.perf_counter() - started
    try:
        rates = {}
        for actors in ACTORS:
            once, twice = (timed_ray(bundle, path, output, actors, repeats) for path in sources)
            rates[actors] = (lines / once, lines / max(twice - once, 1e-9))
    finally:
        ray.shutdown()
    return start_seconds, rates


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
    source, doubled = folder / "utterances.txt", folder / "utterances-twice.txt"
    source.write_text("".join(f"{text}\n" for text in texts), encoding="utf-8")
    doubled.write_text("".join(f"{text}\n" for text in texts * 2), encoding="utf-8")
    bundle = load_bundle(tag)
    predictor = Predictor(bundle)
    output = folder / "records.jsonl"
    rates: dict[str, list[float]] = {"batch": [], "classify": []}
    for _ in range(2):  # turn about, so neither gets the quieter minute
        rates["batch"].append(timed_batches(intents_and_spans(predictor), texts, args.repeats)[0])
        rates["classify"].append(timed_classify(predictor, source, output, args.repeats))
    ray_start, on_ray = ray_rates(bundle, (source, doubled), args.lines, output, args.repeats)
    batch, bulk = max(rates["batch"]), max(rates["classify"])
    record = {
        "model": tag,
        "lines": args.lines,
        "batch_utt_per_s": round(batch),
        "classify_utt_per_s": round(bulk),
        "ratio": round(bulk / batch, 3),
        "rates": {name: [round(rate) for rate in found] for name, found in rates.items()},
        "ray_cpus": RAY_CPUS,
        "ray_start_seconds": round(ray_start, 1),
        **{f"ray_{n}_actors_utt_per_s": round(whole) for n, (whole, _) in on_ray.items()},
        **{f"ray_{n}_actors_marginal_utt_per_s": round(more) for n, (_, more) in on_ray.items()},
    }
    console.print(
        report.table(
            f"{args.lines:,} utterances, best of {args.repeats} (x 2 in one process)",
            ["path", "utt/s", f"next {args.lines:,}"],
            [
                ["Predictor.predict, batches of 256", batch, ""],
                ["classify file -> JSONL, one process", bulk, ""],
                *[
                    [f"classify --ray, {n} actor(s), Ray of {RAY_CPUS} CPUs", whole, more]
                    for n, (whole, more) in on_ray.items()
                ],
            ],
        )
    )
    console.print(f"classify / batches = {bulk / batch:.2f} (goal >= 0.80)")
    console.print(f"the local Ray of {RAY_CPUS} CPUs started in {ray_start:.1f} s")
    report.write("bulk", record, console)


if __name__ == "__main__":
    main()
