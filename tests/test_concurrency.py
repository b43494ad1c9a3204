"""Concurrent sweep jobs share phase-1 models: one trains, the others wait and reuse it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

SETTINGS = ("target.languages=[en]", "target.eval_splits=[test]", "intermediate.train.checkpoint_every_steps=5")


def start(run_dir: Path, cache_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "xfer_scale", "run", "experiment=smoke", f"hydra.run.dir={run_dir}",
         f"cache.dir={cache_dir}", *SETTINGS, *overrides],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_two_jobs_with_one_phase1_key_train_it_once(tmp_path: Path):
    cache = tmp_path / "cache"
    jobs = [start(tmp_path / "xnli", cache, "target=xnli"), start(tmp_path / "udpos", cache, "target=udpos")]
    assert [job.wait(timeout=600) for job in jobs] == [0, 0]
    phase1 = pd.concat(pd.read_parquet(tmp_path / name / "phases.parquet") for name in ("xnli", "udpos"))
    phase1 = phase1[phase1.phase == "intermediate"]
    assert sorted(phase1.cache_hit.tolist()) == [False, True]


def test_lock_of_a_killed_job_is_taken_over_and_its_checkpoint_resumed(tmp_path: Path):
    """flock locks die with their process; the next job continues the killed job's phase 1."""
    cache = tmp_path / "cache"
    killed = start(tmp_path / "killed", cache)
    deadline = time.monotonic() + 300
    while not list(cache.glob("intermediate/*.checkpoint/loop.json")) and time.monotonic() < deadline:
        assert killed.poll() is None, "the job ended before its first phase-1 checkpoint"
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    follower = start(tmp_path / "follower", cache)
    assert follower.wait(timeout=600) == 0
    assert (tmp_path / "follower" / "results.parquet").exists()
    log = (tmp_path / "follower" / "cli.log").read_text()
    assert "intermediate: resuming from the checkpoint at step" in log
