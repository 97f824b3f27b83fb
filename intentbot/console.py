"""The Rich console and theme that the command-line entry points share."""

from __future__ import annotations

from rich.console import Console
from rich.theme import Theme

THEME = Theme(
    {
        "step": "bold cyan",
        "path": "magenta",
        "figure": "bold green",
        "warning": "yellow",
        "error": "bold red",
        "muted": "dim",
    }
)


def make_console(**options: object) -> Console:
    return Console(theme=THEME, **options)
