"""Collapsing whitespace keeps every span on the characters it covered, whatever the script."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intentbot.whitespace import collapse, trim

# spaces of every kind, and characters that are one "letter" but several code points
ODD = [" ", "\t", "\n", "\u00a0", "\u3000", "\u2028", "\x1c", "\x85", "\u200b"]
ODD += ["e\u0301", "\U0001f468\u200d\U0001f469", "\U0001f1f3\U0001f1f4", "東京", "a", "Z"]


@pytest.mark.parametrize(
    ("text", "span", "expected", "surface"),
    [
        ("  fly \u00a0to\t\tOslo ", "Oslo", "fly to Oslo", "Oslo"),
        ("go  to  new \n york now", "new \n york", "go to new york now", "new york"),
        ("cafe\u0301\u3000\u3000ok", "cafe\u0301", "cafe\u0301 ok", "cafe\u0301"),
        ("hi \U0001f468\u200d\U0001f469  \U0001f44b", "\U0001f44b", "hi 👨‍👩 👋", "👋"),
        ("東京  に 行く", "に 行く", "東京 に 行く", "に 行く"),
        ("zero\u200bwidth  x", "zero\u200bwidth", "zero\u200bwidth x", "zero\u200bwidth"),
    ],
)
def test_named_cases(text: str, span: str, expected: str, surface: str):
    start = text.index(span)
    collapsed, [(new_start, new_end)] = collapse(text, [(start, start + len(span))])
    assert collapsed == expected and collapsed[new_start:new_end] == surface


def test_trim_narrows_to_the_words():
    assert trim(" \u00a0Oslo\t", 0, 7) == (2, 6)
    assert trim("a   b", 1, 4) == (4, 4)  # only spaces: empty


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    pieces=st.lists(st.sampled_from(ODD), max_size=30),
    cuts=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80)), max_size=5),
)
def test_spans_cover_the_same_words(pieces: list[str], cuts: list[tuple[int, int]]):
    text = "".join(pieces)
    spans = []
    for a, b in cuts:
        start, end = trim(text, min(a, b, len(text)), min(max(a, b), len(text)))
        if start < end:
            spans.append((start, end))
    collapsed, moved = collapse(text, spans)
    assert collapsed == " ".join(text.split())
    for (start, end), (new_start, new_end) in zip(spans, moved, strict=True):
        assert collapsed[new_start:new_end] == " ".join(text[start:end].split())
