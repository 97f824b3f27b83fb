"""`python -m intentbot.classify INPUT [OUTPUT]`: answer every utterance of a file with a stored
model, streamed a chunk at a time, with a progress bar; records (`intentbot.records`) out.

Reading is `intentbot.bulk.inputs`, writing `intentbot.bulk.outputs`, the loop
`intentbot.bulk.stream`; this module only adds the command line, the bar and the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

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
from intentbot.bulk.outputs import check_output, make_writer
from intentbot.bulk.stream import CHUNK_SIZE, ON_ERROR, Counts, classify_rows
from intentbot.cli import exit_on_user_error
from intentbot.console import make_console, print_step
from intentbot.formats.base import Columns

DEFAULT_TAG = "intentbot:latest"
SHOWN_BAD_ROWS = 50  # printed one a line; later ones are counted in the summary only


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
    parser.add_argument("--text-column", help="CSV/TSV: the text column (default: auto-detect)")
    parser.add_argument("--label-column", help="CSV/TSV: the label column (default: auto-detect)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
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
    """Load the model, then stream INPUT through it into OUTPUT (or stdout)."""
    from intentbot.predictor import Predictor  # torch loads in seconds: after argparse's --help
    from intentbot.store import load_bundle

    source = InputFile(args.input, Columns(args.text_column, args.label_column))
    if args.output:
        check_output(args.output, args.input)
    with console.status(f"loading {args.model}…"):
        bundle = load_bundle(args.model)
        predictor = Predictor(bundle, batch_size=args.batch_size)
    print_step(console, "model", f"{bundle.tag}, {len(bundle.labels)} intents")
    counts = Counts()
    started = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            handle = (
                stack.enter_context(args.output.open("w", encoding="utf-8", newline=""))
                if args.output
                else sys.stdout
            )
            progress = stack.enter_context(progress_bar(console))
            task = progress.add_task("classify", total=source.size or None, answered=0, rate=0.0)

            def show(done: Counts) -> None:
                rate = done.answered / max(time.perf_counter() - started, 1e-9)
                progress.update(
                    task, completed=source.position(), answered=done.answered, rate=rate
                )

            def report(row: BadRow) -> None:
                if counts.skipped <= SHOWN_BAD_ROWS:
                    progress.console.print(
                        f"[warning]skipped[/] {escape(str(row))}", soft_wrap=True
                    )
                if counts.skipped == SHOWN_BAD_ROWS:
                    progress.console.print("[warning]more bad rows are counted, not shown[/]")

            classify_rows(
                predictor,
                source,
                make_writer(args.output, handle),
                model=bundle.tag,
                on_error=args.on_error,
                chunk_size=max(CHUNK_SIZE, args.batch_size),
                counts=counts,
                on_bad_row=report,
                on_chunk=show,
            )
            progress.update(task, completed=source.size)
    finally:  # after the bar has gone, also when a bad row or Ctrl-C ended the run
        summary(console, counts, time.perf_counter() - started, args.output)
    return counts


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
