"""BIO tags from entity spans and back: the tag set, per-token targets on awkward text, the
constrained Viterbi search, and spans mapped onto the user's original characters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from intentbot.examples import Entity, Example
from intentbot.tagging import (
    IGNORE,
    TagScores,
    TagSet,
    decode,
    greedy,
    has_orphan,
    spans,
    split_type,
    tag_type,
    viterbi,
)
from intentbot.tokenizer import IntentTokenizer

TAGS = TagSet(("city", "duration"))  # O, B-city, I-city, B-duration, I-duration
OUT, B_CITY, I_CITY, B_DURATION, I_DURATION = range(5)

# (text, [(surface, type)]): each surface occurs once in its text
AWKWARD = [
    ("set a TIMER for 5 Minutes", [("5 Minutes", "duration")]),
    ("fly to cafe\u0301 de\u0301ja\u0300 vu tomorrow", [("cafe\u0301 de\u0301ja\u0300", "city")]),
    ("İSTANBUL flights for ten hours", [("İSTANBUL", "city"), ("ten hours", "duration")]),
    ("rain in 東京 for 3 日", [("東京", "city"), ("3 日", "duration")]),
    ("wake me in 5\u00a0minutes 🙂 please", [("5\u00a0minutes", "duration")]),
    ("🙂🙂 Straße of ǅemal for ﬁve minutes", [("Straße", "city"), ("ﬁve minutes", "duration")]),
    ("weather in san francisco", [("san francisco", "city")]),
]


def example(text: str, marked: list[tuple[str, str]]) -> Example:
    entities = []
    for surface, kind in marked:
        start = text.index(surface)
        entities.append(Entity(start, start + len(surface), kind))
    return Example(text, "intent", entities=sorted(entities, key=lambda e: e.start))


EXAMPLES = [example(text, marked) for text, marked in AWKWARD]


@pytest.fixture(scope="module")
def tokenizer() -> IntentTokenizer:
    # a small vocabulary: some words split into pieces, some become [UNK]
    return IntentTokenizer.fit([text for text, _ in AWKWARD[:4]], vocab_size=120)


def test_tag_names_are_o_then_b_and_i_per_sorted_type() -> None:
    tags = TagSet.from_examples([example("5 min in paris", [("paris", "city"), ("5 min", "t")])])
    assert tags.names == ("O", "B-city", "I-city", "B-t", "I-t")
    assert len(tags) == 5
    assert TagSet.from_names(list(tags.names)) == tags
    assert TagSet.from_examples([Example("hi", "greet")]) is None


def test_roles_and_groups_are_types_of_their_own_that_split_back() -> None:
    entities = [
        Entity(0, 4, "city", role="from"),
        Entity(8, 12, "city", role="to", group="2"),
        Entity(13, 16, "a|b"),  # a `|` of the user's own stays in the name
        Entity(17, 20, "city"),
    ]
    tags = TagSet.from_examples([Example("oslo to rome x|y nyc", "fly", entities=entities)])
    assert tags.types == ("a|b", "city", "city|role=from", "city|role=to|group=2")
    assert tags.entity_names == ("a|b", "city")
    assert [split_type(tag_type(entity)) for entity in entities] == [
        ("city", {"role": "from"}),
        ("city", {"role": "to", "group": "2"}),
        ("a|b", {}),
        ("city", {}),
    ]
    [found] = spans(
        [tags.names.index("B-city|role=to|group=2")],
        [1.0],
        [(8, 12)],
        "oslo to rome",
        tags,
        {},
    )
    assert (found.entity, found.role, found.group, found.text) == ("city", "to", "2", "rome")


def test_tag_names_in_another_order_are_refused() -> None:
    with pytest.raises(ValueError, match="O followed by B-x, I-x"):
        TagSet.from_names(["O", "I-city", "B-city"])


@pytest.mark.parametrize("item", EXAMPLES, ids=[text[:20] for text, _ in AWKWARD])
def test_token_tags_cover_each_span_with_one_b_then_i(
    tokenizer: IntentTokenizer, item: Example
) -> None:
    ids, lengths, offsets = tokenizer.encode_with_offsets([item.text, item.text + " and more"])
    assert ids.shape == offsets.shape[:2]
    row = [tuple(pair) for pair in offsets[0].tolist()]
    tags = TAGS.token_tags(row, item.entities)
    assert tags[0] == IGNORE  # [BOS]
    assert all(tag == IGNORE for tag in tags[int(lengths[0]) :])  # padding
    for entity in item.entities:
        inside = [
            tags[position]
            for position, (start, end) in enumerate(row)
            if start < entity.end and end > entity.start
        ]
        begin = TAGS.names.index(f"B-{entity.entity}")
        assert inside == [begin] + [begin + 1] * (len(inside) - 1)
    assert sum(tag not in (OUT, IGNORE) for tag in tags) == sum(
        start < end and any(start < e.end and end > e.start for e in item.entities)
        for start, end in row
    )


def test_unknown_types_are_outside() -> None:
    tags = TAGS.token_tags([(0, 0), (0, 2), (3, 8)], [Entity(3, 8, "food")])
    assert tags == [IGNORE, OUT, OUT]


def one_hot_logits(tags: list[int], size: int) -> np.ndarray:
    logits = np.zeros((len(tags), size), np.float32)
    logits[np.arange(len(tags)), np.where(np.array(tags) == IGNORE, OUT, tags)] = 8.0
    return logits


def test_gold_tags_decode_to_the_original_spans(tokenizer: IntentTokenizer) -> None:
    """Whatever normalisation, pieces or [UNK] did, a span comes back as the user's characters."""
    texts = [item.text for item in EXAMPLES]
    _, lengths, offsets = tokenizer.encode_with_offsets(texts)
    logits = np.stack(
        [
            one_hot_logits(TAGS.token_tags([tuple(p) for p in row.tolist()], item.entities), 5)
            for row, item in zip(offsets, EXAMPLES, strict=True)
        ]
    )
    found = decode(TagScores.of(logits), lengths, offsets, texts, TAGS, {"5 minutes": "PT5M"})
    softmax_of_the_tag = np.exp(8.0) / (np.exp(8.0) + len(TAGS) - 1)  # one logit of 8, four of 0
    for item, entities in zip(EXAMPLES, found, strict=True):
        assert [(e.start, e.end, e.entity) for e in entities] == [
            (e.start, e.end, e.entity) for e in item.entities
        ]
        assert [e.confidence for e in entities] == pytest.approx(
            [softmax_of_the_tag] * len(entities)
        )
        for entity in entities:
            assert type(entity.start) is int and type(entity.end) is int  # JSON-able
            assert entity.text == item.text[entity.start : entity.end]
            assert 0.99 < entity.confidence <= 1.0
    assert found[0][0].value == "PT5M"  # the synonym of "5 Minutes", looked up lower-cased
    assert found[3][0].value == "東京"  # no synonym: the text itself


