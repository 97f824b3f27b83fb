"""The engine's graphs as files of a bundle, so that a serving process answers without torch.

Why: importing torch costs a serving worker 180 MiB and its bento a torch wheel, for weights
that ONNX Runtime alone runs. The graphs are written from the network when a bundle is written
(`intentbot.engine.graph.graphs_of`); a bundle without them (written before they existed) has
them written at load, with torch (`intentbot.bundle_upgrades`).

Files: `<form>.onnx` (the serialised graph, small weights inside) and `<form>.safetensors` (the
large weights the graph takes as inputs at every run, `OnnxModel.tables`), for the fused form
and, when its table fits, the folded one. A table made from the network's own weights (the
embedding, the folded first layer) is not stored a second time: its `TableSource` is, and the
table is rebuilt from the bundle's weights file at load (0.1-0.3 s for MiniLM's vocabulary).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

FORMS = ("fused", "folded")
MATCHES = "matches"  # the graph input of a network that reads known-name features, (B, T, G)
# the graph inputs of a network with a linear n-gram path: n-gram rows and weights (B, N)
GRAMS, GRAM_WEIGHTS = "grams", "gram_weights"
# a tagging head's graph outputs: logits (B, T, K), then each token's most likely tag and its
# probability (B, T), which graphs written before them lack
TAGS, TAG_CHOICES, TAG_CONFIDENCES = "tags", "tag_choices", "tag_confidences"
SOURCES = "sources"  # the metadata key of a form's safetensors that holds its table sources


class GraphFileError(RuntimeError):
    """A graph file that cannot be read; the message names it."""


@dataclass(frozen=True)
class TableSource:
    """A table computed from the network's weights (names of its state dict): the rows of
    `rows`, times each of `times` transposed in turn, plus `plus` when given. Of each matrix in
    `times`, the columns that the table so far is wide: a first layer that also reads known-name
    features has their columns after the embedding's, and those are not folded into the table."""

    rows: str
    times: tuple[str, ...] = ()
    plus: np.ndarray | None = None

    def build(self, weight: Callable[[str], np.ndarray]) -> np.ndarray:
        """The table, from `weight(name)`; export and load both compute it here, so a graph
        read from files answers exactly as the one written from the network."""
        table = weight(self.rows)
        for name in self.times:
            table = table @ weight(name)[:, : table.shape[1]].T
        if self.plus is not None:
            table = table + self.plus
        return np.ascontiguousarray(table, dtype=np.float32)


@dataclass(frozen=True)
class OnnxModel:
    """A serialised ONNX graph, the large weights it takes as inputs at every run, and for
    those made from the network's weights, how (not stored twice)."""

    graph: bytes
    tables: dict[str, np.ndarray]
    sources: dict[str, TableSource] = field(default_factory=dict)
    origin: str = "the network"  # where the graph came from, for errors: a file or the network


@dataclass(frozen=True)
class Graphs:
    """One network as ONNX Runtime runs it: `fused` for a few texts, `folded` for batches (None
    where its table would be too large, `intentbot.engine.graph.FOLD_LIMIT_BYTES`)."""

    fused: OnnxModel
    folded: OnnxModel | None


def graph_files(folder: Path) -> list[Path]:
    """Every file `write_graphs` may write into `folder`, present or not."""
    return [folder / f"{form}{suffix}" for form in FORMS for suffix in (".onnx", ".safetensors")]


def write_graphs(graphs: Graphs, folder: Path) -> None:
    """Write both forms' files into `folder` (the folded ones only when there is a folded form)."""
    for form, model in zip(FORMS, (graphs.fused, graphs.folded), strict=True):
        if model is None:
            continue
        (folder / f"{form}.onnx").write_bytes(model.graph)
        stored = {name: table for name, table in model.tables.items() if name not in model.sources}
        sources = {}
        for name, source in model.sources.items():
            sources[name] = {"rows": source.rows, "times": list(source.times)}
            if source.plus is not None:
                stored[f"{name}.plus"] = source.plus
        save_file(stored, folder / f"{form}.safetensors", metadata={SOURCES: json.dumps(sources)})


def read_graphs(folder: Path, weights: Path) -> Graphs:
    """The graphs written into `folder`, their sourced tables rebuilt from `weights` (the
    network's safetensors)."""
    forms = [form for form in FORMS if form == "fused" or (folder / f"{form}.onnx").exists()]
    try:
        network = safe_open(weights, framework="numpy")
    except (SafetensorError, OSError) as error:
        raise GraphFileError(f"{weights}: unreadable weights ({error})") from None

    @functools.cache  # the embedding feeds three tables: read (and copy) it once
    def weight(name: str) -> np.ndarray:
        try:
            return network.get_tensor(name)
        except SafetensorError as error:
            raise GraphFileError(f"{weights}: no readable weight {name!r} ({error})") from None

    with network:
        read = [_read_form(folder, form, weight) for form in forms]
    return Graphs(read[0], read[1] if len(read) > 1 else None)


def _read_form(folder: Path, form: str, weight: Callable[[str], np.ndarray]) -> OnnxModel:
    graph, tables = folder / f"{form}.onnx", folder / f"{form}.safetensors"
    try:
        serialised = graph.read_bytes()
    except OSError as error:
        raise GraphFileError(f"{graph}: unreadable engine graph ({error})") from None
    try:
        with safe_open(tables, framework="numpy") as stored:
            arrays = {name: stored.get_tensor(name) for name in stored.keys()}  # noqa: SIM118
            described = json.loads((stored.metadata() or {}).get(SOURCES, "{}"))
    except (SafetensorError, OSError, ValueError) as error:
        raise GraphFileError(f"{tables}: unreadable engine weights ({error})") from None
    try:
        sources = {
            name: TableSource(
                record["rows"], tuple(record["times"]), arrays.pop(f"{name}.plus", None)
            )
            for name, record in described.items()
        }
        built = {name: source.build(weight) for name, source in sources.items()}
    except (KeyError, TypeError, ValueError) as error:
        message = f"{tables}: a table does not fit the network's weights ({error!r})"
        raise GraphFileError(message) from None
    return OnnxModel(serialised, arrays | built, sources, str(graph))
