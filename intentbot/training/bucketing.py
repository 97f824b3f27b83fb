"""Length-bucketed training batches: utterances of similar length share a batch.

The packed recurrence runs as many steps as the longest utterance in its batch, each step a
small matrix product whose cost is mostly fixed; random batches of short texts still carry one
long one. Sorting within a shuffled pool of batches keeps the randomness of which utterances
meet and removes most of those steps (README "How long training runs").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch
from torch.utils.data import BatchSampler


class LengthBucketSampler(BatchSampler):
    """Batches of `sampler`'s indices: its shuffled order is cut into pools of `pool` batches,
    each pool sorted by length and cut into batches, and the batches are shuffled. As many
    batches as `BatchSampler` gives; `pool=1` is plain shuffled batching.

    A `BatchSampler` over a `sampler`, so that Lightning can swap in its distributed sampler
    under DDP; the batch order comes from torch's global generator, which the run's seed fixes.
    """

    def __init__(
        self,
        sampler: Iterable[int],
        batch_size: int,
        drop_last: bool,
        lengths: Sequence[int],
        pool: int,
    ) -> None:
        super().__init__(sampler, batch_size, drop_last)
        if pool < 1:
            raise ValueError(f"length_pool={pool}: use 1 (plain shuffling) or more")
        self.lengths = torch.as_tensor(lengths)
        self.pool = pool

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.tensor(list(self.sampler), dtype=torch.long)
        batches: list[torch.Tensor] = []
        for chunk in order.split(self.batch_size * self.pool):
            # stable, so equal lengths keep their shuffled order
            by_length = chunk[torch.sort(self.lengths[chunk], stable=True).indices]
            batches.extend(by_length.split(self.batch_size))
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()  # only the last pool's last batch can be short
        for position in torch.randperm(len(batches)).tolist():
            yield batches[position].tolist()
