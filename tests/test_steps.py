"""Step arithmetic: one process's steps at any number of processes, and the schedule's rates."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import get_linear_schedule_with_warmup

from xfer_scale import steps


@pytest.mark.parametrize("batches", [1, 7, 12, 13, 100])
@pytest.mark.parametrize("grad_accum", [1, 3, 8])
def test_n_processes_take_the_steps_of_one_at_the_same_effective_batch(batches: int, grad_accum: int):
    # B batches per process-size b over N processes = ceil(B / N) micro-batches each; one process
    # with batch N*b sees ceil(B / N) batches: the same steps either way
    for processes in (2, 4, 8):
        assert steps.per_epoch(batches, processes, grad_accum) == steps.per_epoch(-(-batches // processes), 1, grad_accum)


def test_total_steps_follow_max_steps_else_epochs():
    train = SimpleNamespace(max_steps=None, epochs=2.5, grad_accum=2, batch_size=4)
    assert steps.total(train, batches_per_epoch=13, processes=2) == 10  # ceil(2.5 * ceil(7 / 2))
    assert steps.total(SimpleNamespace(**{**vars(train), "max_steps": 3}), 13, 2) == 3
    assert steps.full_data_max_steps(train, full_size=100, processes=1) == 33  # 25 batches: ceil(2.5 * 13)
    assert steps.micro_batches(10, grad_accum=2, processes=4) == 80


def test_the_rate_is_transformers_linear_schedule_step_for_step():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=7, num_training_steps=76)
    for taken in range(80):
        assert steps.learning_rate(taken, 2e-5, 7, 76) == pytest.approx(scheduler.get_last_lr()[0], abs=1e-15)
        optimizer.step()
        scheduler.step()
    assert steps.learning_rate(0, 1.0, 0, 10) == 1.0 and steps.learning_rate(10, 1.0, 0, 10) == 0.0
