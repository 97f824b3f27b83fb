"""The first recurrent layer folded into a lookup table and run as an ONNX Scan.

Why: the first layer's input term W_ih · embedding(token) + b depends on the token alone, so it
is computed once per vocabulary entry when the graph is written. What is left per step is the
recurrent product W_hh · h: a third of the arithmetic of a BiGRU 192 over MiniLM's 384-wide
embeddings. ONNX's fused recurrences cannot take ready-made input terms, so the loop is a Scan
over a small cell graph; its per-step cost is what a batch amortises.

Both directions step together: the backward one reads each sequence reversed within its length
(ReverseSequence), and its outputs are turned back afterwards, so the result has the layout of
ONNX's own recurrences. Padded steps keep the previous state, so the final state is the state
at each sequence's true end.
"""

from __future__ import annotations

import numpy as np
import torch
from onnx import TensorProto, helper
from torch import nn

from intentbot.engine.builder import GraphBuilder, batch_features
from intentbot.engine.files import TableSource
from intentbot.engine.kinds import kind_of
from intentbot.model import IntentNet

# state-dict names of the weights the tables are made from (IntentNet's attribute paths)
EMBEDDING, PROJECTION, ENCODER_RNN = "embedding.weight", "projection.weight", "encoder.rnn"


def embedding_source(net: IntentNet) -> TableSource:
    """The table of what the first layer reads per token: the embeddings, projected when the
    network projects them (the projection is linear, so folding it in changes nothing)."""
    return TableSource(EMBEDDING, (PROJECTION,) if net.projection is not None else ())


def table_bytes(net: IntentNet) -> int:
    """Size of the folded tables: vocabulary x directions x gate width, float32."""
    rnn = net.encoder.rnn
    return net.config.vocab_size * _directions(rnn) * rnn.weight_ih_l0.size(0) * 4


def folded_first_layer(
    graph: GraphBuilder,
    net: IntentNet,
    weights: dict[str, np.ndarray],
    ids_tb: str,
    mask: str,
    matches_tb: str | None = None,
) -> tuple[str, str]:
    """(T, B) ids -> outputs (T, B, directions*H) and final states (directions, B, H); `weights`
    is `net`'s state dict as arrays; `matches_tb`, (T, B, G) known-name features, add their
    input term: the columns of W_ih after the embedding's, a (G, gates) matrix."""
    rnn = net.encoder.rnn
    directions, hidden = _directions(rnn), rnn.hidden_size
    readings = [ids_tb]
    if directions == 2:
        readings.append(_reversed(graph, ids_tb))
    tables = [graph.table(source, weights, "folded") for source in _input_sources(net)]
    terms = [graph.op("Gather", [table, ids]) for table, ids in zip(tables, readings, strict=True)]
    if matches_tb is not None:
        known = [matches_tb, _reversed(graph, matches_tb)][:directions]
        terms = [
            graph.op("Add", [term, graph.op("MatMul", [features, graph.constant(matrix)])])
            for term, features, matrix in zip(terms, known, _match_terms(net), strict=True)
        ]
    inputs = [graph.op("Unsqueeze", [term, graph.ints(1)]) for term in terms]
    gate_inputs = graph.op("Concat", inputs, axis=1) if directions == 2 else inputs[0]
    steps_mask = graph.op("Unsqueeze", [mask, graph.ints(1, 3)])  # (T, 1, B, 1)
    batch = graph.op("Shape", [ids_tb], start=1, end=2)
    state_shape = graph.op("Concat", [graph.ints(directions), batch, graph.ints(hidden)], axis=0)
    zeros = graph.op("ConstantOfShape", [state_shape])  # float32 zeros
    states = kind_of(rnn).states
    final_state, *_, outputs = graph.op(
        "Scan",
        [zeros] * states + [gate_inputs, steps_mask],
        outputs=states + 1,
        num_scan_inputs=2,
        body=_cell(graph.subgraph(), rnn),
    )
    if directions == 2:
        forward, backward = graph.op("Split", [outputs, graph.ints(1, 1)], outputs=2, axis=1)
        backward = graph.op("Squeeze", [backward, graph.ints(1)])
        backward = graph.op("Unsqueeze", [_reversed(graph, backward), graph.ints(1)])
        outputs = graph.op("Concat", [forward, backward], axis=1)
    return batch_features(graph, outputs), final_state


def _directions(rnn: nn.RNNBase) -> int:
    return 2 if rnn.bidirectional else 1


def _reversed(graph: GraphBuilder, time_major: str) -> str:
    """Each sequence (axis 1) reversed within its own length; padding stays where it is."""
    return graph.op("ReverseSequence", [time_major, "lengths"], batch_axis=1, time_axis=0)


@torch.no_grad()
def _input_sources(net: IntentNet) -> list[TableSource]:
    """Per direction, how its (V, gates) table is made: every token's input term, with the
    recurrent bias folded in where the cell only adds it (not in the gates whose recurrent term
    the cell scales, such as the GRU's candidate)."""
    rnn = net.encoder.rnn
    scaled = kind_of(rnn).scaled_gates * rnn.hidden_size
    sources = []
    for suffix in ["l0", "l0_reverse"][: _directions(rnn)]:
        bias = getattr(rnn, f"bias_ih_{suffix}") + getattr(rnn, f"bias_hh_{suffix}")
        if scaled:
            bias[-scaled:] = getattr(rnn, f"bias_ih_{suffix}")[-scaled:]
        through = (*embedding_source(net).times, f"{ENCODER_RNN}.weight_ih_{suffix}")
        sources.append(TableSource(EMBEDDING, through, bias.numpy()))
    return sources


@torch.no_grad()
def _match_terms(net: IntentNet) -> list[torch.Tensor]:
    """Per direction, the (G, gates) matrix that turns known-name features into input terms."""
    rnn, width = net.encoder.rnn, net.encoder.config.embedding_dim  # projected, with one
    suffixes = ["l0", "l0_reverse"][: _directions(rnn)]
    return [getattr(rnn, f"weight_ih_{s}")[:, width:].T for s in suffixes]


def _cell(body: GraphBuilder, rnn: nn.RNNBase) -> object:
    """One step for both directions: states (D, B, H), inputs (D, B, gates), mask (1, B, 1);
    the arithmetic of the step is the kind's own (`intentbot.engine.kinds`)."""
    kind = kind_of(rnn)
    suffixes = ["l0", "l0_reverse"][: _directions(rnn)]
    recurrent = body.constant(
        torch.stack([getattr(rnn, f"weight_hh_{s}").T for s in suffixes])  # (D, H, gates)
    )
    state, cell_state, gate_input, real = (body.name(n) for n in ("h", "c", "x", "mask"))
    product = body.op("MatMul", [state, recurrent])  # (D, B, gates)
    new_state, new_cell = kind.folded_step(body, rnn, state, cell_state, gate_input, product)
    kept = [body.op("Where", [real, new_state, state])]
    if new_cell is not None:
        kept.append(body.op("Where", [real, new_cell, cell_state]))
    emitted = body.op("Identity", [kept[0]])
    floats = [*[state, cell_state][: len(kept)], gate_input]

    def value(name: str, element: int = TensorProto.FLOAT) -> object:
        return helper.make_tensor_value_info(name, element, None)

    return helper.make_graph(
        body.nodes,
        body.name("cell"),
        [value(name) for name in floats] + [value(real, TensorProto.BOOL)],
        [value(name) for name in [*kept, emitted]],
    )
