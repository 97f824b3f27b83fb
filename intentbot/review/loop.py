"""`python -m intentbot.review FILE... --out reviewed.jsonl`: a person labels the answered
utterances most worth it (`ordering`), one key each; every decision lands in the training-data
file at once (`reviewed`), and a second run resumes where the first stopped."""

from __future__ import annotations

import argparse
import contextlib
import difflib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from rich.console import Console

from intentbot.chat import view as chat_view
from intentbot.examples import DataError
from intentbot.records import Record, read_records
from intentbot.review import view
from intentbot.review.ordering import Item, review_order
from intentbot.review.reviewed import ReviewedFile

DEFAULT_OOS = "oos"
KINDS = ("accepted", "relabelled", "out_of_scope", "skipped")


class ReviewLoop:
    """The loop over `items` (those already in `reviewed` left out); input and output are
    passed in. Every key moves one utterance on, so undo steps one back."""

    def __init__(
        self,
        items: Sequence[Item],
        reviewed: ReviewedFile,
        console: Console,
        intents: Iterable[str],
        oos_label: str = DEFAULT_OOS,
    ) -> None:
        self.items = [item for item in items if item.key not in reviewed.reviewed]
        self.reviewed = reviewed
        self.console = console
        self.intents = sorted(set(intents) | {oos_label})
        self.oos_label = oos_label
        self.counts = dict.fromkeys(KINDS, 0)
        self.history: list[str] = []  # the kind of each step taken, for undo
        self.position = 0
        self.running = True

    def run(self, read_line: Callable[[], str]) -> dict[str, int]:
        """Until every item is done, `q`, Ctrl-D or Ctrl-C; returns the counts."""
        try:
            while self.running and self.position < len(self.items):
                self.show()
                self.handle(read_line().strip())
        except (EOFError, KeyboardInterrupt):
            self.console.print()
        if self.position == len(self.items):
            self.console.print(chat_view.notice("Nothing left to review."))
        self.console.print(view.tally(self.counts, len(self.items) - self.position))
        return self.counts

    def show(self) -> None:
        """The running tally (once there is one), then the current utterance."""
        if self.history:
            self.console.print(view.tally(self.counts, len(self.items) - self.position))
        item = self.items[self.position]
        self.console.print(view.item_panel(item, self.position + 1, len(self.items)))
        self.console.print(view.keys_line())

    def handle(self, line: str) -> None:
        """One answer to the current utterance."""
        record = self.items[self.position].record
        if line in ("q", "/quit"):
            self.running = False
        elif line in ("?", "h", "/help"):
            self.console.print(view.keys_help())
        elif line == "u":
            self.undo()
        elif line == "s":
            self.step("skipped")
        elif line == "o":
            self.decide(self.oos_label)
        elif line == "":
            self.decide(record.ranking[0][0] if record.ranking else record.intent)
        elif line.isdigit():
            number = int(line)
            if 1 <= number <= len(record.ranking):
                self.decide(record.ranking[number - 1][0])
            else:
                self.warn(f"no intent #{number} here; pick 1 to {len(record.ranking)}")
        elif line.startswith("+") and line[1:].strip():
            self.decide(line[1:].strip())
        elif line in self.intents:
            self.decide(line)
        else:
            close = difflib.get_close_matches(line, self.intents, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            self.warn(f"unknown intent {line!r}; {hint}+{line} adds it as a new intent")

    def decide(self, intent: str) -> None:
        """Write the decision (durably) and move on."""
        record = self.items[self.position].record
        self.reviewed.add(record.text, intent)
        top = record.ranking[0][0] if record.ranking else record.intent
        kind = (
            "out_of_scope"
            if intent == self.oos_label
            else "accepted"
            if intent == top
            else "relabelled"
        )
        self.step(kind)
        self.console.print(chat_view.notice(f"→ {intent}"))

    def step(self, kind: str) -> None:
        """Count a decision of `kind` and move to the next utterance."""
        self.counts[kind] += 1
        self.history.append(kind)
        self.position += 1

    def undo(self) -> None:
        """Step back one utterance, taking back its decision if it had one."""
        if not self.history:
            self.warn("nothing to undo in this session")
            return
        kind = self.history.pop()
        self.position -= 1
        self.counts[kind] -= 1
        if kind != "skipped":
            self.reviewed.undo(self.items[self.position].record.text)
        self.console.print(chat_view.notice(f"undone ({kind.replace('_', ' ')})"))

    def warn(self, message: str) -> None:
        """A line the reviewer should read; the session goes on."""
        self.console.print(chat_view.warning(message))


def completer(names: Sequence[str]) -> Callable[[str, int], str | None]:
    """Readline's completion over intent names: the `state`-th name starting with `text`."""

    def complete(text: str, state: int) -> str | None:
        prefix = text.lstrip("+")
        matches = [text[: len(text) - len(prefix)] + n for n in names if n.startswith(prefix)]
        return matches[state] if state < len(matches) else None

    return complete


def known_intents(records: Sequence[Record]) -> tuple[set[str], str | None]:
    """Every intent the records name, and the out-of-scope label they use (None if no record
    was out of scope)."""
    intents = {name for record in records for name, _ in record.ranking}
    flagged = Counter(record.intent for record in records if record.out_of_scope)
    oos = flagged.most_common(1)[0][0] if flagged else None
    return intents | {record.intent for record in records}, oos


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of `python -m intentbot.review`."""
    parser = argparse.ArgumentParser(
        prog="python -m intentbot.review",
        description="Label the answered utterances most worth it: a collection log "
        "(INTENTBOT_COLLECT), a chat transcript (--save) or bulk classification output.",
    )
    parser.add_argument(
        "files", nargs="+", type=Path, metavar="FILE", help="records, .jsonl or .csv"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="training-data JSONL the decisions go to"
    )
    parser.add_argument(
        "--model", metavar="TAG", help="also offer every intent of this stored model"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Exit 0 when the session ends (q, Ctrl-D, Ctrl-C or nothing left), 2 on unreadable
    input."""
    args = parse_args(argv)
    console = console or chat_view.make_console()
    try:
        records = [record for path in args.files for record in read_records(path)]
        intents, oos_label = known_intents(records)
        if args.model:
            from intentbot.store import load_bundle  # torch: only when a model is named

            with console.status(f"loading {args.model}…"):
                labels = load_bundle(args.model).labels
            intents |= set(labels.names)
            oos_label = labels.oos_label
        reviewed = ReviewedFile(args.out)
    except (DataError, ValueError, OSError) as error:
        console.print(chat_view.error(str(error)))
        return 2
    if reviewed.repaired:
        console.print(chat_view.warning(f"{args.out}: removed a last line that was cut short"))
    items = review_order(records)
    loop = ReviewLoop(items, reviewed, console, intents, oos_label or DEFAULT_OOS)
    console.print(
        chat_view.notice(
            f"{len(records)} records, {len(items)} distinct utterances, "
            f"{len(items) - len(loop.items)} already decided in {args.out}"
        )
    )
    with contextlib.suppress(ImportError):
        import readline

        readline.set_completer(completer(loop.intents))
        readline.set_completer_delims(" \t\n")
        readline.parse_and_bind("tab: complete")
    try:
        loop.run(lambda: console.input(view.PROMPT))
    finally:
        reviewed.close()
    return 0
