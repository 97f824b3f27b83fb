"""Where the logits (and tag logits) are computed: ONNX Runtime (the default) or torch itself.

Both run the same weights with the same arithmetic. ONNX Runtime answers through two graphs of
one network (`intentbot.engine.files.Graphs`): the fused one for a few texts, where a single
call's latency counts, and the folded one for batches, where arithmetic counts. A batch is cut
into groups of similar length, each padded only to its own longest text, and the groups run on
one-thread sessions side by side: no thread waits on another inside an operator. This module
imports no torch, so neither does a serving process; `torch` (`intentbot.engine.reference`)
stays for checking the two against each other and for platforms without an onnxruntime wheel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from intentbot.engine.files import GraphFileError, Graphs, OnnxModel

if TYPE_CHECKING:
    from intentbot.bundle import Bundle

ENGINES = ("onnx", "torch")
FOLDED_FROM = 4  # texts per call from which the folded graph is faster (BENCHMARKS.md)
GROUP = 48  # texts per length group (48 beat 32 by 2-7 % on CLINC150 batches, 1 and 2 threads)


class Answer(NamedTuple):
    """What every engine computes for a batch."""

    intents: np.ndarray  # (B, C) logits
    tags: np.ndarray | None  # (B, T, K) tag logits, anything on padding; None without a head


Engine = Callable[[np.ndarray, np.ndarray], Answer]  # (ids, lengths) -> logits (and tags)
Session = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]  # -> logits (and tags)


def default_threads() -> int:
    """What torch would choose, without importing it: OMP_NUM_THREADS, else the usable cores."""
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))


class OnnxEngine:
    """ONNX Runtime sessions over `graphs`; `threads` groups run at once (default:
    `default_threads`); `fold=False` answers batches with the fused graph too, without the
    folded table's memory."""

    def __init__(self, graphs: Graphs, threads: int | None = None, fold: bool = True) -> None:
        self.threads = threads or default_threads()
        self._fused = onnx_session(graphs.fused)
        self._folded = onnx_session(graphs.folded) if fold and graphs.folded else None
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def __call__(self, ids: np.ndarray, lengths: np.ndarray) -> Answer:
        if self._folded is None or len(ids) < FOLDED_FROM:
            answers = self._fused(ids, lengths)
        else:
            answers = self._grouped(ids, lengths)
        return Answer(answers[0], answers[1] if len(answers) > 1 else None)

    def _grouped(self, ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        order = np.argsort(lengths, kind="stable")
        groups = [order[start : start + GROUP] for start in range(0, len(order), GROUP)]

        def run(group: np.ndarray) -> list[np.ndarray]:
            group_lengths = lengths[group]
            return self._folded(ids[group, : group_lengths.max()], group_lengths)

        answers = list(self._pool.map(run, groups) if self._pool else map(run, groups))
        logits = np.empty((len(ids), answers[0][0].shape[1]), np.float32)  # (N, C)
        for group, answer in zip(groups, answers, strict=True):
            logits[group] = answer[0]
        if len(answers[0]) == 1:
            return [logits]
        tags = np.zeros((*ids.shape, answers[0][1].shape[2]), np.float32)  # (N, T, K)
        for group, answer in zip(groups, answers, strict=True):
            tags[group, : answer[1].shape[1]] = answer[1]  # a group stops at its longest text
        return [logits, tags]


def onnx_session(model: OnnxModel) -> Session:
    """A one-thread session, as a function of (ids, lengths) -> its outputs. One thread: for one
    text a second thread costs more in hand-offs than it saves (0.49 vs 0.38 ms), and batches
    run their groups side by side instead."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    try:
        session = onnxruntime.InferenceSession(
            model.graph, options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # ONNX Runtime raises its own classes, not exported by name
        message = f"{model.origin}: not a graph ONNX Runtime can run ({error})"
        raise GraphFileError(message) from None

    names = [output.name for output in session.get_outputs()]  # logits, then tags if any

    def run(ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        return session.run(names, {"ids": ids, "lengths": lengths, **model.tables})

    return run


def make_engine(bundle: Bundle, kind: str = "onnx", threads: int | None = None) -> Engine:
    """The (ids, lengths) -> `Answer` function `Predictor` calls. `torch` runs the bundle's
    network itself (and imports torch), so it sees later weight changes where an ONNX engine
    keeps its snapshot."""
    if kind == "onnx":
        return OnnxEngine(bundle.graphs(), threads)
    if kind == "torch":
        net = bundle.network()  # first: where torch is missing, it says what to install
        from intentbot.engine.reference import torch_engine  # torch loads for this engine only

        return torch_engine(net, threads)
    raise ValueError(f"engine={kind!r} is not one of {ENGINES}")
