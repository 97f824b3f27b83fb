"""Where the logits (and tag logits) are computed: ONNX Runtime (the default) or torch itself.

Both run the same weights with the same arithmetic. ONNX Runtime answers through two graphs of
one network (`intentbot.engine.graph`): the fused one for a few texts, where a single call's
latency counts, and the folded one for batches, where arithmetic counts. A batch is cut into
groups of similar length, each padded only to its own longest text, and the groups run on
one-thread sessions side by side: no thread waits on another inside an operator. `torch` stays
for checking the two against each other and for platforms without an onnxruntime wheel.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import torch

from intentbot.model import IntentNet, Outputs

if TYPE_CHECKING:
    from intentbot.engine.graph import OnnxModel

ENGINES = ("onnx", "torch")
Engine = Callable[[torch.Tensor, torch.Tensor], Outputs]  # (ids, lengths) -> logits (and tags)
Session = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]  # -> logits (and tags)
FOLDED_FROM = 4  # texts per call from which the folded graph is faster (BENCHMARKS.md)
GROUP = 48  # texts per length group (48 beat 32 by 2-7 % on CLINC150 batches, 1 and 2 threads)
FOLD_LIMIT_BYTES = 512 * 2**20  # MiniLM's 30,522 tokens x BiGRU 192 fold into 141 MB


class OnnxEngine:
    """ONNX Runtime sessions over a snapshot of `net`'s weights (later training is not seen);
    `threads` groups run at once (default: torch's thread count); `fold=False` answers batches
    with the fused graph too, without the folded table's memory."""

    def __init__(self, net: IntentNet, threads: int | None = None, fold: bool = True) -> None:
        from intentbot.engine.folded import table_bytes
        from intentbot.engine.graph import to_onnx

        self.threads = threads or torch.get_num_threads()
        self._fused = onnx_session(to_onnx(net, fold=False))
        fits = table_bytes(net) <= FOLD_LIMIT_BYTES
        self._folded = onnx_session(to_onnx(net, fold=True)) if fold and fits else None
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def __call__(self, ids: torch.Tensor, lengths: torch.Tensor) -> Outputs:
        if self._folded is None or len(ids) < FOLDED_FROM:
            answers = self._fused(ids.numpy(), lengths.numpy())
        else:
            answers = self._grouped(ids.numpy(), lengths.numpy())
        tags = torch.from_numpy(answers[1]) if len(answers) > 1 else None
        return Outputs(torch.from_numpy(answers[0]), tags)

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
    session = onnxruntime.InferenceSession(
        model.proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    names = [output.name for output in session.get_outputs()]  # logits, then tags if any

    def run(ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        return session.run(names, {"ids": ids, "lengths": lengths, **model.tables})

    return run


def make_engine(net: IntentNet, kind: str = "onnx") -> Engine:
    """The (ids, lengths) -> `Outputs` function `Predictor` calls; `torch` is `net` itself, so
    it sees later weight changes where an ONNX engine keeps its snapshot."""
    if kind == "onnx":
        return OnnxEngine(net)
    if kind == "torch":
        return net.outputs
    raise ValueError(f"engine={kind!r} is not one of {ENGINES}")
