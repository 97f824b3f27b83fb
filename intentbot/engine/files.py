"""The engine's graphs as files of a bundle, so that a serving process answers without torch.

Why: importing torch costs a serving worker 180 MiB and its bento a torch wheel, for weights
that ONNX Runtime alone runs. The graphs are written from the network when a bundle is written
(`intentbot.engine.graph.graphs_of`); a bundle without them (written before they existed) is
turned into graphs at load, with torch.

Files: `<form>.onnx` (the serialised graph, small weights inside) and `<form>.safetensors` (the
large weights the graph takes as inputs at every run, `OnnxModel.tables`), for the fused form
and, when its table fits, the folded one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

FORMS = ("fused", "folded")


class GraphFileError(RuntimeError):
    """A graph file that cannot be read; the message names it."""


@dataclass(frozen=True)
class OnnxModel:
    """A serialised ONNX graph, and the large weights it takes as inputs at every run."""

    graph: bytes
    tables: dict[str, np.ndarray]
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
        if model is not None:
            (folder / f"{form}.onnx").write_bytes(model.graph)
            save_file(model.tables, folder / f"{form}.safetensors")


def read_graphs(folder: Path) -> Graphs | None:
    """The graphs written into `folder`; None when it holds none (an older bundle)."""
    if not (folder / "fused.onnx").exists():
        return None
    fused = _read_form(folder, "fused")
    folded = _read_form(folder, "folded") if (folder / "folded.onnx").exists() else None
    return Graphs(fused, folded)


def _read_form(folder: Path, form: str) -> OnnxModel:
    graph, tables = folder / f"{form}.onnx", folder / f"{form}.safetensors"
    try:
        serialised = graph.read_bytes()
    except OSError as error:
        raise GraphFileError(f"{graph}: unreadable engine graph ({error})") from None
    try:
        return OnnxModel(serialised, load_file(tables), str(graph))
    except (SafetensorError, OSError) as error:
        raise GraphFileError(f"{tables}: unreadable engine weights ({error})") from None
