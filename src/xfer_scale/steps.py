"""How many optimiser steps a training phase takes, and its learning rate at each: the one
place this arithmetic lives (training, `plan`, phase 1's budget and the MLM mix read it).

Under N data-parallel processes an epoch's batches are dealt round-robin (accelerate's
sharding, even: ceil(batches / N) each, the last ones cycled), and every process steps once
per `grad_accum` of its own micro-batches, plus once on an epoch's trailing partial
accumulation. All per-step quantities (warm-up, `max_steps`, the evaluation interval,
early-stopping patience, checkpoints, heartbeats) count these optimiser steps, which are
the same on N processes as on one at the same effective batch: ceil(ceil(B / N) / a) =
ceil(B / (N a)) for B batches of the per-process size.
"""

from __future__ import annotations

import math
from typing import Any


def micro_batches_per_process(batches: int, processes: int) -> int:
    """A process's share of an epoch's `batches`."""
    return math.ceil(batches / processes)


def per_epoch(batches: int, processes: int, grad_accum: int) -> int:
    """Optimiser steps of one epoch of `batches` (each of the per-process batch size)."""
    return math.ceil(micro_batches_per_process(batches, processes) / grad_accum)


def total(train: Any, batches_per_epoch: int, processes: int) -> int:
    """The phase's optimiser steps: `train.max_steps`, else `train.epochs` epochs (at least one step)."""
    if train.max_steps:
        return int(train.max_steps)
    return max(1, math.ceil(train.epochs * per_epoch(batches_per_epoch, processes, train.grad_accum)))


def full_data_max_steps(train: Any, full_size: int, processes: int) -> int:
    """`full_data_steps`' budget: the steps of `train.epochs` over all `full_size` examples."""
    return total(train, math.ceil(full_size / train.batch_size), processes)


def micro_batches(steps: int, grad_accum: int, processes: int) -> int:
    """Micro-batches that `steps` optimiser steps consume, over all processes."""
    return steps * grad_accum * processes


def warmup(train: Any, total_steps: int) -> int:
    return int(train.warmup_ratio * total_steps)


def learning_rate(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    """The rate of the optimiser step that follows `step` steps taken: linear warm-up from 0,
    then linear decay to 0 at `total_steps` (transformers' get_linear_schedule_with_warmup).

    The loop sets it itself, once per optimiser step: accelerate's prepared scheduler steps
    once per process for every optimiser step, so on N processes the decay ran N times too
    fast (on 8 GPUs the rate reached 0 after an eighth of training).
    """
    if step < warmup_steps:
        return peak * step / max(1, warmup_steps)
    return peak * max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