def test_confidence_is_the_mean_probability_of_the_span_tags() -> None:
    probs = np.array(
        [[0.9, 0.05, 0.05, 0, 0], [0.1, 0.7, 0.2, 0, 0], [0.1, 0.3, 0.6, 0, 0], [1, 0, 0, 0, 0]]
    )
    offsets = [(0, 2), (3, 6), (7, 11), (12, 13)]
    path = [OUT, B_CITY, I_CITY, OUT]
    (entity,) = spans(path, probs[range(4), path], offsets, "in new york .", TAGS, {})
    assert (entity.entity, entity.start, entity.end, entity.text) == ("city", 3, 11, "new york")
    assert entity.confidence == pytest.approx(0.65)
    assert entity.role is None and entity.group is None


def test_a_new_b_tag_or_a_type_change_starts_a_new_span() -> None:
    offsets = [(0, 1), (2, 3), (4, 5), (6, 7)]
    found = spans([B_CITY, B_CITY, I_DURATION, I_DURATION], [0.2] * 4, offsets, "a b c d", TAGS, {})
    assert [(e.entity, e.text) for e in found] == [
        ("city", "a"),
        ("city", "b"),
        ("duration", "c d"),
    ]


def may_follow(previous: int, tag: int) -> bool:
    """The BIO rule, read from the tag names: I-x only after B-x or I-x."""
    name, before = TAGS.names[tag], TAGS.names[previous]
    return not name.startswith("I-") or (before != "O" and before[2:] == name[2:])


