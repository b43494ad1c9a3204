"""Crash and resume: a run killed with SIGKILL and restarted ends with the same numbers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from safetensors.torch import load_file

from xfer_scale import modeling
from tests.conftest import run_cli

SETTINGS = ("target.languages=[en,de]", "intermediate.train.checkpoint_every_steps=10",
            "target.train.checkpoint_every_steps=10")


def command(run_dir: Path, cache_dir: Path, *overrides: str) -> list[str]:
    """The smoke run with SETTINGS (or `overrides`) as a command of its own process."""
    return [sys.executable, "-m", "xfer_scale", "run", "experiment=smoke", f"hydra.run.dir={run_dir}",
            f"cache.dir={cache_dir}", *(overrides or SETTINGS)]


def _kill_at_first_target_checkpoint(run_dir: Path, cache_dir: Path) -> None:
    process = subprocess.Popen(command(run_dir, cache_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loop_file = run_dir / "checkpoints" / "target" / "loop.json"
    deadline = time.monotonic() + 300
    while not loop_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before its first target checkpoint"


def test_killed_run_resumes_to_the_same_numbers(tmp_path: Path):
    uninterrupted = tmp_path / "whole"
    assert run_cli(*SETTINGS, run_dir=uninterrupted, cache_dir=tmp_path / "cache-a") == 0

    resumed = tmp_path / "resumed"
    _kill_at_first_target_checkpoint(resumed, tmp_path / "cache-b")
    assert not (resumed / "results.parquet").exists()
    killed_at = json.loads((resumed / "checkpoints" / "target" / "loop.json").read_text())["steps"]
    assert killed_at >= 10

    assert run_cli(*SETTINGS, run_dir=resumed, cache_dir=tmp_path / "cache-b") == 0
    phases = pd.read_parquet(resumed / "phases.parquet").set_index("phase")
    assert bool(phases.loc["intermediate", "cache_hit"])  # phase 1 had finished before the kill
    columns = ["language", "split", "metric", "value", "n_examples"]
    pd.testing.assert_frame_equal(pd.read_parquet(resumed / "results.parquet")[columns],
                                  pd.read_parquet(uninterrupted / "results.parquet")[columns])
    assert not (resumed / "checkpoints" / "target").exists()  # removed once the phase finished
    # the numbers above can agree by chance (a tiny model's zero-shot scores sit near chance):
    # the trained head must be the same tensor too
    heads = [load_file(run / "target_model" / modeling.HEAD_FILE) for run in (uninterrupted, resumed)]
    assert heads[0].keys() == heads[1].keys() and all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


def test_finished_run_is_skipped_and_other_results_are_protected(smoke_run: Path, cache_dir: Path):
    before = (smoke_run / "results.parquet").stat().st_mtime_ns
    assert run_cli(run_dir=smoke_run, cache_dir=cache_dir) == 0
    assert (smoke_run / "results.parquet").stat().st_mtime_ns == before

    assert run_cli("seed=7", run_dir=smoke_run, cache_dir=cache_dir) == 2  # another config, same folder
    assert (smoke_run / "results.parquet").stat().st_mtime_ns == before


def test_sweep_resume_skips_finished_cells_and_lists_failures(cache_dir: Path, tmp_path: Path, capsys):
    """A failing cell does not stop the sweep; re-running it skips what finished."""
    from xfer_scale.cli import main
    sweep = tmp_path / "sweep"
    args = ["run", "-m", "experiment=smoke", "target=xnli,udpos", "target.languages=[sw]",
            "target.eval_splits=[test]", f"hydra.sweep.dir={sweep}", f"cache.dir={cache_dir}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and "target=udpos has no language sw" in err
    done = sweep / "target.eval_splits=[test],target.languages=[sw],target=xnli" / "results.parquet"
    before = done.stat().st_mtime_ns
    assert main(args) == 2
    assert done.stat().st_mtime_ns == before  # skipped, not re-run
    assert "1 run(s) failed" in capsys.readouterr().err


def test_checkpoints_follow_the_clock_and_phases_count_the_bytes_written(tmp_path: Path, cache_dir: Path):
    """`checkpoint_every_minutes` saves by the clock (here: after every step but the last, which
    ends the phase instead); without it, and with no step interval, the phase writes its model only."""
    quick = ("intermediate=none", "target.languages=[en]", "target.eval_splits=[test]", "target.train.max_steps=4")
    by_clock, never = tmp_path / "clock", tmp_path / "never"
    assert run_cli(*quick, "target.train.checkpoint_every_minutes=1e-9", run_dir=by_clock, cache_dir=cache_dir) == 0
    assert run_cli(*quick, "target.train.checkpoint_every_minutes=null", run_dir=never, cache_dir=cache_dir) == 0
    written = {run: int(pd.read_parquet(run / "phases.parquet").set_index("phase").loc["target", "bytes_written"])
               for run in (by_clock, never)}
    model_bytes = sum(path.stat().st_size for path in (never / "target_model").rglob("*") if path.is_file())
    assert written[never] == model_bytes
    # three saves of the weights, AdamW's two moments and the best weights (each the model's size or more)
    assert written[by_clock] - model_bytes > 3 * 3 * sum(
        path.stat().st_size for path in (by_clock / "target_model").glob("*.safetensors"))
