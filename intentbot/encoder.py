"""RecurrentEncoder: a sequence of embeddings -> one vector per utterance (and, for entity
tagging, one per token).

`kind` switches nn.RNN / nn.GRU / nn.LSTM; padded positions never reach the recurrence
(packed sequences) nor the pooling (masks). The top layer may be narrower than the ones below
(`top_hidden_size`): in a two-layer encoder over wide embeddings it holds half the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from intentbot.engine.kinds import KINDS

POOLINGS = ("last", "mean", "max", "attention")


@dataclass(frozen=True)
class EncoderConfig:
    """The `encoder` config group; torch's own parameter names."""

    kind: str = "gru"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    pooling: str = "max"
    nonlinearity: str = "tanh"
    # the last layer's width when it differs from the layers below (num_layers > 1); null:
    # hidden_size. The top layer reads both directions of the one below, so narrowing it
    # saves the most arithmetic (BENCHMARKS.md, SNIPS)
    top_hidden_size: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"encoder.kind={self.kind!r} is not one of {sorted(KINDS)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"encoder.pooling={self.pooling!r} is not one of {POOLINGS}")
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"encoder.nonlinearity={self.nonlinearity!r}: use tanh or relu")
        if self.top_hidden_size is not None and self.num_layers < 2:
            raise ValueError(
                f"encoder.top_hidden_size={self.top_hidden_size} sets the last of several layers:"
                " set encoder.num_layers=2 or more, or encoder.hidden_size for a single layer"
            )

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Width of the utterance vector: the top layer's width, doubled when bidirectional."""
        return (self.top_hidden_size or self.hidden_size) * self.directions


class RecurrentEncoder(nn.Module):
    """The RNN/GRU/LSTM part of IntentNet: (B, T, E) embeddings -> (B, output_size), pooled
    over real tokens only (`encode` also gives the per-token outputs); intentbot/engine/graph.py
    rebuilds the same arithmetic in ONNX. `extra_inputs` features per token follow the
    embedding's E in the input (known names): as inputs of the first layer rather than added to
    the embedding, training needs no gradient for the frozen embeddings' side of it."""

    def __init__(self, config: EncoderConfig, extra_inputs: int = 0) -> None:
        super().__init__()
        self.config = config
        # with a top layer of its own width, `rnn` holds the layers below it and `top` the last
        # one; otherwise `rnn` holds them all (the weights' names of every earlier bundle)
        below = config.num_layers - (config.top_hidden_size is not None)
        self.rnn = self._recurrence(config.embedding_dim + extra_inputs, config.hidden_size, below)
        self.top = None
        if config.top_hidden_size is not None:
            width = config.hidden_size * config.directions
            self.top = self._recurrence(width, config.top_hidden_size, 1)
        self.attention = nn.Linear(config.output_size, 1) if config.pooling == "attention" else None

    def _recurrence(self, input_size: int, hidden_size: int, layers: int) -> nn.RNNBase:
        """`layers` stacked layers of the configured kind, `hidden_size` wide."""
        config = self.config
        extra = {"nonlinearity": config.nonlinearity} if config.kind == "rnn" else {}
        return KINDS[config.kind].module(
            input_size=input_size,
            hidden_size=hidden_size,
            num_layers=layers,
            bidirectional=config.bidirectional,
            # torch applies dropout between stacked layers only; one layer would just warn
            dropout=config.dropout if layers > 1 else 0.0,
            batch_first=True,
            **extra,
        )

    def recurrences(self) -> list[tuple[nn.RNNBase, int]]:
        """Every layer from the bottom up, as (module, layer index within it): what the ONNX
        graph writes one operator each for."""
        modules = [self.rnn] if self.top is None else [self.rnn, self.top]
        return [(module, layer) for module in modules for layer in range(module.num_layers)]

    def forward(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) embeddings and (B,) lengths -> (B, H*directions)."""
        return self.encode(embedded, lengths, per_token=False)[0]

    def encode(
        self, embedded: torch.Tensor, lengths: torch.Tensor, per_token: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The pooled vector (B, H*directions) and, with `per_token`, the top layer's output at
        every position (B, T, H*directions), zero on padding; without, nothing extra is done."""
        packed = pack_padded_sequence(
            embedded, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        outputs, final = self.rnn(packed)
        if self.top is not None:  # the dropout torch puts between its own stacked layers
            between = nn.functional.dropout(outputs.data, self.config.dropout, self.training)
            outputs, final = self.top(outputs._replace(data=between))
        tokens = None
        if per_token or self.config.pooling != "last":
            # (B, T', H*dirs), T' the longest length; per token the full T, as the ids have
            total = embedded.size(1) if per_token else None
            tokens, _ = pad_packed_sequence(outputs, batch_first=True, total_length=total)
        return self._pool(tokens, final, lengths), tokens if per_token else None

    def _pool(
        self, outputs: torch.Tensor | None, final: torch.Tensor | tuple, lengths: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, H*dirs) outputs (None for `last`) or the final states -> (B, H*dirs); padding
        never counts."""
        if self.config.pooling == "last":
            hidden = final[0] if isinstance(final, tuple) else final  # LSTM returns (h, c)
            # (layers*directions, B, H): the top layer's forward and backward final states
            return torch.cat(list(hidden[-self.config.directions :]), dim=-1)
        mask = (
            torch.arange(outputs.size(1), device=outputs.device)[None, :]
            < lengths.to(outputs.device)[:, None]
        )  # (B, T) True on real tokens
        if self.config.pooling == "mean":
            summed = (outputs * mask[..., None]).sum(dim=1)
            return summed / lengths.to(outputs.device)[:, None].clamp(min=1)
        if self.config.pooling == "max":
            return outputs.masked_fill(~mask[..., None], float("-inf")).max(dim=1).values
        scores = self.attention(outputs).squeeze(-1).masked_fill(~mask, float("-inf"))  # (B, T)
        weights = torch.softmax(scores, dim=1)
        return torch.einsum("bt,bth->bh", weights, outputs)
