"""Everything a run learns from its training split before the network: the tokenizer (or the
pretrained one), the intents, the BIO tags, the known names and the n-grams. Fitted on the
training split only; a resumed run reuses the tokenizer and intents its first attempt wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from intentbot.gazetteer import Gazetteer
from intentbot.labels import LabelSet
from intentbot.ngrams import NgramVocabulary
from intentbot.pretrained import START_TOKEN, PretrainedEmbeddings
from intentbot.splits import Splits
from intentbot.tagging import TagSet
from intentbot.tokenizer import IntentTokenizer
from intentbot.training.network import NetworkRecipe, Vocabulary

TOKENIZER_FILE, LABELS_FILE = "tokenizer.json", "labels.json"


@dataclass(frozen=True)
class RunVocabulary:
    """What `fit_vocabulary` learned; None where the data or the recipe has none."""

    tokenizer: IntentTokenizer
    labels: LabelSet
    tag_set: TagSet | None
    gazetteer: Gazetteer | None
    ngrams: NgramVocabulary | None
    embeddings: PretrainedEmbeddings | None

    def sizes(self) -> Vocabulary:
        """The sizes the network is built for."""
        return Vocabulary(
            tokens=self.tokenizer.vocab_size,
            pad_id=self.tokenizer.pad_id,
            unk_id=self.tokenizer.unk_id,
            intents=len(self.labels),
            tags=len(self.tag_set) if self.tag_set else 0,
            names=self.gazetteer.width if self.gazetteer else 0,
            grams=len(self.ngrams) if self.ngrams else 0,
        )


def fit_vocabulary(
    splits: Splits,
    recipe: NetworkRecipe,
    tokenizer_settings: dict,
    oos_label: str,
    saved: Path | None = None,
) -> RunVocabulary:
    """Fit everything on `splits.train`; `saved`: a resumed run's folder, whose tokenizer and
    intents are read instead of fitted again."""
    texts = [example.text for example in splits.train]
    embeddings = recipe.embeddings()
    tokenizer, labels = _saved(saved) if saved else (None, None)
    if tokenizer is None:
        tokenizer = (
            IntentTokenizer.from_pretrained(
                embeddings.tokenizer, START_TOKEN, tokenizer_settings["max_length"]
            )
            if embeddings
            else IntentTokenizer.fit(texts, **tokenizer_settings)
        )
        labels = LabelSet.from_intents((example.intent for example in splits.train), oos_label)
    tag_set = TagSet.from_examples(splits.train)  # None: no entities, an intent-only model
    gazetteer = None
    if tag_set and recipe.gazetteer:
        gazetteer = Gazetteer.from_examples(splits.train, tag_set, splits.lookups)
    ngrams = NgramVocabulary.fit(texts, recipe.ngrams) if recipe.ngrams else None
    return RunVocabulary(tokenizer, labels, tag_set, gazetteer, ngrams, embeddings)


def _saved(folder: Path) -> tuple[IntentTokenizer | None, LabelSet | None]:
    """The tokenizer and intents a first attempt wrote into `folder`, if it wrote both."""
    tokenizer, labels = folder / TOKENIZER_FILE, folder / LABELS_FILE
    if not (tokenizer.exists() and labels.exists()):
        return None, None
    return IntentTokenizer.load(tokenizer), LabelSet.load(labels)


def save_vocabulary(vocabulary: RunVocabulary, folder: Path) -> None:
    """The tokenizer and intents into the run directory, for a resumed run and for people."""
    vocabulary.tokenizer.save(folder / TOKENIZER_FILE)
    vocabulary.labels.save(folder / LABELS_FILE)
