"""How the chat looks: the theme, the answer panel, the ranking table, help and notices.

Only renderables and semantic style names live here, so the chat loop never formats text
and tests can render any of it into a string.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich import box
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.theme import Theme

from intentbot import console as shared
from intentbot.serving.schemas import Classification, EntityAnswer

# Layered over the shared theme, which gives `warning`, `error` and `muted`.
CHAT_THEME = Theme(
    {
        "chat.prompt": "bold cyan",
        "chat.user": "italic",
        "chat.reply": "default",
        "chat.label": "dim",
        "chat.intent": "bold cyan",
        "chat.oos": "bold yellow",
        "chat.border": "cyan",
        "chat.confidence.high": "green",
        "chat.confidence.medium": "yellow",
        "chat.confidence.low": "red",
        "chat.confidence.empty": "bright_black",
        "chat.command": "bold",
        "chat.entity": "bold magenta",
        "chat.entity.type": "magenta",
    }
)
PROMPT = "[chat.prompt]you>[/] "
BAR_WIDTH = 20
HIGH, MEDIUM = 0.7, 0.4  # confidence levels that change the bar's colour


def make_console(**options: object) -> Console:
    """The shared console plus the chat's styles; no auto-highlighting of numbers in replies."""
    console = shared.make_console(highlight=False, **options)
    console.push_theme(CHAT_THEME)
    return console


def confidence_bar(confidence: float, width: int = BAR_WIDTH) -> Text:
    """A bar plus a percentage, e.g. `████████████████░░░░  82%`."""
    level = "high" if confidence >= HIGH else "medium" if confidence >= MEDIUM else "low"
    filled = round(max(0.0, min(1.0, confidence)) * width)
    return Text.assemble(
        ("█" * filled, f"chat.confidence.{level}"),
        ("░" * (width - filled), "chat.confidence.empty"),
        f" {confidence:>4.0%}",
    )


def ranking_table(answer: Classification) -> Table:
    """The top intents with bars, the most likely first and highlighted."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="chat.label")
    table.add_column("#", justify="right", style="chat.label")
    table.add_column("intent")
    table.add_column("confidence")
    for rank, scored in enumerate(answer.ranking, start=1):
        style = "chat.intent" if rank == 1 else ""
        table.add_row(str(rank), Text(scored.intent, style), confidence_bar(scored.confidence))
    return table


def verdict(answer: Classification) -> Table:
    """What the eye looks for first: the intent, or the out-of-scope mark, and its bar."""
    grid = Table.grid(padding=(0, 2))
    if not answer.out_of_scope:
        intent = Text(answer.intent, "chat.intent")
        grid.add_row(Text("intent", "chat.label"), intent, confidence_bar(answer.confidence))
        return grid
    mark = Text("⚠ out of scope", "chat.oos")
    grid.add_row(Text("intent", "chat.label"), mark, confidence_bar(answer.confidence))
    closest = answer.ranking[0].intent if answer.ranking else answer.intent
    if closest != answer.intent:  # flagged by threshold or margin, not by the oos class
        grid.add_row(Text("closest", "chat.label"), Text(closest, "muted"))
    return grid


def marked_text(answer: Classification) -> Text:
    """The user's words with each entity highlighted and its type after it:
    `set a timer for 5 minutes⟨duration⟩`."""
    marked, position = Text(style="chat.user"), 0
    for entity in answer.entities:
        marked.append(answer.text[position : entity.start])
        marked.append(answer.text[entity.start : entity.end], "chat.entity")
        marked.append(f"⟨{entity_label(entity)}⟩", "chat.entity.type")
        position = entity.end
    marked.append(answer.text[position:])
    return marked


def entity_label(entity: EntityAnswer) -> str:
    """The entity's type, with its Rasa role and group when the model found them:
    `city:from`, `city:to#2`."""
    role = f":{entity.role}" if entity.role else ""
    group = f"#{entity.group}" if entity.group else ""
    return f"{entity.entity}{role}{group}"


def entity_table(answer: Classification) -> Table:
    """One row per entity: its type, its value and how sure the tagger is."""
    grid = Table.grid(padding=(0, 2))
    for entity in answer.entities:
        value = entity.value if entity.value == entity.text else f"{entity.value} ({entity.text})"
        grid.add_row(
            Text(entity_label(entity), "chat.entity.type"),
            Text(value, "chat.entity"),
            confidence_bar(entity.confidence, BAR_WIDTH // 2),
        )
    return grid


def answer_panel(answer: Classification, show_ranking: bool = False) -> Panel:
    """The bot's turn: its reply (wrapped to the terminal), the verdict, optionally the ranking.

    The title repeats the user's text, escaped so that brackets in it are never read as markup
    (and right before `[/]`, where `escape` expects it, because of a trailing backslash).
    """
    parts: list[RenderableType] = [Text(answer.reply, "chat.reply"), Text(), verdict(answer)]
    if answer.entities:
        parts += [Text(), marked_text(answer), entity_table(answer)]
    if show_ranking and answer.ranking:
        parts += [Text(), ranking_table(answer)]
    return Panel(
        Group(*parts),
        title=f"“[chat.user]{escape(answer.text)}[/]”",
        title_align="left",
        subtitle="[chat.oos]out of scope[/]" if answer.out_of_scope else None,
        subtitle_align="right",
        border_style="chat.oos" if answer.out_of_scope else "chat.border",
        padding=(0, 1),
    )


def help_table(commands: Iterable[tuple[str, str]]) -> Table:
    """The commands and what they do, from the same table the chat dispatches on."""
    table = Table.grid(padding=(0, 3))
    for name, description in commands:
        table.add_row(Text(name, "chat.command"), Text(description, "muted"))
    table.add_row(Text("Ctrl-D, Ctrl-C", "chat.command"), Text("end the session", "muted"))
    return table


def banner(source: str) -> Text:
    """The first line: who answers, and how to get help or out."""
    return Text.assemble(
        ("intentbot", "chat.intent"),
        (f" · {source} · ", "muted"),
        ("/help", "chat.command"),
        (" for commands, ", "muted"),
        ("Ctrl-D", "chat.command"),
        (" to quit", "muted"),
    )


def warning(message: str) -> Text:
    """Something the user may want to act on; the chat goes on."""
    return Text(f"⚠ {message}", "warning")


def error(message: str) -> Text:
    """A message that got no answer, or a chat that cannot start."""
    return Text(f"✗ {message}", "error")


def notice(message: str) -> Text:
    """A quiet status line (a toggled setting, goodbye)."""
    return Text(message, "muted")
