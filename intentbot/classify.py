"""`python -m intentbot.classify INPUT [OUTPUT]`: answer every utterance of a file with a stored
model, streamed a chunk at a time, with a progress bar; records (`intentbot.records`) out.

Reading is `intentbot.bulk.inputs`, writing `intentbot.bulk.outputs`, the loop
`intentbot.bulk.stream`, and with `--ray [ADDRESS]` the Ray Data actors
`intentbot.bulk.on_ray`; this module only adds the command line, the bar and the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from intentbot.bulk.inputs import BadRow, InputFile
from intentbot.bulk.outputs import RecordWriter, check_output, make_writer
from intentbot.bulk.stream import CHUNK_SIZE, ON_ERROR, Counts, classify_rows
from intentbot.cli import exit_on_user_error
from intentbot.console import make_console, print_step
from intentbot.examples import DataError
from intentbot.formats.base import Columns

if TYPE_CHECKING:
    from intentbot.bundle import Bundle

DEFAULT_TAG = "intentbot:latest"
SHOWN_BAD_ROWS = 50  # printed one a line; later ones are counted in the summary only
RAY_INSTALL = "pip install 'intentbot[ray]' (in a checkout: pip install '.[ray]')"


class RayMissing(ValueError):
    """`--ray` where Ray (an optional extra) is not installed."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; `argv` defaults to sys.argv (tests pass their own)."""
    parser = argparse.ArgumentParser(
        prog="python -m intentbot.classify",
        description="Answer every utterance of a CSV/TSV, JSON-lines or text file with a stored "
        "model. Writes one record per utterance (intent, confidence, out_of_scope, ranking, "
        "entities; `label` when the input has one).",
    )
    parser.add_argument("input", type=Path, help=".csv, .tsv, .jsonl, or text (one a line)")
    parser.add_argument(
        "output", type=Path, nargs="?", help=".jsonl or .csv (default: JSON lines on stdout)"
    )
    parser.add_argument(
        "--model", default=DEFAULT_TAG, help=f"stored model (default {DEFAULT_TAG})"
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="texts per forward pass (default 256)"
    )
    parser.add_argument(
        "--on-error",
        choices=ON_ERROR,
        default="skip",
        help="a bad row: report and skip it (default), or stop there (exit 2)",
    )
    parser.add_argument(
        "--text-column", help="CSV/TSV/Parquet: the text column (default: auto-detect)"
    )
    parser.add_argument(
        "--label-column", help="CSV/TSV/Parquet: the label column (default: auto-detect)"
    )
    parser.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="answer on Ray Data actors: join the cluster at ADDRESS (default: RAY_ADDRESS, "
        "else a local Ray); also reads Parquet (a file or a folder). Needs the [ray] extra",
    )
    parser.add_argument(
        "--actors", type=int, help="with --ray: actors, one CPU each (default: the cluster's CPUs)"
    )
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if args.actors is not None and (args.actors < 1 or args.ray is None):
        parser.error("--actors takes a number >= 1, with --ray")
    return args


