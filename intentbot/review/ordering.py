"""Which answered utterances a person should look at first.

Duplicates (same `normalised` text) become one item with a count. Items come most useful
first: the smallest margin between the model's top two intents (where it hesitated; margins
compared in steps of `MARGIN_STEP`), then out-of-scope answers before answered ones, then the
lowest confidence, then the most frequent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from intentbot.corpus import normalised
from intentbot.records import Record

# Margins this close count as equal, so that out of scope and confidence decide between them.
MARGIN_STEP = 0.05


@dataclass(frozen=True)
class Item:
    """One utterance to review: its latest record and how many records had its text."""

    record: Record
    count: int

    @property
    def key(self) -> str:
        """What decides whether two utterances are the same one."""
        return normalised(self.record.text)


def collapse(records: Iterable[Record]) -> list[Item]:
    """One item per distinct utterance, in order of first appearance, with the latest record
    (the newest model's answer, in a log that grows) and the number of copies."""
    latest: dict[str, Record] = {}
    counts: dict[str, int] = {}
    for record in records:
        key = normalised(record.text)
        latest[key] = record
        counts[key] = counts.get(key, 0) + 1
    return [Item(record, counts[key]) for key, record in latest.items()]


def usefulness(item: Item) -> tuple:
    """Sort key: smaller is more worth reviewing."""
    record = item.record
    return (
        math.floor(record.margin / MARGIN_STEP + 1e-9),
        not record.out_of_scope,
        record.confidence,
        -item.count,
    )


def review_order(records: Iterable[Record]) -> list[Item]:
    """Distinct utterances, most useful to review first."""
    return sorted(collapse(records), key=usefulness)
