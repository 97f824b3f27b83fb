"""IntentNet: token ids -> embedding -> recurrent encoder -> MLP head -> intent logits, and
with `num_tags` a linear tagging head on the per-token outputs -> BIO tag logits; with
`gazetteer_width`, each token's known-name features (`intentbot.gazetteer`) are read by the first
recurrent layer beside its embedding; with `embedding_projection`, the embeddings are mapped to
that width first; with `ngram_features`, a linear n-gram path (`intentbot.ngrams`) adds its
logits to the head's.

Plain torch: training, evaluation and serving all run this one module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import NamedTuple

import torch
from torch import nn

from intentbot.encoder import EncoderConfig, RecurrentEncoder


@dataclass(frozen=True)
class HeadConfig:
    """The MLP classifier head (`model.head`)."""

    hidden_sizes: tuple[int, ...] = (256,)
    dropout: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))  # YAML gives lists


@dataclass(frozen=True)
class NetConfig:
    """Everything needed to rebuild an IntentNet; saved beside its weights."""

    vocab_size: int
    num_classes: int
    pad_id: int = 0
    unk_id: int = 1
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    # a bare network trains without dropout: training sets these from `model.*` (conf/model/),
    # the one place their defaults live
    embedding_dropout: float = 0.0
    word_dropout: float = 0.0
    freeze_embeddings: bool = False  # pretrained embeddings keep their values
    num_tags: int = 0  # BIO tags of the tagging head (`intentbot.tagging.TagSet`); 0: none
    gazetteer_width: int = 0  # known-name feature columns (`Gazetteer.width`); 0: none
    # > 0: a learned linear map of the embeddings to this width ahead of the first layer. The
    # graph folds it into the embedding table, so serving pays for the narrower first layer
    # only (wide pretrained embeddings: most of that layer's arithmetic is their input term)
    embedding_projection: int = 0
    # > 0: rows of the linear n-gram path's table (`NgramVocabulary`'s length); 0: no path
    ngram_features: int = 0

    def to_dict(self) -> dict:
        """Plain JSON-able values: for net.json and the checkpoint's hyperparameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> NetConfig:
        """Inverse of `to_dict`: rebuilds the nested configs (JSON turned tuples into lists)."""
        head = dict(record["head"], hidden_sizes=tuple(record["head"]["hidden_sizes"]))
        return cls(
            **{**record, "encoder": EncoderConfig(**record["encoder"]), "head": HeadConfig(**head)}
        )


class Grams(NamedTuple):
    """The n-grams of a batch as the network reads them (`intentbot.ngrams.NgramBag`)."""

    ids: torch.Tensor  # (B, N) table rows, 0 on padding
    weights: torch.Tensor  # (B, N) TF-IDF weights, 0 on padding


class Outputs(NamedTuple):
    """What a network (and every engine) computes for a batch."""

    intents: torch.Tensor  # (B, C) logits
    tags: torch.Tensor | None  # (B, T, K) tag logits, anything on padding; None without a head


class IntentNet(nn.Module):
    """The classifier training fits and every engine computes: (B, T) ids and (B,) lengths
    -> (B, C) logits, one column per `LabelSet` name (and tag logits, one column per `TagSet`
    name, from `outputs`); `config` alone rebuilds it."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(
            config.vocab_size, config.encoder.embedding_dim, padding_idx=config.pad_id
        )
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.projection = None
        encoder = config.encoder
        if config.embedding_projection:
            self.projection = nn.Linear(
                encoder.embedding_dim, config.embedding_projection, bias=False
            )
            encoder = replace(encoder, embedding_dim=config.embedding_projection)
        self.encoder = RecurrentEncoder(encoder, extra_inputs=config.gazetteer_width)
        layers: list[nn.Module] = []
        width = config.encoder.output_size
        for size in config.head.hidden_sizes:
            layers += [nn.Dropout(config.head.dropout), nn.Linear(width, size), nn.GELU()]
            width = size
        layers += [nn.Dropout(config.head.dropout), nn.Linear(width, config.num_classes)]
        self.head = nn.Sequential(*layers)
        if config.num_tags:
            self.tag_dropout = nn.Dropout(config.head.dropout)
            self.tagger = nn.Linear(config.encoder.output_size, config.num_tags)
        else:
            self.tagger = None
        self.ngrams = None
        if config.ngram_features:
            # a linear classifier of the n-grams, one logit per intent from each row; starts
            # at zero, so the n-grams' part grows from nothing as the encoder's does
            self.ngrams = nn.EmbeddingBag(
                config.ngram_features, config.num_classes, mode="sum", padding_idx=0
            )
            nn.init.zeros_(self.ngrams.weight)

    def forward(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        matches: torch.Tensor | None = None,
        grams: Grams | None = None,
    ) -> torch.Tensor:
        """(B, T) ids, (B,) lengths, with a gazetteer (B, T, G) known-name features (None: no
        token is part of a known name) and with an n-gram path the batch's `Grams` (None: no
        n-gram known) -> (B, C) logits; no tags computed."""
        return self._intents(self.encoder(self._embed(ids, matches), lengths), grams)

    def outputs(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor,
        matches: torch.Tensor | None = None,
        grams: Grams | None = None,
    ) -> Outputs:
        """`forward`'s inputs -> intent logits (B, C) and, with a tagging head, tag logits
        (B, T, K) from the same encoder pass."""
        if self.tagger is None:
            return Outputs(self(ids, lengths, matches, grams), None)
        # (B, F) pooled and (B, T, F) per token, from one pass
        pooled, tokens = self.encoder.encode(self._embed(ids, matches), lengths)
        return Outputs(self._intents(pooled, grams), self.tagger(self.tag_dropout(tokens)))

    def _intents(self, pooled: torch.Tensor, grams: Grams | None) -> torch.Tensor:
        """(B, F) pooled encoder outputs -> (B, C) logits: the head's, plus the n-gram path's."""
        logits = self.head(pooled)
        if self.ngrams is None or grams is None:
            return logits
        return logits + self.ngrams(grams.ids, per_sample_weights=grams.weights)

    def _embed(self, ids: torch.Tensor, matches: torch.Tensor | None) -> torch.Tensor:
        """(B, T) ids -> (B, T, E) embeddings (E: the projection's width, with one), with word
        dropout in training, and with a gazetteer its known-name features (B, T, G) after them:
        (B, T, E + G)."""
        if self.training and self.config.word_dropout > 0:
            # replacing words by [UNK] teaches the model to cope with words it never saw
            dropped = torch.rand(ids.shape, device=ids.device) < self.config.word_dropout
            dropped[:, 0] = False  # position 0 is [BOS]
            ids = ids.masked_fill(dropped & (ids != self.config.pad_id), self.config.unk_id)
        embedded = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        if self.projection is not None:
            embedded = self.projection(embedded)  # (B, T, embedding_projection)
        width = self.config.gazetteer_width
        if not width:
            return embedded
        if matches is None:  # no token is part of a known name
            return nn.functional.pad(embedded, (0, width))
        return torch.cat([embedded, matches.to(embedded.dtype)], dim=-1)
