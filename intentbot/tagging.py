"""Entity spans <-> per-token BIO tags: the targets of the tagging head, and the decoding of its
outputs back into spans of the user's original text.

Tags are `O`, then `B-x`, `I-x` per entity type `x` in sorted order. A token belongs to a span
when its character offsets overlap it; the span's first token is `B-x`, the others (word pieces
included) `I-x`. An entity with a Rasa role or group is tagged as a type of its own
(`city|role=from`), so the same head learns them; decoding splits the type back. Decoding is a
constrained Viterbi search: no `I-x` without a `B-x` or `I-x` before it, so every span starts
with its `B-` tag.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from intentbot.examples import Entity, Example

OUTSIDE = "O"
QUALIFIERS = ("role", "group")  # Rasa's ways to tell apart entities of one type
IGNORE = -100  # the target of positions without a tag ([BOS], padding): cross-entropy skips it
# (B, T, K) log-probabilities over a TagSet's tags, (B,) lengths -> (B, T) tag ids
Search = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ExtractedEntity:
    """One span the model found: `text` is `utterance[start:end]`, `value` its normalised value
    (the synonym table's, else the text itself), `confidence` the mean probability of its tags."""

    entity: str
    value: str
    start: int
    end: int
    text: str
    confidence: float
    role: str | None = None
    group: str | None = None


def tag_type(entity: Entity) -> str:
    """The type the tagger learns for `entity`: its entity name, with its role and group."""
    qualifiers = [(key, getattr(entity, key)) for key in QUALIFIERS if getattr(entity, key)]
    return "|".join([entity.entity, *(f"{key}={value}" for key, value in qualifiers)])


def split_type(kind: str) -> tuple[str, dict[str, str]]:
    """Inverse of `tag_type`: the entity name and its role and group (where present); a `|`
    in an entity's own name stays in it."""
    name, qualifiers = kind, {}
    for key in reversed(QUALIFIERS):  # from the right: tag_type writes role, then group
        head, found, value = name.rpartition(f"|{key}=")
        if found:
            name, qualifiers[key] = head, value
    return name, qualifiers


@dataclass(frozen=True)
class TagSet:
    """The BIO tags of a set of entity types: index 0 is `O`, then `B-x`, `I-x` per sorted type,
    so tag `k > 0` has type `(k - 1) // 2` and is an `I-` tag when `k` is even."""

    types: tuple[str, ...]

    @classmethod
    def from_examples(cls, examples: Iterable[Example]) -> TagSet | None:
        """The tags of every entity type in `examples` (the training split); None without any."""
        types = {tag_type(entity) for example in examples for entity in example.entities}
        return cls(tuple(sorted(types))) if types else None

    @classmethod
    def from_names(cls, names: Sequence[str]) -> TagSet:
        """Inverse of `names`; a list in another order or form is a ValueError saying so."""
        tags = cls(tuple(name[2:] for name in names[1::2]))
        if list(names) != list(tags.names):
            raise ValueError(
                f"tag names {list(names)[:7]} are not O followed by B-x, I-x per sorted entity "
                "type; write the tags of a TagSet (`TagSet.names`)"
            )
        return tags

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Tag names by index: what a bundle stores."""
        return (OUTSIDE, *(f"{prefix}-{kind}" for kind in self.types for prefix in "BI"))

    def __len__(self) -> int:
        return 1 + 2 * len(self.types)

    @cached_property
    def split_types(self) -> tuple[tuple[str, dict[str, str]], ...]:
        """`split_type` of each type, in order: parsed once, not per decoded span."""
        return tuple(split_type(kind) for kind in self.types)

    @cached_property
    def entity_names(self) -> tuple[str, ...]:
        """The entity names the tags find, roles and groups aside (what reply slots name)."""
        return tuple(sorted({name for name, _ in self.split_types}))

    @cached_property
    def _begins(self) -> dict[str, int]:
        return {kind: 1 + 2 * position for position, kind in enumerate(self.types)}

    def token_tags(
        self, offsets: Sequence[tuple[int, int]], entities: Sequence[Entity]
    ) -> list[int]:
        """Per-token tag ids for one text's sorted `entities`; tokens with (0, 0) offsets ([BOS],
        padding) get IGNORE. Entity types outside this set are `O`: the model cannot name them.
        A token overlapping two spans stays with the first one."""
        tags = [IGNORE if start == end else 0 for start, end in offsets]
        for entity in entities:
            begin = self._begins.get(tag_type(entity))
            if begin is None:
                continue
            first = True
            for position, (start, end) in enumerate(offsets):
                overlaps = start < entity.end and end > entity.start and start < end
                if overlaps and tags[position] == 0:
                    tags[position] = begin if first else begin + 1
                    first = False
        return tags


@dataclass(frozen=True)
class TagScores:
    """What the tagging head says about a batch: (B, T, K) tag logits, and each token's most
    likely tag (B, T) with its softmax probability (B, T). The ONNX graphs compute the last two
    themselves, a dozen numpy calls fewer for one utterance (BENCHMARKS.md); `of` computes them
    from the logits (the torch engine). Padding holds anything."""

    logits: np.ndarray
    choices: np.ndarray
    confidences: np.ndarray

    @classmethod
    def of(cls, logits: np.ndarray) -> TagScores:
        """The choices and confidences of (B, T, K) `logits`, as the graphs compute them."""
        exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return cls(logits, logits.argmax(axis=-1), 1.0 / exponentials.sum(axis=-1))


def viterbi(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(B, T, K) per-token scores over a `TagSet`'s tags and (B,) lengths -> (B, T) the path
    with the highest total score that has no orphan `I-x` (one not after `B-x` or `I-x`).
    Log-probabilities and logits give the same path: a token's softmax subtracts one constant
    from all its tags, so from every path. Positions at or past a row's length mean nothing.

    The constraint is what keeps a step cheap: `O` and `B-x` may follow any tag, `I-x` only its
    own `B-x` or itself, so each step is (B, K) work, not the (B, K, K) of a full transition
    table: 700 utterances of 35 tokens over SNIPS' 79 tags in 56 ms instead of 1.07 s. Past a
    row's length its path holds the last tag. `decode` calls it only for the rows whose most
    likely tags break the rule: elsewhere those tags are the best allowed path already."""
    batch, steps, tags = scores.shape
    if steps == 0:
        return np.zeros((batch, 0), np.int64)
    inside = np.arange(2, tags, 2)  # the I-x columns; B-x is I-x - 1
    score = scores[:, 0].copy()  # (B, K)
    score[:, inside] = -np.inf  # no span starts inside
    back = np.empty((batch, steps, tags), np.int64)
    back[:, 0] = np.arange(tags)
    rows = np.arange(batch)[:, None]
    for step in range(1, steps):
        best = np.repeat(score.argmax(axis=1)[:, None], tags, axis=1)  # (B, K): any tag
        stays = score[:, inside] >= score[:, inside - 1]  # (B, K'): I-x after I-x or B-x
        best[:, inside] = np.where(stays, inside, inside - 1)
        live = (step < lengths)[:, None]
        # past a row's end the path stands still: its final tag is the one at length - 1
        score = np.where(live, score[rows, best] + scores[:, step], score)
        back[:, step] = np.where(live, best, np.arange(tags))
    path = np.empty((batch, steps), np.int64)
    path[:, -1] = score.argmax(axis=1)
    for step in range(steps - 1, 0, -1):
        path[:, step - 1] = back[rows[:, 0], step, path[:, step]]
    return path


