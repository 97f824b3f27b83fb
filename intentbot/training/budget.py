"""How long training runs: the batch size and the number of epochs, from the data's size.

Why: a fixed batch of 64 gives a few hundred utterances five optimizer steps an epoch, and
the epoch cap then ends the run after two hundred steps, before the model has learned
(xSID, 270 utterances: 81 % against 92 % with batches of 16; BENCHMARKS.md). So small data gets
smaller batches, enough for `MIN_STEPS_PER_EPOCH` steps an epoch, and the epochs that
`budget.steps` steps take, within the budget's bounds; large data keeps its batch and so its
speed.
"""

from __future__ import annotations

import math

LARGEST_BATCH = 64
SMALLEST_BATCH = 8
MIN_STEPS_PER_EPOCH = 16


def batch_size(configured: int | None, examples: int) -> int:
    """`batch_size` as configured, or when null the largest power of two from
    `SMALLEST_BATCH` to `LARGEST_BATCH` that still gives an epoch `MIN_STEPS_PER_EPOCH` steps."""
    if configured is not None:
        return configured
    fitting = 2 ** int(math.log2(max(examples / MIN_STEPS_PER_EPOCH, 1)))
    return min(max(fitting, SMALLEST_BATCH), LARGEST_BATCH)


def planned_epochs(
    examples: int,
    batch: int,
    steps: int,
    bounds: tuple[int, int],
    max_epochs: int | None = None,
    min_epochs: int | None = None,
) -> int:
    """`max_epochs` when set (trainer.max_epochs), else the whole epochs that `steps` optimizer
    steps take within `bounds` (budget.min_epochs, budget.max_epochs): a run costs about the same
    on 2,000 utterances as on 20,000. Never under `min_epochs` (trainer.min_epochs): the
    learning rate schedule spans these epochs."""
    asked = min_epochs or 0
    if max_epochs is not None:
        return max(max_epochs, asked)
    planned = math.ceil(steps / math.ceil(examples / batch))
    low, high = bounds
    return max(min(max(planned, low), high), asked)
