"""The Rich console and theme that the command-line entry points share."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.theme import Theme

THEME = Theme(
    {
        "step": "bold cyan",
        "path": "magenta",
        "score": "bold green",
        "warning": "yellow",
        "error": "bold red",
        "muted": "dim",
    }
)


def make_console(**options: object) -> Console:
    """A Console with the shared theme, so `[step]`, `[path]`, `[score]` etc. render alike."""
    return Console(theme=THEME, **options)


def print_step(console: Console, step: str, message: str, path: bool = False) -> None:
    """One progress line: the step right-aligned, then its message (escaped: user text)."""
    style = "path" if path else "default"
    console.print(f"[step]{step:>16}[/]  [{style}]{escape(message)}[/]")
