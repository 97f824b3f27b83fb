"""The recurrent cells intentbot knows, one entry each: the torch module that trains it and how
the ONNX graph computes it. A new cell is one `RecurrentKind` in `KINDS`.

Only torch is imported here, so the encoder reads the table without loading ONNX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from intentbot.engine.builder import GraphBuilder

# (body, rnn, state, cell_state, gate_input, product) -> (new state, new cell state or None);
# gate_input is the input term with the biases the cell only adds, product is state @ W_hh^T
FoldedStep = Callable[["GraphBuilder", nn.RNNBase, str, str, str, str], tuple[str, str | None]]


@dataclass(frozen=True)
class RecurrentKind:
    """One recurrent cell: torch's module, ONNX's fused operator, and one folded step."""

    module: type[nn.RNNBase]
    onnx_operator: str
    # torch's gate blocks within each weight, in the order ONNX stacks them
    gate_order: tuple[int, ...]
    folded_step: FoldedStep
    # attributes of the fused ONNX operator beyond hidden_size and direction
    onnx_attributes: Callable[[nn.RNNBase], dict] = lambda rnn: {}
    states: int = 1  # recurrent states carried from step to step (LSTM: hidden and cell)
    # trailing gate blocks whose recurrent term the cell scales (the GRU's candidate, by the
    # reset gate): their recurrent bias stays in the folded step instead of the table
    scaled_gates: int = 0


def _rnn_step(
    body: GraphBuilder, rnn: nn.RNNBase, state: str, cell: str, gate_input: str, product: str
) -> tuple[str, None]:
    return body.op(rnn.nonlinearity.capitalize(), [body.op("Add", [gate_input, product])]), None


def _gru_step(
    body: GraphBuilder, rnn: nn.RNNBase, state: str, cell: str, gate_input: str, product: str
) -> tuple[str, None]:
    """torch's gate order r, z, n; the candidate's recurrent bias is scaled by the reset gate,
    so it is added here rather than folded into the table."""
    hidden = rnn.hidden_size
    suffixes = ["l0", "l0_reverse"][: 2 if rnn.bidirectional else 1]
    candidate_bias = body.constant(
        torch.stack([getattr(rnn, f"bias_hh_{s}")[2 * hidden :] for s in suffixes])[:, None]
    )
    split = body.ints(2 * hidden, hidden)
    product_rz, product_n = body.op("Split", [product, split], outputs=2, axis=2)
    input_rz, input_n = body.op("Split", [gate_input, split], outputs=2, axis=2)
    rz = body.op("Sigmoid", [body.op("Add", [input_rz, product_rz])])
    reset, update = body.op("Split", [rz, body.ints(hidden, hidden)], outputs=2, axis=2)
    scaled = body.op("Mul", [reset, body.op("Add", [product_n, candidate_bias])])
    candidate = body.op("Tanh", [body.op("Add", [input_n, scaled])])
    step = body.op("Mul", [update, body.op("Sub", [state, candidate])])
    return body.op("Add", [candidate, step]), None  # (1 - z) * n + z * h


def _lstm_step(
    body: GraphBuilder, rnn: nn.RNNBase, state: str, cell: str, gate_input: str, product: str
) -> tuple[str, str]:
    """torch's gate order i, f, g, o."""
    hidden = rnn.hidden_size
    gates = body.op("Add", [gate_input, product])
    i, f, g, o = body.op("Split", [gates, body.ints(*[hidden] * 4)], outputs=4, axis=2)
    sigmoid_i, sigmoid_f, sigmoid_o = (body.op("Sigmoid", [x]) for x in (i, f, o))
    new_cell = body.op(
        "Add",
        [body.op("Mul", [sigmoid_f, cell]), body.op("Mul", [sigmoid_i, body.op("Tanh", [g])])],
    )
    return body.op("Mul", [sigmoid_o, body.op("Tanh", [new_cell])]), new_cell


def _rnn_attributes(rnn: nn.RNNBase) -> dict:
    return {"activations": [rnn.nonlinearity.capitalize()] * (2 if rnn.bidirectional else 1)}


KINDS: dict[str, RecurrentKind] = {
    "rnn": RecurrentKind(nn.RNN, "RNN", (0,), _rnn_step, _rnn_attributes),
    # torch applies the GRU's reset gate after W_hn h: ONNX's linear_before_reset
    "gru": RecurrentKind(
        nn.GRU, "GRU", (1, 0, 2), _gru_step, lambda rnn: {"linear_before_reset": 1}, scaled_gates=1
    ),
    "lstm": RecurrentKind(nn.LSTM, "LSTM", (0, 3, 1, 2), _lstm_step, states=2),
}


def kind_of(rnn: nn.RNNBase) -> RecurrentKind:
    """The table entry of a torch recurrent module."""
    return next(kind for kind in KINDS.values() if type(rnn) is kind.module)
