"""In-process inference speed: the predictor on a test split (CLINC150's 5,500 utterances by
default; SNIPS' 700 for intents + entities), its levers, and peers measured in the same run.

    python -m bench.inference [--model TAG] [--bentoml-home DIR] [--data PATH] [--with-minilm]

Every variant answers the whole test set; its agreement is the share of utterances whose final
decision (intent, or out of scope) and entity spans (type, start, end) both equal the
reference path's (the torch engine, texts in the caller's order).
Timings: single-utterance median latency (`predict([text])`, top-5 ranking included) and
throughput in batches of 256 (`predict(batch)`, best of `--repeats` passes in test-set order).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import torch
from rich.console import Console
from torch import nn

from bench import fixtures, report
from bench.peers import minilm_peer, tfidf_peer
from intentbot.bundle import Bundle
from intentbot.engine.runtime import OnnxEngine
from intentbot.predictor import Predictor
from intentbot.store import load_bundle

BATCH = 256
SHIPPED = "ONNX Runtime (shipped default)"
PEERS = {  # key in the record's `peers` -> the label of its row
    "tfidf_svc": "TF-IDF words+chars + LinearSVC",
    "minilm_lr": "all-MiniLM-L6-v2 + LogisticRegression",
}
MARKERS = ("<!-- inference:start -->", "<!-- inference:end -->")
HEADING = "## In-process inference (`bench/inference.py`)"
COLUMNS = [
    "path",
    "single median ms",
    "single p90 ms",
    "batch-256 utt/s",
    "one call utt/s",
    "accuracy",
    "agreement (batch / single)",
]
GOALS = [  # for the shipped path
    ("single utterance, median ms", "single_median_ms", "<=", 0.25),
    ("batches of 256 vs TF-IDF + LinearSVC (same run), x", "tfidf_ratio", ">=", 1.2),
    ("batches of 256 vs MiniLM + LR (same run), x", "minilm_ratio", ">=", 60.0),
    ("share of answers equal to torch's (decisions and spans)", "agreement", ">=", 1.0),
]
# the decision, then (type, start, end) of each entity
IntentAndSpans = tuple[str, tuple[tuple[str, int, int], ...]]
A = TypeVar("A")  # what a timed path answers: an `IntentAndSpans`, or a peer's intent


@dataclass
class Row:
    name: str
    single_median_ms: float
    single_p90_ms: float
    batch_utt_per_s: float
    accuracy: float
    agreement: float | None
    single_agreement: float | None
    note: str = ""
    whole_set_utt_per_s: float | None = None  # all 5,500 texts in one predict() call


def timed_single(
    classify: Callable[[list[str]], list[A]], texts: Sequence[str], warmup: int = 30
) -> tuple[list[float], list[A]]:
    """Seconds per one-utterance call, and the answers."""
    for text in texts[:warmup]:
        classify([text])
    seconds, answers = [], []
    for text in texts:
        started = time.perf_counter()
        [answer] = classify([text])
        seconds.append(time.perf_counter() - started)
        answers.append(answer)
    return seconds, answers


def timed_batches(
    classify: Callable[[list[str]], list[A]], texts: Sequence[str], repeats: int
) -> tuple[float, list[A]]:
    """Best throughput (utt/s) over `repeats` passes in batches of 256, and the answers."""
    best, answers = float("inf"), []
    classify(list(texts[:BATCH]))  # warm-up
    for _ in range(repeats):
        answers = []
        started = time.perf_counter()
        for start in range(0, len(texts), BATCH):
            answers += classify(list(texts[start : start + BATCH]))
        best = min(best, time.perf_counter() - started)
    return len(texts) / best, answers


def intents_and_spans(predictor: Predictor) -> Callable[[list[str]], list[IntentAndSpans]]:
    """The final decision per text (the intent, or the out-of-scope label) and its entity spans;
    () for every text of a model without a tagging head."""

    def classify(batch: list[str]) -> list[IntentAndSpans]:
        return [
            (item.intent, tuple((found.entity, found.start, found.end) for found in item.entities))
            for item in predictor.predict(batch)
        ]

    return classify


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def reference_predictor(bundle: Bundle) -> Predictor:
    """The reference path: `Predictor` as first written (torch, texts in the caller's order)."""
    return Predictor(bundle, sort_by_length=False, engine="torch")


def with_net(bundle: Bundle, net: nn.Module) -> Bundle:
    return replace(bundle, net=net)


def quantized(bundle: Bundle) -> Bundle:
    from torch.ao.quantization import quantize_dynamic

    net = load_bundle(bundle.tag).network()
    return with_net(bundle, quantize_dynamic(net, {nn.GRU, nn.LSTM, nn.Linear}, torch.qint8))


def measure_ours(
    name: str,
    predictor: Predictor,
    test: list[str],
    gold: list[str],
    reference: list[IntentAndSpans] | None,
    args: argparse.Namespace,
    thread_count: int | None = None,
    note: str = "",
) -> tuple[Row, list[IntentAndSpans]]:
    classify = intents_and_spans(predictor)
    with threads(thread_count):
        seconds, single_answers = timed_single(classify, test[: args.single])
        throughput, answers = timed_batches(classify, test, args.repeats)
        started = time.perf_counter()
        whole_answers = classify(list(test))
        whole = len(test) / (time.perf_counter() - started)
    agreement = single_agreement = None
    if reference is not None:
        agreement = min(share_equal(answers, reference), share_equal(whole_answers, reference))
        single_agreement = share_equal(single_answers, reference[: args.single])
    row = Row(
        name,
        statistics.median(seconds) * 1e3,
        statistics.quantiles(seconds, n=10)[-1] * 1e3,
        throughput,
        share_equal([intent for intent, _ in answers], gold),
        agreement,
        single_agreement,
        note,
        whole,
    )
    return row, answers


def single_stages(predictor: Predictor, texts: Sequence[str]) -> dict[str, float]:
    """Median ms of one utterance's tokenising, known-name matching (with a gazetteer) and
    engine call, each text in turn as `predict` runs them (timed in isolation, a loop of one
    stage looks faster than it is inside `predict`): how much of the single-utterance budget is
    left for the rest."""
    offsets_needed = predictor.tag_set is not None or predictor.gazetteer is not None
    encode = (
        predictor.tokenizer.encode_with_offsets if offsets_needed else predictor.tokenizer.encode
    )
    tokenise, names, engine = [], [], []
    for text in texts:
        started = time.perf_counter()
        ids, lengths, *offsets = encode([text])
        tokenised = time.perf_counter()
        matches = predictor.matches([text], offsets[0]) if offsets_needed else None
        matched = time.perf_counter()
        predictor.engine(ids, lengths, matches)
        engine.append(time.perf_counter() - matched)
        names.append(matched - tokenised)
        tokenise.append(tokenised - started)
    return {
        "tokenise_ms": statistics.median(tokenise) * 1e3,
        "names_ms": statistics.median(names) * 1e3,
        "engine_ms": statistics.median(engine) * 1e3,
    }


def share_equal(left: Sequence[object], right: Sequence[object]) -> float:
    return sum(a == b for a, b in zip(left, right, strict=True)) / len(left)


def measure_peer(
    name: str,
    pipeline: object,
    test: list[str],
    gold: list[str],
    args: argparse.Namespace,
    n: int,
    repeats: int,
) -> Row:
    def classify(batch: list[str]) -> list[str]:
        return list(pipeline.predict(batch))

    seconds, _ = timed_single(classify, test[:n], warmup=5)
    throughput, answers = timed_batches(classify, test, repeats)
    return Row(
        name,
        statistics.median(seconds) * 1e3,
        statistics.quantiles(seconds, n=10)[-1] * 1e3,
        throughput,
        share_equal(answers, gold),
        None,
        None,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    fixtures.add_store_arguments(parser)
    parser.add_argument(
        "--single",
        type=int,
        default=1000,
        help="utterances timed one at a time (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="batch passes; the best counts")
    parser.add_argument(
        "--with-minilm",
        action="store_true",
        help="add all-MiniLM-L6-v2 + logistic regression (slow: ~2 minutes)",
    )
    parser.add_argument(
        "--skip-levers", action="store_true", help="reference, shipped path and peers only"
    )
    parser.add_argument("--output", type=Path, help="JSON path (default bench/results/)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    console = Console(width=max(160, Console().width))
    fixtures.use_store(args.bentoml_home)
    machine = report.machine()
    tag = fixtures.ensure_model(args.model, args.data, Path(args.bentoml_home) / "runs" / "bench")
    splits = fixtures.load_splits(args.data)
    test, gold = fixtures.texts(splits.test), [example.intent for example in splits.test]
    bundle = load_bundle(tag)
    console.print(
        f"model {tag}; {len(test)} test utterances; torch threads {machine['torch_threads']}"
    )

    rows: list[Row] = []
    with console.status("reference path"):
        row, reference = measure_ours(
            "reference (Predictor, sort_by_length=False)",
            reference_predictor(bundle),
            test,
            gold,
            None,
            args,
        )
        row.agreement = row.single_agreement = 1.0
        rows.append(row)
    levers: list[tuple[str, Callable[[], Predictor], int | None, str]] = [
        ("torch: 1 thread", lambda: reference_predictor(bundle), 1, "torch.set_num_threads(1)"),
        (
            "torch: sorted by length",
            lambda: Predictor(bundle, engine="torch"),
            None,
            "before ONNX Runtime",
        ),
        (
            "torch: int8 dynamic quantisation",
            lambda: reference_predictor(quantized(bundle)),
            None,
            "GRU/LSTM + Linear, qint8",
        ),
        (
            "ONNX Runtime, fused graph only",
            lambda: onnx_predictor(bundle, fold=False),
            None,
            "no folded first layer",
        ),
        (
            "ONNX Runtime, 1 thread",
            lambda: onnx_predictor(bundle, threads=1),
            None,
            "groups one after another",
        ),
    ]
    shipped = (SHIPPED, lambda: Predictor(bundle), None, "fused for < 4 texts, folded above")
    stages: dict[str, float] = {}
    for name, build, thread_count, note in [*([] if args.skip_levers else levers), shipped]:
        with console.status(name), threads(thread_count):
            try:
                predictor = build()  # under its thread count: the torch engine reads it
            except Exception as error:  # a lever that does not apply is reported, not fatal
                rows.append(
                    Row(
                        name,
                        float("nan"),
                        float("nan"),
                        float("nan"),
                        float("nan"),
                        None,
                        None,
                        f"failed: {type(error).__name__}: {' '.join(str(error).split())}"[:90],
                    )
                )
                continue
            row, _ = measure_ours(name, predictor, test, gold, reference, args, thread_count, note)
            rows.append(row)
            if name == SHIPPED:
                stages = single_stages(predictor, test[: args.single])
    if stages:
        console.print(
            "one utterance on the shipped path, median ms: tokenising "
            f"{stages['tokenise_ms']:.3f}, known names {stages['names_ms']:.3f}, ONNX Runtime "
            f"session {stages['engine_ms']:.3f}; "
            "the rest of its single-utterance median is decoding, the decision and the answer"
        )

    # key, label, trainer, single-utterance samples, batch passes (MiniLM: one, ~20 s here)
    plan = [("tfidf_svc", PEERS["tfidf_svc"], tfidf_peer, args.single, args.repeats)]
    if args.with_minilm:
        plan.append(("minilm_lr", PEERS["minilm_lr"], minilm_peer, 100, 1))
    peers = {}
    train_texts = fixtures.texts(splits.train)
    train_gold = [example.intent for example in splits.train]
    for key, label, make_peer, single, repeats in plan:
        with console.status(f"{label} peer"):
            pipeline, fit_seconds = make_peer(train_texts, train_gold)
            peers[key] = {"fit_seconds": fit_seconds}
            rows.append(measure_peer(f"peer: {label}", pipeline, test, gold, args, single, repeats))

    console.print(
        report.table(
            f"Inference on {len(test)} test utterances of {args.data} ({tag}; 2-core shared CPU)",
            [
                "path",
                "single median ms",
                "single p90 ms",
                "batch-256 utt/s",
                "one-call utt/s",
                "accuracy",
                "agreement (batch)",
                "agreement (single)",
                "note",
            ],
            [
                [
                    r.name,
                    r.single_median_ms,
                    r.single_p90_ms,
                    r.batch_utt_per_s,
                    r.whole_set_utt_per_s,
                    r.accuracy,
                    r.agreement,
                    r.single_agreement,
                    r.note,
                ]
                for r in rows
            ],
        )
    )
    targets = evaluate_targets(rows)
    console.print(report.targets_console("Targets", targets))
    record = {
        "model": tag,
        "test_utterances": len(test),
        "machine": machine,
        "command": report.command_line("bench.inference"),
        "args": {key: str(value) for key, value in vars(args).items()},
        "rows": [vars(row) for row in rows],
        "peers": peers,
        "single_stages": stages,
        "targets": targets,
    }
    path = report.write("inference", record, console, args.output)
    if path.resolve() == (fixtures.RESULTS / "inference.json").resolve():  # the published run
        report.update_benchmarks(MARKERS, HEADING, markdown(record), console)


def markdown(record: dict) -> str:
    """The BENCHMARKS.md table of one test set: the goals, then every path and peer."""
    args, stages = record["args"], record.get("single_stages") or {}
    fits = {PEERS[key]: peer["fit_seconds"] for key, peer in record["peers"].items()}
    single = min(int(args["single"]), record["test_utterances"])
    lines = report.section_head(
        f"{report.measured(record, record.get('command', 'make bench'))}: model "
        f"`{record['model']}` on the {record['test_utterances']:,} test utterances of "
        f"`{Path(args['data']).name}`. Single: `predict([text])` on {single:,} of them "
        f"(ranking, out-of-scope decision and entities included); batch: batches of {BATCH}, "
        f"best of {args['repeats']} passes; one call: the whole split in one `predict`; "
        "agreement: answers (decision and entity spans) equal to the torch reference's.",
        record["targets"],
        COLUMNS,
    )
    for row in record["rows"]:
        name = row["name"].removeprefix("peer: ")
        if name in fits:
            name = f"peer: {name} (fit {fits[name]:.1f} s)"
        elif row["name"] == SHIPPED:
            name = f"**{name}**"
        cells = [
            _number(row["single_median_ms"], "{:.3f}"),
            _number(row["single_p90_ms"], "{:.3f}"),
            _number(row["batch_utt_per_s"], "{:,.0f}"),
            _number(row.get("whole_set_utt_per_s"), "{:,.0f}"),
            _number(row["accuracy"], "{:.3f}"),
            f"{_share(row['agreement'])} / {_share(row['single_agreement'])}",
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if stages:
        parts = [f"{key.removesuffix('_ms')} {value:.3f}" for key, value in stages.items()]
        lines += ["", f"One utterance on the shipped path, medians in ms: {', '.join(parts)}."]
    return "\n".join(lines)


def _number(value: float | None, form: str) -> str:
    return "-" if value is None or math.isnan(value) else form.format(value)


def _share(value: float | None) -> str:
    return "-" if value is None else "1" if value == 1 else f"{value:.3f}"


def onnx_predictor(bundle: Bundle, fold: bool = True, threads: int | None = None) -> Predictor:
    """The shipped path; `fold=False` keeps every layer on ONNX's fused operators, `threads`
    sets how many length groups run at once."""
    predictor = Predictor(bundle, threads=threads)
    if not fold:
        predictor.engine = OnnxEngine(bundle.graphs(), threads, fold=False)
    return predictor


def evaluate_targets(rows: list[Row]) -> list[dict]:
    """The goals: the shipped path against the peers of the same run, and the share of
    answers (decisions and spans) equal to the torch reference's."""
    by_name = {row.name: row for row in rows}
    shipped = by_name[SHIPPED]
    figures = {
        "single_median_ms": round(shipped.single_median_ms, 3),
        "agreement": min(shipped.agreement or 0.0, shipped.single_agreement or 0.0),
    }
    peers = {
        "tfidf_ratio": "peer: TF-IDF words+chars + LinearSVC",
        "minilm_ratio": "peer: all-MiniLM-L6-v2 + LogisticRegression",
    }
    for key, name in peers.items():
        if name in by_name:
            figures[key] = round(shipped.batch_utt_per_s / by_name[name].batch_utt_per_s, 3)
    return report.goal_rows(figures, GOALS)


if __name__ == "__main__":
    main()
