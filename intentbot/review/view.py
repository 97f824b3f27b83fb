"""How review looks: one panel per utterance (its text, how often it came, the model's answer
and numbered ranking), the running tally and the keys. Renderables only, so tests can render
them into a string."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from intentbot.chat.view import confidence_bar
from intentbot.review.ordering import Item

KEYS = (  # key, what it does in a word or two, and in full
    ("Enter", "accept", "accept the top intent"),
    ("1-5", "pick", "pick that intent of the ranking"),
    ("name", "any intent", "any intent (Tab completes; +name adds a new one)"),
    ("o", "out of scope", "mark out of scope"),
    ("s", "skip", "skip (it comes back next time)"),
    ("u", "undo", "undo the last step"),
    ("q", "quit", "quit (a later run resumes here)"),
)
PROMPT = "[chat.prompt]intent>[/] "


def item_panel(item: Item, position: int, total: int) -> Panel:
    """The utterance, the model's verdict and its ranking, numbered for picking."""
    record = item.record
    grid = Table.grid(padding=(0, 2))
    if record.out_of_scope:
        grid.add_row(Text("model", "chat.label"), Text("⚠ out of scope", "chat.oos"))
    ranking = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="chat.label")
    ranking.add_column("#", justify="right", style="chat.command")
    ranking.add_column("intent")
    ranking.add_column("confidence")
    for number, (intent, confidence) in enumerate(record.ranking, start=1):
        style = "chat.intent" if number == 1 else ""
        ranking.add_row(str(number), Text(intent, style), confidence_bar(confidence))
    copies = f" [muted]({item.count} times)[/]" if item.count > 1 else ""
    return Panel(
        Group(grid, ranking) if record.out_of_scope else ranking,
        title=f"“[chat.user]{escape(record.text)}[/]”{copies}",
        title_align="left",
        subtitle=f"[muted]{position} of {total}, margin {record.margin:.2f}[/]",
        subtitle_align="right",
        border_style="chat.oos" if record.out_of_scope else "chat.border",
        padding=(0, 1),
    )


def tally(counts: dict[str, int], left: int) -> Text:
    """What this session decided so far, and how many utterances are left."""
    decided = counts["accepted"] + counts["relabelled"] + counts["out_of_scope"]
    return Text.assemble(
        (f"{decided} decided", "score"),
        (
            f" ({counts['accepted']} accepted, {counts['relabelled']} relabelled, "
            f"{counts['out_of_scope']} out of scope) · {counts['skipped']} skipped · "
            f"{left} to go",
            "muted",
        ),
    )


def keys_help() -> Table:
    """The keys, one a line."""
    table = Table.grid(padding=(0, 3))
    for key, _, meaning in KEYS:
        table.add_row(Text(key, "chat.command"), Text(meaning, "muted"))
    return table


def keys_line() -> Text:
    """The keys on one line, shown under every utterance (`?` for the full list)."""
    return Text(" · ".join(f"{key} {short}" for key, short, _ in KEYS) + " · ? help", "muted")
