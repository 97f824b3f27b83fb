"""LengthBucketSampler: every utterance once per epoch, in batches of similar length."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.utils.data import BatchSampler, SequentialSampler

from intentbot.training.bucketing import LengthBucketSampler

LENGTHS = [(7 * n) % 23 + 1 for n in range(203)]  # 203 lengths from 1 to 23, in no order


def batches(pool: int, batch_size: int = 8, drop_last: bool = False) -> list[list[int]]:
    sampler = LengthBucketSampler(SequentialSampler(LENGTHS), batch_size, drop_last, LENGTHS, pool)
    return list(sampler)


@pytest.mark.parametrize("pool", [1, 4, 100])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_index_once_in_as_many_batches_as_plain_batching(pool, drop_last):
    drawn = batches(pool, drop_last=drop_last)
    plain = list(BatchSampler(SequentialSampler(LENGTHS), 8, drop_last))
    assert len(drawn) == len(plain)
    indices = [i for batch in drawn for i in batch]
    assert len(indices) == len(set(indices)) == sum(len(batch) for batch in plain)
    if drop_last:
        assert all(len(batch) == 8 for batch in drawn)
    assert len(LengthBucketSampler(SequentialSampler(LENGTHS), 8, drop_last, LENGTHS, pool)) == (
        len(plain)
    )


def test_a_pool_over_everything_gives_batches_of_neighbouring_lengths():
    """Sorted batches: one batch's longest is no longer than the next-longer batch's shortest."""
    drawn = sorted(batches(pool=100), key=lambda batch: sorted(LENGTHS[i] for i in batch))
    for shorter, longer in itertools.pairwise(drawn):
        assert max(LENGTHS[i] for i in shorter) <= min(LENGTHS[i] for i in longer)
    padded_steps = sum(max(LENGTHS[i] for i in batch) for batch in drawn)
    plain_steps = sum(
        max(LENGTHS[i] for i in b) for b in BatchSampler(SequentialSampler(LENGTHS), 8, False)
    )
    assert padded_steps < plain_steps * 0.75


def test_pool_one_keeps_the_samplers_batches_and_only_shuffles_their_order():
    torch.manual_seed(0)
    drawn = batches(pool=1)
    plain = [sorted(batch) for batch in BatchSampler(SequentialSampler(LENGTHS), 8, False)]
    assert sorted(sorted(batch) for batch in drawn) == sorted(plain)
    assert [sorted(batch) for batch in drawn] != plain  # the order of batches is shuffled


def test_the_global_seed_fixes_the_batches():
    torch.manual_seed(3)
    first = batches(pool=4)
    torch.manual_seed(3)
    assert batches(pool=4) == first


def test_a_pool_under_one_is_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="length_pool=0"):
        LengthBucketSampler(SequentialSampler(LENGTHS), 8, False, LENGTHS, 0)
