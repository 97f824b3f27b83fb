"""Micro-batching: the texts of concurrent requests share one forward pass."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

GATHER_TURNS = 8  # event-loop turns a caller waits for others to join its pass, at most
# turns in a row that bring nobody, after which the pass runs: a request read in the same turn
# as another reaches the batcher a turn or two later (it parses and validates on the way), so
# one quiet turn is not proof that nobody is coming. At concurrency 32, one quiet turn left 84 %
# of the passes with a single text and 671-716 req/s; three gave passes of 32 and 787-813 req/s,
# at the same p50 at concurrency 1 (1.62-1.68 ms; BENCHMARKS.md).
QUIET_TURNS = 3
T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """Runs the items of concurrent callers through `run` together, each caller getting its own
    results in order.

    Passes run on the event loop itself, not in a worker thread: with a thread, the loop and the
    pass take the GIL from each other at every switch (Python hands it over only after 5 ms),
    and a worker did 496 requests/s at concurrency 32 against 764 on the loop (BENCHMARKS.md).
    A caller first lets the loop run a few turns, until `QUIET_TURNS` in a row bring no new
    caller, so that requests already read from their sockets reach the queue and share its
    pass."""

    def __init__(self, run: Callable[[list[T]], list[R]], max_batch_size: int) -> None:
        self.run = run
        self.max_batch_size = max_batch_size
        self._pending: deque[tuple[list[T], asyncio.Future[list[R]]]] = deque()
        self._arrivals = 0  # callers so far: a turn that leaves it unchanged brought nobody

    async def __call__(self, items: Sequence[T]) -> list[R]:
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._pending.append((list(items), future))
        self._arrivals += 1
        try:
            await self._gather_arrivals()
        except asyncio.CancelledError:
            future.cancel()  # the next pass drops its items
            raise
        while not future.done():
            self._flush()
        return future.result()

    async def _gather_arrivals(self) -> None:
        """Yield to the loop until `QUIET_TURNS` turns in a row bring no new caller, a full pass
        waits, or `GATHER_TURNS` turns have passed (arrivals that never stop must not starve
        anyone)."""
        quiet = 0
        for _ in range(GATHER_TURNS):
            if sum(len(items) for items, _ in self._pending) >= self.max_batch_size:
                return
            arrivals = self._arrivals
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._arrivals == arrivals else 0
            if quiet >= QUIET_TURNS:
                return

    def _flush(self) -> None:
        """Run the oldest pending requests, up to `max_batch_size` items, in one call; callers
        that went away (cancelled futures) are dropped, not computed."""
        batch, size = [], 0
        while self._pending and (
            not batch or size + len(self._pending[0][0]) <= self.max_batch_size
        ):
            items, future = self._pending.popleft()
            if not future.done():
                batch.append((items, future))
                size += len(items)
        if not batch:
            return
        try:
            results = self.run([item for items, _ in batch for item in items])
        except Exception as error:  # every caller in the batch sees the failure
            for _, future in batch:
                future.set_exception(error)
            return
        start = 0
        for items, future in batch:
            future.set_result(results[start : start + len(items)])
            start += len(items)
