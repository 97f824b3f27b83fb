"""Collapse whitespace in an utterance and move character spans along with it.

Readers store texts as `" ".join(text.split())`, so two files that differ only in spacing give
one utterance; entity offsets given against the raw text must follow the characters they cover.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence

# `\S` and `str.split()` agree on what whitespace is (both use Unicode's White_Space/bidi
# whitespace via str.isspace), so the words here are exactly those `split()` gives
_WORD = re.compile(r"\S+")


def collapse(text: str, spans: Sequence[tuple[int, int]] = ()) -> tuple[str, list[tuple[int, int]]]:
    """`" ".join(text.split())` and each `(start, end)` span moved onto the same characters.

    Every span must start and end on a non-space character of `text` (trim spans first).
    """
    words = list(_WORD.finditer(text))
    old_starts = [word.start() for word in words]
    new_starts, at = [], 0
    for word in words:
        new_starts.append(at)
        at += len(word.group()) + 1  # the single space after it

    def moved(index: int) -> int:
        word = bisect_right(old_starts, index) - 1
        return new_starts[word] + index - old_starts[word]

    collapsed = " ".join(word.group() for word in words)
    return collapsed, [(moved(start), moved(end - 1) + 1) for start, end in spans]


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow `start..end` past whitespace at either edge; empty (start == end) if all space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