def orphans(path: np.ndarray) -> bool:
    pairs = zip((OUT, *path), path, strict=False)  # (previous, tag) at every position
    return not all(may_follow(int(previous), int(tag)) for previous, tag in pairs)


def valid_paths(steps: int) -> list[tuple[int, ...]]:
    return [
        path
        for path in itertools.product(range(len(TAGS)), repeat=steps)
        if not orphans(np.array(path))
    ]


batches = st.integers(1, 6).flatmap(
    lambda steps: st.tuples(
        arrays(np.float64, (3, steps, 5), elements=st.floats(-30, 0)),
        arrays(np.int64, 3, elements=st.integers(0, steps)),
    )
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(TAGS) - 1), max_size=8))
def test_the_orphan_check_on_plain_ints_reads_the_bio_rule(tags: list[int]) -> None:
    assert has_orphan(tags) == orphans(np.array(tags, np.int64))


@settings(max_examples=200, deadline=None)
@given(batches)
def test_viterbi_never_emits_an_orphan_i_tag(batch: tuple[np.ndarray, np.ndarray]) -> None:
    log_probs, lengths = batch
    for search in (viterbi, greedy):
        paths = search(log_probs, lengths)
        for path, length in zip(paths, lengths, strict=True):
            assert not orphans(path[:length])


@settings(max_examples=60, deadline=None)
@given(batches)
def test_viterbi_finds_the_best_allowed_path(batch: tuple[np.ndarray, np.ndarray]) -> None:
    """Against every allowed path, enumerated: the search is exact, one row at a time or not."""
    log_probs, lengths = batch
    paths = viterbi(log_probs, lengths)
    for row, path, length in zip(log_probs, paths, lengths, strict=True):
        if length == 0:
            continue
        best = max(
            sum(row[step, tag] for step, tag in enumerate(candidate))
            for candidate in valid_paths(int(length))
        )
        found = sum(row[step, tag] for step, tag in enumerate(path[:length]))
        assert found == pytest.approx(best)


def test_viterbi_repairs_what_greedy_cannot_see() -> None:
    """Argmax says OUT, I-city, I-city; greedy turns the orphan into B-city, Viterbi weighs the
    whole path and keeps the span together with a likelier start."""
    log_probs = np.log(
        np.array(
            [[[0.5, 0.45, 0.0, 0.05, 0.0], [0.1, 0.3, 0.6, 0.0, 0.0], [0.1, 0.0, 0.9, 0.0, 0.0]]]
        )
        + 1e-9
    )
    lengths = np.array([3])
    assert greedy(log_probs, lengths).tolist() == [[OUT, B_CITY, I_CITY]]
    assert viterbi(log_probs, lengths).tolist() == [[B_CITY, I_CITY, I_CITY]]


def test_decoding_searches_only_the_texts_whose_likeliest_tags_have_an_orphan() -> None:
    """Text 0's likeliest tags are allowed and come back as they are, with their
    probabilities; text 1's (OUT, I-city) go to the search, in the same batch. [BOS] first."""
    bos = [0.9, 0.025, 0.025, 0.025, 0.025]
    allowed = [bos, [0.1, 0.7, 0.1, 0.05, 0.05], [0.1, 0.1, 0.7, 0.05, 0.05]]  # B-, I-city
    orphan = [bos, [0.6, 0.3, 0.0, 0.1, 0.0], [0.2, 0.0, 0.8, 0.0, 0.0]]  # OUT, then I-city
    scores = TagScores.of(np.log(np.array([allowed, orphan]) + 1e-9))
    searched = []

    def search(rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        searched.append(len(rows))
        return viterbi(rows, lengths)

    texts = ["in paris", "to paris"]
    offsets = np.array([[(0, 0), (0, 2), (3, 8)]] * 2)
    found = decode(scores, np.array([3, 3]), offsets, texts, TAGS, {}, search)
    assert searched == [1]
    for entities in found:
        assert [(e.start, e.end, e.entity) for e in entities] == [(0, 8, "city")]
    assert found[0][0].confidence == pytest.approx(0.7, abs=1e-6)
    assert found[1][0].confidence == pytest.approx((0.3 + 0.8) / 2, abs=1e-6)  # 0.3 * 0.8 wins
