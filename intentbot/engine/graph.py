"""IntentNet in eval mode -> an ONNX graph with the same arithmetic, for ONNX Runtime.

Why: torch runs a recurrence step by step through its dispatcher, several times slower than
ONNX Runtime for one utterance on a CPU (BENCHMARKS.md). The graph is written operator by
operator from the weights rather than traced, so it covers every encoder the config allows and
needs no exporter. Padded positions are skipped, as torch's packed sequences skip them.

Two forms: every layer as ONNX's fused RNN / GRU / LSTM operator (fastest for one utterance), or
with the first layer folded into a lookup table (`fold=True`, `intentbot.engine.folded`: a third
of the arithmetic, fastest for batches).

Inputs: `ids` (B, T) int64 and `lengths` (B,) int64, as `IntentTokenizer.encode` gives them,
for a network with a gazetteer `matches` (B, T, G) float32, its known-name features, and for
one with an n-gram path `grams` (B, N) int64 and `gram_weights` (B, N) float32
(`intentbot.ngrams.NgramBag`).
Outputs: `logits` (B, C) float32 and, when the net has a tagging head, `tags` (B, T, K) float32
from the top layer's per-token outputs, then `tag_choices` (B, T) int64 and `tag_confidences`
(B, T) float32, each token's most likely tag and its probability (padding holds anything).
Graphs written before the last two still run: the engine computes them (`TagScores.of`).
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from intentbot.engine.builder import GraphBuilder, batch_features
from intentbot.engine.files import (
    GRAM_WEIGHTS,
    GRAMS,
    MATCHES,
    TAG_CHOICES,
    TAG_CONFIDENCES,
    TAGS,
    Graphs,
    OnnxModel,
    TableSource,
)
from intentbot.engine.folded import embedding_source, folded_first_layer, table_bytes
from intentbot.engine.kinds import kind_of
from intentbot.model import IntentNet

OPSET = 20  # the first with Gelu
FOLD_LIMIT_BYTES = 512 * 2**20  # MiniLM's 30,522 tokens x BiGRU 192 fold into 141 MB


def graphs_of(net: IntentNet) -> Graphs:
    """Both forms of `net` that ONNX Runtime runs; no folded form when its table would take
    more than FOLD_LIMIT_BYTES."""
    fits = table_bytes(net) <= FOLD_LIMIT_BYTES
    return Graphs(to_onnx(net, fold=False), to_onnx(net, fold=True) if fits else None)


def to_onnx(net: IntentNet, fold: bool = False) -> OnnxModel:
    """The eval-mode forward pass of `net` (dropout off) as a checked ONNX model; `fold` folds
    the first layer into a lookup table."""
    weights = {name: tensor.detach().cpu().numpy() for name, tensor in net.state_dict().items()}
    graph = GraphBuilder()
    ids_tb = graph.op("Transpose", ["ids"], perm=[1, 0])  # ONNX recurrences are time-major
    mask = _mask(graph, ids_tb)
    # (T, B, G) known-name features, time-major like the ids
    width = net.config.gazetteer_width
    matches_tb = graph.op("Transpose", [MATCHES], perm=[1, 0, 2]) if width else None
    final_state = ""  # set by whichever layer comes last
    if fold:
        sequence, final_state = folded_first_layer(graph, net, weights, ids_tb, mask, matches_tb)
    else:
        embedding = graph.table(embedding_source(net), weights, "embedding")
        sequence = graph.op("Gather", [embedding, ids_tb])
        if matches_tb is not None:  # after the embedding, as IntentNet._embed puts them
            sequence = graph.op("Concat", [sequence, matches_tb], axis=2)
    lengths32 = graph.op("Cast", ["lengths"], to=TensorProto.INT32)
    # the folded form has run the first layer already
    for rnn, layer in net.encoder.recurrences()[1 if fold else 0 :]:
        sequence, final_state = _recurrent_layer(graph, rnn, layer, sequence, lengths32)
    pooled = _pool(graph, net, sequence, final_state, mask)
    logits = _head(graph, net.head, pooled)
    if net.ngrams is not None:
        logits = graph.op("Add", [logits, _ngram_logits(graph, weights)])
    graph.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "classes"])]
    if net.tagger is not None:
        outputs += _tag_outputs(graph, _tags(graph, net, sequence))
    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "intentnet",
            [
                helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "time"]),
                helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]),
                *_matches_input(net),
                *_grams_inputs(net),
                *(
                    helper.make_tensor_value_info(name, TensorProto.FLOAT, list(array.shape))
                    for name, array in graph.tables.items()
                ),
            ],
            outputs,
            graph.weights,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    onnx.checker.check_model(model, full_check=True)
    return OnnxModel(model.SerializeToString(), graph.tables, graph.sources)


def _matches_input(net: IntentNet) -> list[onnx.ValueInfoProto]:
    """The known-name features input, for a network that reads them."""
    width = net.config.gazetteer_width
    if not width:
        return []
    return [helper.make_tensor_value_info(MATCHES, TensorProto.FLOAT, ["batch", "time", width])]


def _grams_inputs(net: IntentNet) -> list[onnx.ValueInfoProto]:
    """The n-gram rows and weights, for a network with an n-gram path."""
    if net.ngrams is None:
        return []
    return [
        helper.make_tensor_value_info(GRAMS, TensorProto.INT64, ["batch", "grams"]),
        helper.make_tensor_value_info(GRAM_WEIGHTS, TensorProto.FLOAT, ["batch", "grams"]),
    ]


def _ngram_logits(graph: GraphBuilder, weights: dict[str, np.ndarray]) -> str:
    """(B, C): the n-gram path, each n-gram's row of the table times its weight, summed."""
    table = graph.table(TableSource("ngrams.weight"), weights, "ngrams")  # (V, C)
    rows = graph.op("Gather", [table, GRAMS])  # (B, N, C)
    weighted = graph.op("Mul", [rows, graph.op("Unsqueeze", [GRAM_WEIGHTS, graph.ints(2)])])
    return graph.op("ReduceSum", [weighted, graph.ints(1)], keepdims=0)