def progress_bar(console: Console) -> Progress:
    """Bytes of input read, utterances answered and their rate."""
    return Progress(
        TextColumn("[step]classifying[/]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[answered]:>10,} utterances"),
        TextColumn("[score]{task.fields[rate]:>8,.0f}[/] utt/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def run(args: argparse.Namespace, console: Console) -> Counts:
    """Load the model, then stream INPUT through it into OUTPUT (or stdout), in this process or
    with `--ray` on Ray Data actors."""
    from intentbot.store import load_bundle  # torch loads in seconds: after argparse's --help

    on_ray = ray_runner() if args.ray is not None else None  # a missing extra is said first
    columns = Columns(args.text_column, args.label_column)
    if on_ray is None and args.input.suffix.lower() == ".parquet":
        raise DataError(f"{args.input}: Parquet is read by Ray; add --ray ({RAY_INSTALL})")
    # Parquet: a file or folder that Ray reads itself, on the cluster
    parquet = on_ray is not None and on_ray.is_parquet(args.input)
    source = args.input if parquet else InputFile(args.input, columns)
    if args.output:
        check_output(args.output, args.input)
    with console.status(f"loading {args.model}…"):
        bundle = load_bundle(args.model)
    print_step(console, "model", f"{bundle.tag}, {len(bundle.labels)} intents")
    counts = Counts()
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            if on_ray:
                with console.status("joining Ray…"):
                    joined = stack.enter_context(on_ray.cluster(args.ray or None))
                print_step(console, "ray", joined)
            handle = (
                stack.enter_context(args.output.open("w", encoding="utf-8", newline=""))
                if args.output
                else sys.stdout
            )
            writer = make_writer(args.output, handle)
            progress = stack.enter_context(progress_bar(console))
            # the bar follows bytes read here; on Ray rows answered (`start` gives their count)
            total = None if on_ray else source.size or None
            task = progress.add_task("classify", total=total, answered=0, rate=0.0)
            done = (lambda: counts.read) if on_ray else source.position

            def show(now_done: Counts) -> None:
                rate = now_done.answered / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=done(), answered=now_done.answered, rate=rate)

            def report(row: BadRow) -> None:
                if counts.skipped <= SHOWN_BAD_ROWS:
                    progress.console.print(
                        f"[warning]skipped[/] {escape(str(row))}", soft_wrap=True
                    )
                if counts.skipped == SHOWN_BAD_ROWS:
                    progress.console.print("[warning]more bad rows are counted, not shown[/]")

            def start(rows: int, actors: int) -> None:
                progress.update(task, total=rows)
                progress.console.print(f"[step]{'actors':>16}[/]  {actors}, one CPU each")

            options = {
                "on_error": args.on_error,
                "chunk_size": max(CHUNK_SIZE, args.batch_size),
                "counts": counts,
                "on_bad_row": report,
                "on_chunk": show,
            }
            if on_ray:
                on_ray.classify_on_ray(
                    source,
                    writer,
                    bundle,
                    columns=columns,
                    actors=args.actors,
                    batch_size=args.batch_size,
                    on_start=start,
                    **options,
                )
            else:
                classify_local(bundle, source, writer, args.batch_size, options)
            progress.update(task, completed=progress.tasks[0].total)
    finally:  # after the bar has gone, also when a bad row or Ctrl-C ended the run
        summary(console, counts, time.perf_counter() - started, args.output)
    return counts


def classify_local(
    bundle: Bundle, source: InputFile, writer: RecordWriter, batch_size: int, options: dict
) -> Counts:
    """The single-process path: one `Predictor` in this process."""
    from intentbot.predictor import Predictor

    predictor = Predictor(bundle, batch_size=batch_size)
    return classify_rows(predictor, source, writer, model=bundle.tag, **options)


def ray_runner() -> ModuleType:
    """`intentbot.bulk.on_ray`, or one line saying how to install Ray."""
    try:
        from intentbot.bulk import on_ray
    except ModuleNotFoundError as missing:
        if missing.name not in ("ray", "pyarrow"):
            raise
        raise RayMissing(f"--ray needs Ray, which is not installed here: {RAY_INSTALL}") from None
    return on_ray


def summary(console: Console, counts: Counts, seconds: float, output: Path | None) -> None:
    """The counts every run ends with, also when it stopped early."""
    rate = counts.answered / seconds if seconds > 0 else 0.0
    console.print(
        f"[step]{'done':>16}[/]  {counts.read:,} rows read: [score]{counts.answered:,}[/] "
        f"answered, [warning]{counts.skipped:,}[/] skipped as bad, in {seconds:.1f} s "
        f"({rate:,.0f} utt/s)",
        soft_wrap=True,
    )
    if output:
        print_step(console, "records", str(output), path=True)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Exit 0 when every row was read (bad ones skipped), 2 on a user's mistake or a bad row
    under `--on-error stop`, 130 on Ctrl-C."""
    args = parse_args(argv)
    # records on stdout: everything meant for a person goes to stderr
    console = console or make_console(stderr=args.output is None)
    try:
        with exit_on_user_error(console):
            run(args, console)
    except SystemExit as stop:  # a user's mistake, already told in one line
        return int(stop.code)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
