"""What the ONNX graph writers share: a builder (unique names, weights, one call per node)
and torch's feature layout of a recurrence's outputs."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from intentbot.engine.files import TableSource


class GraphBuilder:
    """Nodes and weights collected in order; `op` returns its output's name(s)."""

    def __init__(self, outer: GraphBuilder | None = None) -> None:
        self.nodes: list[onnx.NodeProto] = []
        # a loop body's weights live in the outer graph (a body may read outer names)
        self.weights: list[onnx.TensorProto] = outer.weights if outer else []
        self.tables: dict[str, np.ndarray] = outer.tables if outer else {}
        self.sources: dict[str, TableSource] = outer.sources if outer else {}
        self._counter = outer._counter if outer else [0]

    def subgraph(self) -> GraphBuilder:
        """A builder for a loop body: its own nodes, names unique across both."""
        return GraphBuilder(self)

    def name(self, prefix: str) -> str:
        """A fresh tensor name; the counter is shared with subgraphs, as ONNX wants them unique."""
        self._counter[0] += 1
        return f"{prefix}_{self._counter[0]}"

    def constant(self, value: np.ndarray | torch.Tensor, prefix: str = "const") -> str:
        """A weight stored in the graph as an initializer; returns its name to use as an input."""
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        name = self.name(prefix)
        self.weights.append(numpy_helper.from_array(np.array(array, order="C"), name))  # keeps 0-d
        return name

    def table(self, source: TableSource, weights: dict[str, np.ndarray], prefix: str) -> str:
        """A large weight made from the network's `weights` by `source`, passed in at each run
        instead of stored in the graph: ONNX Runtime then reads the caller's array in place,
        where an initializer would be copied twice on the way in (the serialised model, the
        runtime's own tensor); a bundle stores the source, not the table."""
        name = self.name(prefix)
        self.tables[name] = source.build(weights.__getitem__)
        self.sources[name] = source
        return name

    def ints(self, *values: int) -> str:
        """A 1-d int64 constant: axes, shapes, split sizes."""
        return self.constant(np.array(values, np.int64))

    def op(self, kind: str, inputs: list[str], outputs: int = 1, **attributes) -> str | list[str]:
        """Append one `kind` node (an ONNX operator such as "MatMul"); returns its output name,
        or a list of `outputs` names, so calls nest like the arithmetic they write."""
        names = [self.name(kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, **attributes))
        return names[0] if outputs == 1 else names


def batch_features(graph: GraphBuilder, outputs: str) -> str:
    """(T, directions, B, H) -> (T, B, directions*H): torch's feature order, forward first."""
    time_major = graph.op("Transpose", [outputs], perm=[0, 2, 1, 3])
    return graph.op("Reshape", [time_major, graph.ints(0, 0, -1)])