def _mask(graph: GraphBuilder, ids_tb: str) -> str:
    """(T, B) bool, True on real tokens: position < length."""
    steps = graph.op("Squeeze", [graph.op("Shape", [ids_tb], start=0, end=1)])
    zero, one = graph.constant(np.array(0, np.int64)), graph.constant(np.array(1, np.int64))
    column = graph.op("Unsqueeze", [graph.op("Range", [zero, steps, one]), graph.ints(1)])
    return graph.op("Less", [column, "lengths"])


def _recurrent_layer(
    graph: GraphBuilder, rnn: nn.RNNBase, layer: int, sequence: str, lengths32: str
) -> tuple[str, str]:
    """Layer `layer` of torch module `rnn` (both directions) as one fused ONNX recurrence.

    Returns the outputs (T, B, directions*H) and the final states (directions, B, H)."""
    kind = kind_of(rnn)
    suffixes = [f"l{layer}", f"l{layer}_reverse"][: 2 if rnn.bidirectional else 1]

    def stacked(name: str) -> torch.Tensor:
        return torch.stack([gates(getattr(rnn, f"{name}_{s}"), kind.gate_order) for s in suffixes])

    # ONNX wants one bias row per direction: the input bias, then the recurrent one
    bias = torch.cat([stacked("bias_ih"), stacked("bias_hh")], dim=-1)
    attributes = {
        "hidden_size": rnn.hidden_size,
        "direction": "bidirectional" if rnn.bidirectional else "forward",
    }
    attributes.update(kind.onnx_attributes(rnn))
    weights = [stacked("weight_ih"), stacked("weight_hh"), bias]
    prefix = f"{kind.onnx_operator.lower()}{layer}"
    inputs = [sequence, *(graph.constant(w, prefix) for w in weights), lengths32]
    outputs, final_state, *_ = graph.op(
        kind.onnx_operator, inputs, outputs=1 + kind.states, **attributes
    )
    return batch_features(graph, outputs), final_state


