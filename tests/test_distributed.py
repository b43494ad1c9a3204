"""Data-parallel runs under `accelerate launch`: one result table, batches sharded, equal evaluations.

On CPU the launcher needs `--multi_gpu` (torchrun; the run's `cpu: true` makes it gloo on CPU):
with `--cpu`, accelerate 1.x starts a single process whatever `--num_processes` says.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader

from xfer_scale.cli import main
from xfer_scale.formats.batching import length_grouped_batches

RUN = ["experiment=smoke", "target.languages=[en,de]", "intermediate.examples=96", "intermediate.train.epochs=1",
       "target.train.max_steps=6", "target.train.eval_every_steps=3", "target.train.eval_examples=30"]


def _free_port() -> int:
    """torchrun's default port may be taken by another test run on this machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_each_process_trains_on_its_own_share_of_the_batches():
    batches = length_grouped_batches([5 + i % 7 for i in range(100)], batch_size=8, seed=0)  # 13 batches, one short
    shards = [list(prepare_data_loader(DataLoader(range(100), batch_sampler=batches, collate_fn=list),
                                       num_processes=2, process_index=rank, put_on_device=False))
              for rank in (0, 1)]
    assert [len(shard) for shard in shards] == [7, 7]  # ceil(13 / 2): an odd batch count cycles one batch
    assert shards[0] == batches[0::2] and shards[1] == [*batches[1::2], batches[0]]
    assert sorted(i for batch in shards[0] + shards[1][:-1] for i in batch) == list(range(100))


def _lr_traces(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Each training phase's logged (step, learning rate), from the run's tensorboard scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "smoke"))
    events.Reload()
    return {phase: [(point.step, point.value) for point in events.Scalars(f"{phase}/lr")]
            for phase in ("intermediate", "target")}


def _closed_form(step: int, peak: float, warmup: int, total: int) -> float:
    """The linear schedule's rate at optimiser step `step` (from 1): warm-up from 0, then decay to 0."""
    taken = step - 1
    return peak * taken / warmup if taken < warmup else peak * (total - taken) / (total - warmup)


@pytest.mark.multiprocess
def test_two_processes_step_as_one_process_at_the_same_effective_batch(tmp_path: Path):
    """Two processes at batch 8 take the optimiser steps of one process at batch 16, on the same
    closed-form learning-rate schedule at every step (accelerate's prepared scheduler stepped once
    per process, reaching 0 halfway), and write one result table of every language's numbers. Being another experiment all the same (the numbers depend on
    how the batches are dealt), the 2-process run neither counts the 1-process run's folder as its
    own complete run nor reuses its phase 1."""
    cache = tmp_path / "cache"  # the 1-process run builds the tiny model in it before both processes look
    traced = [*RUN, "tracking=tensorboard", "log_every_steps=1", "intermediate.train.warmup_ratio=0.34",
              "target.train.warmup_ratio=0.34"]
    one = tmp_path / "one"
    assert main(["run", f"hydra.run.dir={one}", f"cache.dir={cache}", *traced]) == 0
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port()), "-m", "xfer_scale", "run", f"cache.dir={cache}", *traced,
              "intermediate.train.batch_size=8", "target.train.batch_size=8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}

    same_folder = subprocess.run([*launch, f"hydra.run.dir={one}"], env=env, capture_output=True, text=True, timeout=300)
    said = same_folder.stdout + same_folder.stderr
    assert same_folder.returncode != 0 and "of another configuration" in said, said[-3000:]
    assert "already complete" not in said  # (torchrun turns a rank's exit 2 into its own exit 1)

    # no hydra.run.dir: the default `outputs/runs/<now>_smoke`, which each process works out for itself
    done = subprocess.run(launch, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    (table,) = tmp_path.glob("outputs/runs/*/results.parquet")  # one table, written by one process
    two = table.parent
    frame = pd.read_parquet(table).set_index(["language", "split"])
    assert frame.n_examples.to_dict() == {("en", "dev"): 60, ("en", "test"): 90, ("de", "dev"): 60, ("de", "test"): 90}
    # each process predicted its share of every language, both scored all of it to the same numbers, and those are in the table
    scores = re.findall(r"zero_shot: xnli (\w+) (\w+) \(\d+ examples\): accuracy ([\d.]+)", done.stdout)
    assert len(scores) == 8 and len(set(scores)) == 4
    for language, split, value in set(scores):
        assert f"{frame.loc[(language, split), 'value']:.2f}" == value
    phases = {run: pd.read_parquet(run / "phases.parquet").set_index("phase") for run in (one, two)}
    assert not phases[two].loc["intermediate", "cache_hit"]
    entries = sorted(cache.glob("intermediate/*/meta.json"))
    assert sorted(json.loads(entry.read_text())["identity"]["processes"] for entry in entries) == [1, 2]

    # 96 examples: one epoch is 6 steps either way (6 batches of 16, or 12 of 8 dealt to 2 processes)
    for phase, total in (("intermediate", 6), ("target", 6)):
        assert phases[one].loc[phase, "steps"] == phases[two].loc[phase, "steps"] == total
        assert json.loads(phases[one].loc[phase, "dev_history"]) != []
        steps_evaluated = [[point["step"] for point in json.loads(phases[run].loc[phase, "dev_history"])]
                           for run in (one, two)]
        assert steps_evaluated[0] == steps_evaluated[1]
    traces = {run: _lr_traces(run) for run in (one, two)}
    for phase, total in (("intermediate", 6), ("target", 6)):
        expected = [(step, _closed_form(step, 1e-3, warmup=2, total=total)) for step in range(1, total + 1)]
        for run in (one, two):
            assert [step for step, _ in traces[run][phase]] == [step for step, _ in expected]
            assert [lr for _, lr in traces[run][phase]] == pytest.approx([lr for _, lr in expected], abs=1e-9)


@pytest.mark.multiprocess
def test_two_processes_train_a_phase1_whose_batches_use_one_head_of_several(tmp_path: Path):
    """A multitask (here the MLM mix) trains one head a batch: DDP must be told, or it stops."""
    cache = tmp_path / "cache"
    assert main(["prepare", f"cache.dir={cache}", *RUN]) == 0  # builds the tiny model before both processes look
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", str(_free_port()), "-m", "xfer_scale", "run", f"cache.dir={cache}",
              f"hydra.run.dir={tmp_path / 'run'}", *RUN, "intermediate.mlm.ratio=0.5"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-3000:]
    phases = pd.read_parquet(tmp_path / "run" / "phases.parquet").set_index("phase")
    assert phases.loc["intermediate", "steps"] > 0 and not phases.loc["intermediate", "cache_hit"]
