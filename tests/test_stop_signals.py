"""A signal during training: a checkpoint at the step, then the handler the signal was meant for."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from pathlib import Path

import pytest
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf

from tests.test_packing import smoke_features, tiny_path  # noqa: F401 (a fixture)
from xfer_scale import config, modeling, training
from xfer_scale.errors import Interrupted


def test_submitits_warning_saves_the_step_then_reaches_submitits_handler(tiny_path: str, tmp_path: Path):
    """SLURM sends SIGUSR2 `signal_delay_s` before the time limit; submitit's handler requeues the
    job. The loop saves its step first, so the requeued job resumes there."""
    reached = []
    previous = signal.signal(signal.SIGUSR2, lambda number, frame: reached.append(number))  # submitit's stand-in
    try:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        tokenizer = modeling.load_tokenizer(tiny_path)
        fmt, features = smoke_features("udpos", tokenizer, 64)
        cfg = OmegaConf.structured(config.TrainConfig(max_steps=100_000, batch_size=4, eval_every_steps=10**6))
        checkpoints = training.Checkpoints(tmp_path / "checkpoint", "identity")
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGUSR2))
        timer.start()
        with pytest.raises(Interrupted, match=r"SIGUSR2 at target step (\d+); checkpoint saved in") as stopped:
            training.train(phase="target", model=modeling.load(tiny_path, fmt, with_head=False), fmt=fmt,
                           features=features, dev=None, cfg=cfg, accelerator=Accelerator(cpu=True), seed=1,
                           pad_token_id=tokenizer.pad_token_id, checkpoints=checkpoints)
        timer.join()
    finally:
        assert signal.signal(signal.SIGUSR2, previous) is not None  # the loop put submitit's handler back
    step = int(re.search(r"step (\d+);", str(stopped.value))[1])
    assert reached == [signal.SIGUSR2]
    assert 0 < step < 100_000
    assert json.loads((tmp_path / "checkpoint" / "loop.json").read_text())["steps"] == step


def test_a_signal_in_the_last_step_saves_it_and_the_resumed_phase_ends_at_once(tiny_path: str, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    """A signal during the phase's last step used to be taken by the loop and forgotten: the run
    went on into phase 3 until SLURM's SIGKILL. It is a stop like any other, and the phase resumes
    finished."""
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 16)
    cfg = OmegaConf.structured(config.TrainConfig(max_steps=3, batch_size=4, eval_every_steps=10**6))
    checkpoints = training.Checkpoints(tmp_path / "checkpoint", "identity")

    def run() -> training.TrainStats:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        return training.train(phase="target", model=modeling.load(tiny_path, fmt, with_head=False), fmt=fmt,
                              features=features, dev=None, cfg=cfg, accelerator=Accelerator(cpu=True), seed=1,
                              pad_token_id=tokenizer.pad_token_id, checkpoints=checkpoints)

    taken, rate = [], training.steps.learning_rate

    def learning_rate(step: int, *args: float) -> float:  # asked once per optimiser step, before it
        taken.append(step)
        if step == 2:  # the third and last step: SIGTERM arrives while it runs
            os.kill(os.getpid(), signal.SIGTERM)
        return rate(step, *args)

    monkeypatch.setattr(training.steps, "learning_rate", learning_rate)
    with pytest.raises(Interrupted, match=r"SIGTERM at target step 3; checkpoint saved"):
        run()
    assert json.loads((tmp_path / "checkpoint" / "loop.json").read_text())["steps"] == 3
    assert run().steps == 3 and taken == [0, 1, 2]  # resumed: no step left to take