def gates(weight: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
    """torch's gate blocks reordered as ONNX stacks them: slices of `hidden_size` rows."""
    blocks = weight.chunk(len(order), dim=0)
    return torch.cat([blocks[index] for index in order], dim=0)


def _pool(graph: GraphBuilder, net: IntentNet, outputs: str, final_state: str, mask: str) -> str:
    """(T, B, F) outputs -> (B, F), as `RecurrentEncoder` pools; padding never counts."""
    pooling = net.config.encoder.pooling
    if pooling == "last":
        # (directions, B, H) -> (B, directions*H): forward's state at the end, backward's at 0
        batch_major = graph.op("Transpose", [final_state], perm=[1, 0, 2])
        return graph.op("Reshape", [batch_major, graph.ints(0, -1)])
    mask3 = graph.op("Unsqueeze", [mask, graph.ints(2)])  # (T, B, 1)
    time_axis = graph.ints(0)
    if pooling == "max":
        floored = graph.op("Where", [mask3, outputs, _minus_infinity(graph)])
        return graph.op("ReduceMax", [floored, time_axis], keepdims=0)
    real = graph.op("Where", [mask3, outputs, graph.constant(np.array(0.0, np.float32))])
    if pooling == "mean":
        summed = graph.op("ReduceSum", [real, time_axis], keepdims=0)  # (B, F)
        lengths = graph.op("Unsqueeze", ["lengths", graph.ints(1)])
        return graph.op("Div", [summed, graph.op("Cast", [lengths], to=TensorProto.FLOAT)])
    attention = net.encoder.attention  # scores (T, B, 1), softmax over time, weighted sum
    scores = graph.op(
        "Add",
        [
            graph.op("MatMul", [outputs, graph.constant(attention.weight.T)]),
            graph.constant(attention.bias),
        ],
    )
    floored = graph.op("Where", [mask3, scores, _minus_infinity(graph)])
    weights = graph.op("Softmax", [floored], axis=0)
    return graph.op("ReduceSum", [graph.op("Mul", [weights, real]), time_axis], keepdims=0)


def _tags(graph: GraphBuilder, net: IntentNet, outputs: str) -> str:
    """(T, B, F) top-layer outputs -> (B, T, K) tag logits: the tagging head's Linear."""
    weight, bias = graph.constant(net.tagger.weight.T), graph.constant(net.tagger.bias)
    logits = graph.op("Add", [graph.op("MatMul", [outputs, weight]), bias])  # (T, B, K)
    # named as the output it is: an Identity to rename it would stay a node of its own
    graph.nodes.append(helper.make_node("Transpose", [logits], [TAGS], perm=[1, 0, 2]))
    return TAGS


def _tag_outputs(graph: GraphBuilder, tags: str) -> list[onnx.ValueInfoProto]:
    """The tag logits (B, T, K), each token's most likely tag and that tag's softmax
    probability (B, T): decoding starts from those (`intentbot.tagging.TagScores`)."""
    per_tag = graph.ints(2)
    probabilities = graph.op("Softmax", [tags], axis=2)
    graph.nodes += [
        helper.make_node("ArgMax", [tags], [TAG_CHOICES], axis=2, keepdims=0),
        helper.make_node("ReduceMax", [probabilities, per_tag], [TAG_CONFIDENCES], keepdims=0),
    ]
    per_token = ["batch", "time"]
    return [
        helper.make_tensor_value_info(TAGS, TensorProto.FLOAT, [*per_token, "tags"]),
        helper.make_tensor_value_info(TAG_CHOICES, TensorProto.INT64, per_token),
        helper.make_tensor_value_info(TAG_CONFIDENCES, TensorProto.FLOAT, per_token),
    ]


def _minus_infinity(graph: GraphBuilder) -> str:
    return graph.constant(np.array(-np.inf, np.float32))


def _head(graph: GraphBuilder, head: nn.Sequential, features: str) -> str:
    for module in head:
        if isinstance(module, nn.Linear):
            weight, bias = graph.constant(module.weight), graph.constant(module.bias)
            features = graph.op("Gemm", [features, weight, bias], transB=1)
        elif isinstance(module, nn.GELU):
            features = graph.op("Gelu", [features], approximate=module.approximate)
        elif not isinstance(module, nn.Dropout):  # dropout is the identity in eval mode
            raise TypeError(f"no ONNX translation for head module {type(module).__name__}")
    return features
