"""Known entity names as token features: which tokens of an utterance are part of a name the
training data annotated (or a Rasa `lookup:` table lists), and as which entity type.

Why: most of a tagger's span errors on SNIPS are names it has to recognise, not tag order
(`the happy blues`: album or track). The encoder sees, beside each token's embedding, a
B and an I feature per entity type: this token starts, or continues, a known name of that type
(`IntentNet.gazetteer` adds their projection to the embeddings). The model learns how far to
trust each type's matches: "now" as a time range, not always one.

Training must see the features as a new utterance will. A name the training data annotates once
would otherwise always be matched in its own utterance, and the model would learn that an
entity is always a known name. So a training utterance's own annotations count out
(`features(..., own=example.entities)`): a name matches there only where another training
utterance, or a lookup table, also knows it. Measured on SNIPS: 55 % of training entity tokens
are then matched with their own type, 58 % of validation ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence

import numpy as np

from intentbot.examples import Entity, Example
from intentbot.tagging import TagSet, split_type, tag_type

# words (with any combining marks: a decomposed "u" + diaeresis stays one word) and single
# punctuation marks
MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
WORD = re.compile(rf"\w[\w{MARKS}]*|[^\w\s{MARKS}]")
LONGEST_NAME = 10  # words: longer annotations are sentences (reminder texts), not names

Name = tuple[str, ...]  # normalised words


def words(text: str) -> list[tuple[str, int, int]]:
    """(normalised word, start, end) of each word of `text`, offsets into `text` itself."""
    return [
        (unicodedata.normalize("NFKC", match.group()).casefold(), match.start(), match.end())
        for match in WORD.finditer(text)
    ]


def name_of(text: str) -> Name:
    """The words of one name as the gazetteer keys them."""
    return tuple(word for word, _, _ in words(text))


class Gazetteer:
    """Names per entity type; `types` are a `TagSet`'s (roles and groups included), whose
    order fixes the feature columns: B of type i at 2i, I at 2i + 1.

    `names` counts, per name and type, the training utterances that annotate it; names from
    lookup tables are in `listed` and never count out.
    """

    def __init__(
        self,
        types: Sequence[str],
        names: Mapping[Name, Mapping[str, int]] | None = None,
        listed: Mapping[Name, Iterable[str]] | None = None,
    ) -> None:
        self.types = tuple(types)
        self.columns = {kind: 2 * position for position, kind in enumerate(self.types)}
        self.names: dict[Name, Counter] = {
            name: Counter(counts) for name, counts in (names or {}).items()
        }
        self.listed: dict[Name, set[str]] = {
            name: set(kinds) for name, kinds in (listed or {}).items()
        }
        # every name and every start of one, with the types it is known as (none for a start
        # that is no name): matching stops as soon as words start no name
        self._known: dict[Name, frozenset[str]] = {
            name[:end]: frozenset()
            for name in [*self.names, *self.listed]
            for end in range(1, len(name))
        }
        for name in self.names.keys() | self.listed.keys():
            counted = {kind for kind, count in self.names.get(name, {}).items() if count > 0}
            self._known[name] = frozenset(counted | self.listed.get(name, set()))

    @classmethod
    def from_examples(
        cls,
        examples: Iterable[Example],
        tag_set: TagSet,
        lookups: Mapping[str, Sequence[str]] | None = None,
    ) -> Gazetteer:
        """The names `examples` annotate, and the entries of each lookup table named like an
        entity (`lookup: city` lists cities for every type of entity `city`, whatever role)."""
        names: dict[Name, Counter] = {}
        for example in examples:
            for name, kind in _annotated(example.text, example.entities, tag_set.types):
                names.setdefault(name, Counter())[kind] += 1
        listed: dict[Name, set[str]] = {}
        for table, entries in (lookups or {}).items():
            kinds = [kind for kind in tag_set.types if split_type(kind)[0] == table]
            if not kinds:  # a table that names no entity of the data: nothing to feed
                continue
            for entry in entries:
                name = name_of(entry)
                if 0 < len(name) <= LONGEST_NAME:
                    listed.setdefault(name, set()).update(kinds)
        return cls(tag_set.types, names, listed)

    @property
    def size(self) -> int:
        """How many distinct names it knows, of any type."""
        return len(self.names.keys() | self.listed.keys())

    @property
    def width(self) -> int:
        """Feature columns: a B and an I per entity type."""
        return 2 * len(self.types)

    def features(
        self, text: str, offsets: Sequence[tuple[int, int]], own: Sequence[Entity] = ()
    ) -> np.ndarray:
        """(T, width) uint8 for one text tokenized into `offsets` ((0, 0): [BOS], padding,
        never marked): 1 where the token starts (B) or continues (I) a known name of the type.
        `own`: the text's annotations, counted out (training utterances; see the module)."""
        found = np.zeros((len(offsets), self.width), np.uint8)
        own_names = set(_annotated(text, own, self.columns))
        tokens = words(text)
        for first, (_, start, _) in enumerate(tokens):
            name: Name = ()
            for word, _, end in tokens[first:]:
                name = (*name, word)
                kinds = self._known.get(name)
                if kinds is None:
                    break
                for kind in self._beyond_own(name, kinds, own_names):
                    _mark(found, offsets, start, end, self.columns[kind])
        return found

    def _beyond_own(
        self, name: Name, kinds: frozenset[str], own: set[tuple[Name, str]]
    ) -> Iterable[str]:
        """Of the types `name` is known as, those still known without the utterance's own
        annotations (a listed name always is)."""
        if not own:  # every new utterance: nothing to count out
            return kinds
        counted, listed = self.names.get(name, Counter()), self.listed.get(name, set())
        return [kind for kind in kinds if kind in listed or counted[kind] > ((name, kind) in own)]

    def to_dict(self) -> dict:
        """JSON for the bundle: serving needs which names are known, not how often."""
        known: dict[str, set[str]] = {kind: set() for kind in self.types}
        for source in (self.names, self.listed):
            for name, kinds in source.items():
                for kind in kinds:
                    known[kind].add(" ".join(name))
        return {"types": list(self.types), "names": {k: sorted(v) for k, v in known.items()}}

    @classmethod
    def from_dict(cls, record: Mapping) -> Gazetteer:
        """Inverse of `to_dict`; raises ValueError naming what is malformed."""
        types, known = record.get("types"), record.get("names")
        if not isinstance(types, list) or not all(isinstance(kind, str) for kind in types):
            raise ValueError("`types` must be a list of entity types")
        if not isinstance(known, dict) or not all(
            kind in types and isinstance(names, list) and all(isinstance(n, str) for n in names)
            for kind, names in known.items()
        ):
            raise ValueError("`names` must map each entity type to a list of names")
        listed: dict[Name, set[str]] = {}
        for kind, names in known.items():
            for text in names:
                listed.setdefault(tuple(text.split(" ")), set()).add(kind)
        return cls(types, listed=listed)


def _annotated(
    text: str, entities: Sequence[Entity], kinds: Container[str]
) -> set[tuple[Name, str]]:
    """(name, type) of each annotation of `text` whose type is in `kinds`; over-long ones out."""
    found = set()
    for entity in entities:
        kind, name = tag_type(entity), name_of(text[entity.start : entity.end])
        if kind in kinds and 0 < len(name) <= LONGEST_NAME:
            found.add((name, kind))
    return found


def _mark(
    found: np.ndarray, offsets: Sequence[tuple[int, int]], start: int, end: int, column: int
) -> None:
    """Tokens overlapping characters [start, end): the first gets B (`column`), the rest I."""
    begun = False
    for index, (token_start, token_end) in enumerate(offsets):
        if token_start < end and token_end > start and token_start < token_end:
            found[index, column + begun] = 1
            begun = True
