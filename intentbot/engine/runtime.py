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
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from intentbot.engine.files import GRAM_WEIGHTS, GRAMS, MATCHES, GraphFileError, Graphs, OnnxModel
from intentbot.ngrams import NgramBag
from intentbot.tagging import TagScores

FOLDED_FROM = 4  # texts per call from which the folded graph is faster (BENCHMARKS.md)
GROUP = 48  # texts per length group (48 beat 32 by 2-7 % on CLINC150 batches, 1 and 2 threads)
PROBE_TOKENS = 12  # the probe text `fused_session` times: about a typical utterance, [BOS] in
PROBE_WARMUP = 3  # runs of each session first, not timed: a new session's first runs allocate
PROBE_BLOCKS = 3  # timed blocks of each session, taken in turn; the medians of all runs decide
PROBE_BLOCK_RUNS = 5  # runs in a block
# a second thread is kept only when it takes under this share of one thread's time: between
# two sessions within noise the probe was a coin flip (two threads in 11 of 20 loads of one
# model, BENCHMARKS.md), and one thread leaves the other core to the rest of the process
PROBE_MARGIN = 0.9


class EngineOutput(NamedTuple):
    """What every engine computes for a batch."""

    intents: np.ndarray  # (B, C) logits
    tags: TagScores | None  # None without a tagging head

    @classmethod
    def of(cls, outputs: list[np.ndarray]) -> EngineOutput:
        """A graph's outputs in order: logits, then with a tagging head the tag logits, each
        token's most likely tag and its probability."""
        if len(outputs) == 1:
            return cls(outputs[0], None)
        logits, tags, choices, confidences = outputs
        return cls(logits, TagScores(tags, choices, confidences))


# (ids, lengths, known-name features or None, n-grams or None) -> logits (and tags)
Engine = Callable[[np.ndarray, np.ndarray, np.ndarray | None, NgramBag | None], EngineOutput]
Session = Callable[..., list[np.ndarray]]  # the same arguments -> logits (and tags)


def default_threads() -> int:
    """What torch would choose, without importing it: OMP_NUM_THREADS, else the usable cores."""
    return int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))


class OnnxEngine:
    """ONNX Runtime sessions over `graphs`; `threads` groups run at once (default:
    `default_threads`); `fold=False` answers batches with the fused graph too, without the
    folded table's memory."""

    def __init__(self, graphs: Graphs, threads: int | None = None, fold: bool = True) -> None:
        self.threads = threads or default_threads()
        self._fused = fused_session(graphs.fused, self.threads)
        self._folded = onnx_session(graphs.folded) if fold and graphs.folded else None
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def __call__(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        matches: np.ndarray | None = None,
        grams: NgramBag | None = None,
    ) -> EngineOutput:
        if self._folded is None or len(ids) < FOLDED_FROM:
            answers = self._fused(ids, lengths, matches, grams)
        else:
            answers = self._grouped(ids, lengths, matches, grams)
        return EngineOutput.of(answers)

    def _grouped(
        self,
        ids: np.ndarray,
        lengths: np.ndarray,
        matches: np.ndarray | None,
        grams: NgramBag | None,
    ) -> list[np.ndarray]:
        order = np.argsort(lengths, kind="stable")
        groups = [order[start : start + GROUP] for start in range(0, len(order), GROUP)]

        def run(group: np.ndarray) -> list[np.ndarray]:
            group_lengths = lengths[group]
            steps = group_lengths.max()
            known = None if matches is None else matches[group, :steps]
            group_grams = None if grams is None else grams.rows(group)
            return self._folded(ids[group, :steps], group_lengths, known, group_grams)

        answers = list(self._pool.map(run, groups) if self._pool else map(run, groups))
        merged = []
        for position, first in enumerate(answers[0]):
            # logits (N, C), the tag outputs (N, T, ...): a group's stop at its longest text
            rows = (len(ids),) if position == 0 else ids.shape
            output = np.zeros((*rows, *first.shape[len(rows) :]), first.dtype)
            for group, answer in zip(groups, answers, strict=True):
                output[group, : answer[position].shape[1]] = answer[position]
            merged.append(output)
        return merged


def fused_session(model: OnnxModel, threads: int) -> Session:
    """The session that answers one to three texts. A second thread inside the recurrent
    operator pays for a wide or deep encoder and costs for a small one, by amounts that depend
    on the processor (BENCHMARKS.md: the 256 / 256 SNIPS preset 1.83 -> 1.32 ms, a
    from-scratch default 0.25 -> 0.26 ms on one machine), so with `threads` > 1 both are timed
    at load on a probe text, and two threads are kept only when clearly faster."""
    single = onnx_session(model)
    return single if threads < 2 else faster(single, onnx_session(model, threads), PROBE_MARGIN)


def faster(first: Session, second: Session, margin: float = 1.0) -> Session:
    """`second` if it answers a probe text in under `margin` times `first`'s time, else
    `first`: the median of each one's runs over `PROBE_BLOCKS` blocks, taken in turn. Not run
    by run: a two-thread session's idle worker spins for a while after each run, and would
    slow the run that follows it."""
    ids = np.ones((1, PROBE_TOKENS), np.int64)  # id 1 is in every vocabulary
    lengths = np.array([PROBE_TOKENS], np.int64)
    for session in (first, second):
        for _ in range(PROBE_WARMUP):
            session(ids, lengths)
    seconds: tuple[list[float], list[float]] = ([], [])
    for _ in range(PROBE_BLOCKS):
        for session, times in zip((first, second), seconds, strict=True):
            for _ in range(PROBE_BLOCK_RUNS):
                started = time.perf_counter()
                session(ids, lengths)
                times.append(time.perf_counter() - started)
    first_median, second_median = (statistics.median(times) for times in seconds)
    return second if second_median < margin * first_median else first


def onnx_session(model: OnnxModel, threads: int = 1) -> Session:
    """A session with `threads` inside each operator, as a function of (ids, lengths, known-name
    features, n-grams) -> its outputs; features None, or absent, mean no token is part of a known
    name (zeros, for a graph that reads them), and n-grams None that no n-gram is known.
    Batches run one-thread sessions side by side instead (`OnnxEngine._grouped`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    try:
        session = onnxruntime.InferenceSession(
            model.graph, options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # ONNX Runtime raises its own classes, not exported by name
        message = f"{model.origin}: not a graph ONNX Runtime can run ({error})"
        raise GraphFileError(message) from None

    names = [output.name for output in session.get_outputs()]  # logits, then tags if any
    inputs = {item.name: item for item in session.get_inputs()}
    widths = [inputs[MATCHES].shape[2]] if MATCHES in inputs else []
    reads_grams = GRAMS in inputs

    def run(
        ids: np.ndarray,
        lengths: np.ndarray,
        matches: np.ndarray | None = None,
        grams: NgramBag | None = None,
    ) -> list[np.ndarray]:
        feed = {"ids": ids, "lengths": lengths, **model.tables}
        if widths:
            known = np.zeros((*ids.shape, widths[0]), np.float32) if matches is None else matches
            feed[MATCHES] = known
        if reads_grams:
            if grams is None:  # no n-gram known: one padding row of weight 0 each
                grams = NgramBag(
                    np.zeros((len(ids), 1), np.int64), np.zeros((len(ids), 1), np.float32)
                )
            feed[GRAMS], feed[GRAM_WEIGHTS] = grams
        return session.run(names, feed)

    return run
