"""The `model` config group: what network to build for a data set, and from which embeddings.

`NetworkRecipe` holds the settings; the run's vocabulary (tokenizer, intents, tags, known
names, n-grams) is only known once the data is read, so `net_config` takes it then and
returns the `NetConfig` that rebuilds the network anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from intentbot.encoder import EncoderConfig
from intentbot.model import HeadConfig, NetConfig
from intentbot.ngrams import NgramConfig
from intentbot.pretrained import PretrainedEmbeddings, load_pretrained

# `model.word_dropout: null`: over pretrained embeddings an unseen word already has a vector,
# and hiding a quarter of the words cost validation accuracy (docs/training.md "Word
# dropout"); from scratch [UNK] is all an unseen word gets, and 0.25 stayed ahead there
PRETRAINED_WORD_DROPOUT = 0.1
SCRATCH_WORD_DROPOUT = 0.25


@dataclass(frozen=True)
class Vocabulary:
    """The sizes the network takes from the run's data: token ids, intents, BIO tags, known-name
    feature columns and n-gram rows (0: none of those)."""

    tokens: int
    pad_id: int
    unk_id: int
    intents: int
    tags: int = 0
    names: int = 0
    grams: int = 0


@dataclass(frozen=True)
class NetworkRecipe:
    """`conf/model/*.yaml`: the network's settings beside the encoder's (`encoder` group)."""

    head: HeadConfig
    embedding_dropout: float
    word_dropout: float | None
    pretrained: str | None
    freeze_embeddings: bool
    embedding_projection: int | None
    entity_loss_weight: float
    ngrams: NgramConfig | None
    gazetteer: bool

    def embeddings(self) -> PretrainedEmbeddings | None:
        """The pretrained vocabulary and table `pretrained` names (None: from scratch); a
        missing package or file is an error that says what to install or fix."""
        return load_pretrained(self.pretrained) if self.pretrained else None

    def net_config(
        self, encoder: EncoderConfig, vocabulary: Vocabulary, pretrained: bool, width: int
    ) -> NetConfig:
        """The network for `vocabulary`, its embeddings `width` wide (a pretrained table's own
        width, or the encoder's `embedding_dim`)."""
        return NetConfig(
            vocab_size=vocabulary.tokens,
            num_classes=vocabulary.intents,
            pad_id=vocabulary.pad_id,
            unk_id=vocabulary.unk_id,
            encoder=replace(encoder, embedding_dim=width),
            head=self.head,
            embedding_dropout=self.embedding_dropout,
            word_dropout=self.word_dropout_for(pretrained),
            freeze_embeddings=pretrained and self.freeze_embeddings,
            num_tags=vocabulary.tags,
            gazetteer_width=vocabulary.names,
            embedding_projection=self.embedding_projection or 0,
            ngram_features=vocabulary.grams,
        )

    def word_dropout_for(self, pretrained: bool) -> float:
        """The share of training tokens replaced by [UNK]: `word_dropout`, or when null the
        default for the kind of embeddings the network starts from."""
        if self.word_dropout is not None:
            return self.word_dropout
        return PRETRAINED_WORD_DROPOUT if pretrained else SCRATCH_WORD_DROPOUT
