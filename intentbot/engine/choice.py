"""Which engine computes a bundle's logits, by name: ONNX Runtime (`runtime`, the default) or
torch itself (`reference`). Apart from both, so that neither imports the other: `reference`
builds on `runtime`'s types, and torch loads only for the engine that needs it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from intentbot.engine.runtime import Engine, OnnxEngine

if TYPE_CHECKING:
    from intentbot.bundle import Bundle

ENGINES = ("onnx", "torch")


def make_engine(bundle: Bundle, kind: str = "onnx", threads: int | None = None) -> Engine:
    """The (ids, lengths) -> `EngineOutput` function `Predictor` calls. `torch` runs the bundle's
    network itself (and imports torch), so it sees later weight changes where an ONNX engine
    keeps its snapshot."""
    if kind == "onnx":
        return OnnxEngine(bundle.graphs(), threads)
    if kind == "torch":
        net = bundle.network()  # first: where torch is missing, it says what to install
        from intentbot.engine.reference import torch_engine  # torch loads for this engine only

        return torch_engine(net, threads)
    raise ValueError(f"engine={kind!r} is not one of {ENGINES}")
