"""The torch engine: the bundle's network itself, the reference the ONNX graphs are checked
against (and the engine where onnxruntime has no wheel). Kept apart from `runtime` so that
serving with ONNX Runtime never imports torch."""

from __future__ import annotations

import numpy as np
import torch

from intentbot.engine.runtime import Engine, EngineOutput
from intentbot.model import Grams, IntentNet
from intentbot.ngrams import NgramBag
from intentbot.tagging import TagScores


def torch_engine(net: IntentNet, threads: int | None = None) -> Engine:
    """(ids, lengths, matches, grams) -> `EngineOutput` computed by `net` in eval mode; `threads`
    sets torch's."""
    if threads:
        torch.set_num_threads(threads)
    net.eval()

    @torch.inference_mode()
    def run(
        ids: np.ndarray,
        lengths: np.ndarray,
        matches: np.ndarray | None = None,
        grams: NgramBag | None = None,
    ) -> EngineOutput:
        known = None if matches is None else torch.from_numpy(matches)
        bag = None if grams is None else Grams(*map(torch.from_numpy, grams))
        intents, tags = net.outputs(torch.from_numpy(ids), torch.from_numpy(lengths), known, bag)
        return EngineOutput(intents.numpy(), None if tags is None else TagScores.of(tags.numpy()))

    return run