def has_orphan(tags: Sequence[int]) -> bool:
    """Whether an `I-x` in one text's tags follows neither `B-x` nor `I-x` (the tag before
    the first token is `O`). Plain ints: for the few tags of one text, cheaper than numpy."""
    previous = 0
    for tag in tags:
        if _orphan(tag, previous):
            return True
        previous = tag
    return False


def _orphan(tag: np.ndarray | int, previous: np.ndarray | int) -> np.ndarray | bool:
    """True where `tag` is an `I-x` (even, B-x = I-x - 1) after neither `B-x` nor `I-x`: the
    rule for arrays (`greedy`) and plain ints (`has_orphan`) alike."""
    return (tag > 0) & (tag % 2 == 0) & (previous != tag) & (previous != tag - 1)


def greedy(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The baseline `viterbi` is measured against (bench/decoding.py): each token's most likely
    tag, an orphan `I-x` then turned into `B-x`."""
    path = scores.argmax(axis=-1)  # (B, T)
    previous = np.zeros(len(path), np.int64)  # O before the first token
    for step in range(path.shape[1]):
        tag = path[:, step]
        path[_orphan(tag, previous), step] -= 1  # I-x is B-x + 1
        previous = path[:, step]
    return path


def spans(
    tags: Sequence[int],
    probabilities: Sequence[float],
    offsets: Sequence[tuple[int, int]],
    text: str,
    tag_set: TagSet,
    synonyms: Mapping[str, str],
) -> list[ExtractedEntity]:
    """One text's decoded tags (T,), each token's probability of its tag (T,; only tokens in a
    span are read) and token offsets -> its entities, as character spans of the original
    `text` (the tokenizer's offsets point into it); an entity's confidence is the mean
    probability of its tokens' tags. `tags` are plain ints (`decode` passes `tolist()`): they
    are cheaper to compare than numpy scalars."""
    found: list[ExtractedEntity] = []
    current: list[int] = []  # token positions of the open span

    def close() -> None:
        kind, qualifiers = tag_set.split_types[(tags[current[0]] - 1) // 2]
        # plain ints: offsets may be a numpy array, and answers go out as JSON
        start, end = int(offsets[current[0]][0]), _past_marks(text, int(offsets[current[-1]][1]))
        surface = text[start:end]
        confidence = sum(probabilities[position] for position in current)
        value = synonyms.get(surface.lower(), surface)
        found.append(
            ExtractedEntity(
                kind, value, start, end, surface, confidence / len(current), **qualifiers
            )
        )
        current.clear()

    for position, tag in enumerate(tags):
        # an I-x continues the open span when that span's last tag is its B-x or I-x
        continues = tag and tag % 2 == 0 and current and tags[current[-1]] in (tag - 1, tag)
        if current and not continues:
            close()  # O, B-x, or an I-x that does not continue the open span
        if tag:
            current.append(position)
    if current:
        close()
    return found


def decode(
    tags: TagScores,
    lengths: np.ndarray,
    offsets: np.ndarray,
    texts: Sequence[str],
    tag_set: TagSet,
    synonyms: Mapping[str, str],
    search: Search = viterbi,
) -> list[list[ExtractedEntity]]:
    """A batch's tag scores, (B,) lengths and (B, T, 2) token offsets -> each text's entities.
    Position 0 is [BOS] and padding lies past each length: neither is decoded. A text whose
    most likely tags are an allowed path keeps them and their probabilities; the others go to
    `search` (`viterbi`; bench/decoding.py measures `greedy` against it), which returns those
    tags unchanged wherever they are allowed, so searching every row would find the same."""
    steps = lengths - 1  # real tokens start at 1
    choices = zip(tags.choices[:, 1:], steps.tolist(), strict=True)
    paths = [row[:count].tolist() for row, count in choices]
    confidences = tags.confidences[:, 1:].tolist()
    broken = [row for row, path in enumerate(paths) if has_orphan(path)]
    if broken:
        scores = tags.logits[broken, 1:]  # on logits, the path of the log-softmax
        searched = search(scores, steps[broken])
        repaired = _path_probabilities(scores, searched)
        for row, path, probabilities in zip(broken, searched, repaired.tolist(), strict=True):
            paths[row], confidences[row] = path[: steps[row]].tolist(), probabilities
    return [
        spans(path, row, row_offsets[1:], text, tag_set, synonyms)
        for path, row, row_offsets, text in zip(paths, confidences, offsets, texts, strict=True)
    ]


def _path_probabilities(scores: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """(B, T) softmax probability of each token's tag on `paths` (B, T): the confidences of
    the paths `search` changed. Past a row's length they mean nothing, and nothing reads them."""
    chosen = np.take_along_axis(scores, paths[..., None], axis=-1)  # (B, T, 1)
    return 1.0 / np.exp(scores - chosen).sum(axis=-1)


def _past_marks(text: str, end: int) -> int:
    """`end` moved past the combining marks that follow it: composing normalisers (NFC, NFKC)
    map a base letter and its accent to one character whose offsets cover the base alone."""
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):
        end += 1
    return end
