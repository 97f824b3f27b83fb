"""Two models on the same utterances: what changed overall, per intent, and for which texts.

"a" is the model under evaluation (`model=`), "b" the one it is compared with (`compare=`);
deltas are b minus a. Intents are matched by name, so the label sets may differ.
"""

from __future__ import annotations

from intentbot.evaluation.outcomes import Outcomes, overall, per_intent

PER_INTENT_SCORES = ("precision", "recall", "f1")


def compare(a: Outcomes, b: Outcomes) -> dict:
    """Overall and per-intent deltas, and every utterance whose final answer changed."""
    if [example.text for example in a.examples] != [example.text for example in b.examples]:
        raise ValueError("compare needs both models' answers on the same utterances")
    return {
        "overall": _overall_deltas(overall(a), overall(b)),
        "per_intent": _per_intent_deltas(per_intent(a), per_intent(b)),
        "changed": changed_predictions(a, b),
    }


def changed_predictions(a: Outcomes, b: Outcomes) -> list[dict]:
    """Utterances answered differently; `change` is fixed (b right), broken (a right) or
    changed (both wrong)."""
    rows = []
    confidence_a, confidence_b = a.confidence.tolist(), b.confidence.tolist()
    for row, example in enumerate(a.examples):
        answer_a, answer_b = a.name(int(a.predicted[row])), b.name(int(b.predicted[row]))
        if answer_a == answer_b:
            continue
        right_a, right_b = answer_a == example.intent, answer_b == example.intent
        rows.append(
            {
                "text": example.text,
                "true": example.intent,
                "a": answer_a,
                "b": answer_b,
                "a_confidence": round(confidence_a[row], 4),
                "b_confidence": round(confidence_b[row], 4),
                "change": "fixed" if right_b else "broken" if right_a else "changed",
            }
        )
    order = {"broken": 0, "fixed": 1, "changed": 2}
    return sorted(rows, key=lambda row: (order[row["change"]], row["true"], row["text"]))


def _overall_deltas(a: dict[str, float], b: dict[str, float]) -> dict[str, dict]:
    return {
        name: {"a": a[name], "b": b[name], "delta": b[name] - a[name]} for name in a if name in b
    }


def _per_intent_deltas(a: list[dict], b: list[dict]) -> list[dict]:
    """One row per intent in the data, the largest F1 drop first."""
    rows_b = {row["intent"]: row for row in b}
    rows = []
    for row_a in a:
        row_b = rows_b[row_a["intent"]]  # same data, so the same intents have support
        record = {"intent": row_a["intent"], "support": row_a["support"]}
        for name in PER_INTENT_SCORES:
            record[f"{name}_a"], record[f"{name}_b"] = row_a[name], row_b[name]
            record[f"{name}_delta"] = row_b[name] - row_a[name]
        rows.append(record)
    return sorted(rows, key=lambda row: (row["f1_delta"], row["intent"]))
