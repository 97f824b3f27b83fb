"""Rich tables for an evaluation report and a comparison of two models."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

SUMMARY = (
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    ("in_scope_accuracy", "in-scope accuracy"),
    ("oos_recall", "out-of-scope recall"),
    ("oos_precision", "out-of-scope precision"),
    ("ece", "ECE (lower is better)"),
    ("entity_precision", "entity precision (exact spans)"),
    ("entity_recall", "entity recall (exact spans)"),
    ("entity_f1", "entity F1 (exact spans)"),
    ("sentence_accuracy", "sentence accuracy (intent and every span)"),
)


def summary_table(report: dict, what: str = "utterances") -> Table:
    """The overall scores of one model on `report['examples']` of `what`."""
    title = f"{escape(report['model'])} on {report['examples']} {what}"
    table = Table(title=title, min_width=len(title) + 4)  # a title never wraps
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, name in SUMMARY:
        if key in report["overall"]:
            table.add_row(name, f"[score]{report['overall'][key]:.4f}[/]")
    table.add_row("errors", str(report["errors"]))
    return table


def per_intent_table(rows: list[dict], limit: int | None = None) -> Table:
    """Precision, recall, F1 and support per intent, worst first, with its top confusion."""
    shown = rows if limit is None else rows[:limit]
    title = "per intent, worst F1 first"
    if len(shown) < len(rows):
        title += f" ({len(shown)} of {len(rows)}; all in report.json)"
    table = Table(title=title)
    table.add_column("intent", overflow="fold")
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    table.add_column("most often taken for", overflow="fold")
    for row in shown:
        confusion = (
            f"{escape(row['top_confusion'])} ({row['top_confusion_count']})"
            if row["top_confusion"]
            else ""
        )
        table.add_row(escape(row["intent"]), *_score_cells(row), confusion)
    return table


def per_entity_table(rows: list[dict]) -> Table:
    """Exact-span precision, recall, F1 and support per entity type, worst F1 first."""
    table = Table(title="per entity type, exact spans, worst F1 first")
    table.add_column("entity", overflow="fold")
    for name in ("precision", "recall", "F1", "support"):
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(escape(row["entity"]), *_score_cells(row))
    return table


def _score_cells(row: dict) -> list[str]:
    """Precision, recall, F1 (coloured by level) and support of one table row."""
    return [
        f"{row['precision']:.3f}",
        f"{row['recall']:.3f}",
        f"[{_style(row['f1'])}]{row['f1']:.3f}[/]",
        str(row["support"]),
    ]


def comparison_tables(diff: dict, model_a: str, model_b: str, limit: int = 25) -> list[Table]:
    """Overall deltas, the intents whose F1 moved, and the utterances answered differently."""
    a, b = escape(model_a), escape(model_b)
    title = f"a = {a}, b = {b}"
    overall = Table(title=title, min_width=len(title) + 4)
    for column in ("measure", "a", "b", "b - a"):
        overall.add_column(column, justify="left" if column == "measure" else "right")
    for key, name in SUMMARY:
        if key in diff["overall"]:
            row = diff["overall"][key]
            better = row["delta"] < 0 if key == "ece" else row["delta"] > 0
            overall.add_row(
                name, f"{row['a']:.4f}", f"{row['b']:.4f}", _delta(row["delta"], better)
            )

    moved = [row for row in diff["per_intent"] if abs(row["f1_delta"]) > 1e-9]
    title = f"F1 per intent, b - a ({len(moved)} intents changed; largest drop first)"
    intents = Table(title=title, min_width=len(title) + 4)
    for column in ("intent", "F1 a", "F1 b", "b - a", "support"):
        intents.add_column(column, justify="left" if column == "intent" else "right")
    for row in moved[:limit]:
        intents.add_row(
            escape(row["intent"]),
            f"{row['f1_a']:.3f}",
            f"{row['f1_b']:.3f}",
            _delta(row["f1_delta"], row["f1_delta"] > 0),
            str(row["support"]),
        )

    changed = diff["changed"]
    kinds = {kind: [row for row in changed if row["change"] == kind] for kind in CHANGES}
    shown = [row for rows in kinds.values() for row in rows[:limit]]  # up to `limit` of each
    texts = Table(
        title=f"{len(changed)} utterances answered differently: {len(kinds['fixed'])} fixed by "
        f"b, {len(kinds['broken'])} broken by b, {len(kinds['changed'])} wrong either way"
        + (f" ({limit} of each shown; all in report.json)" if len(shown) < len(changed) else "")
    )
    texts.add_column("text", overflow="fold", ratio=3)
    for column in ("true", "a", "b", "change"):
        texts.add_column(column, overflow="fold", ratio=1)
    for row in shown:
        style = {"fixed": "score", "broken": "error"}.get(row["change"], "muted")
        texts.add_row(
            escape(row["text"]),
            escape(row["true"]),
            escape(row["a"]),
            escape(row["b"]),
            f"[{style}]{row['change']}[/]",
        )
    return [overall, intents, texts]


CHANGES = ("broken", "fixed", "changed")


def _style(f1: float) -> str:
    return "error" if f1 < 0.7 else "warning" if f1 < 0.9 else "score"


def _delta(value: float, better: bool) -> str:
    if abs(value) < 1e-9:
        return "[muted]0[/]"
    return f"[{'score' if better else 'error'}]{value:+.4f}[/]"
