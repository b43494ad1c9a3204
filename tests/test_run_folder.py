"""A run folder is one configuration's, and one process's at a time: faults injected."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import run_cli
from tests.test_resume import SETTINGS, _kill_at_first_target_checkpoint, command
from xfer_scale import run_folder

OTHER = ("seed=5", "target.train.learning_rate=0.002")  # run B: another seed and learning rate


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_another_configuration_never_adopts_an_interrupted_run(tmp_path: Path, capsys):
    """Run A is killed mid-training; run B in the same folder stops before changing anything."""
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    _kill_at_first_target_checkpoint(run_dir, cache)
    before = snapshot(run_dir)
    assert run_cli(*SETTINGS, *OTHER, run_dir=run_dir, cache_dir=cache) == 2
    said = capsys.readouterr().out
    assert f"{run_dir} holds a training checkpoint of another configuration" in said
    assert "nothing there was changed" in said
    assert snapshot(run_dir) == before  # .hydra/, run.json and the checkpoint alike; no failure.json

    assert run_cli(*SETTINGS, run_dir=run_dir, cache_dir=cache) == 0  # run A itself resumes
    assert "target: resuming from the checkpoint at step" in (run_dir / "cli.log").read_text()


def test_another_configuration_never_reuses_a_trained_target_model(smoke_run: Path, cache_dir: Path, tmp_path: Path):
    """A run killed after phase 2 (target_model/ written, no results yet) is not another's to reuse."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(smoke_run / "run.json", run_dir / "run.json")
    shutil.copytree(smoke_run / "target_model", run_dir / "target_model")
    before = snapshot(run_dir)
    assert run_cli("seed=5", run_dir=run_dir, cache_dir=cache_dir) == 2
    assert snapshot(run_dir) == before


def test_a_folder_where_another_configuration_left_no_work_is_taken_over(tmp_path: Path, cache_dir: Path):
    """A run that failed before training (here: a bad language) leaves nothing worth protecting."""
    run_dir = tmp_path / "run"
    assert run_cli("target.languages=[en]", "phases=[zero_shot]", "target.checkpoint=/nonexistent",
                   run_dir=run_dir, cache_dir=cache_dir) == 2
    assert (run_dir / "failure.json").exists()
    assert run_cli("target.languages=[en]", "target.eval_splits=[test]", run_dir=run_dir, cache_dir=cache_dir) == 0
    assert not (run_dir / "failure.json").exists()
    assert (run_dir / "results.parquet").exists()


def test_a_second_process_waits_for_the_folder_and_then_finds_the_run_complete(tmp_path: Path, cache_dir: Path):
    """The test holds the folder as a live run would; a run started into it waits, saying who
    holds it, and goes on once it is free. A run that finds its own run complete there skips."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    settings = ("intermediate=none", "target.languages=[en]", "target.eval_splits=[test]", "target.train.max_steps=4",
                "target.train.eval_examples=30")  # what is checked is the folder, not the training
    lock = FileLock(str(run_dir / run_folder.LOCK_FILE))
    lock.acquire()
    (run_dir / run_folder.HOLDER_FILE).write_text(json.dumps({"pid": 4242, "host": "node7", "since": "then"}))
    log = tmp_path / "waiting.log"
    with log.open("w") as out:
        waiting = subprocess.Popen(command(run_dir, cache_dir, *settings), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while "is in use by pid 4242 on node7 (since then); waiting" not in log.read_text():
        assert waiting.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert not (run_dir / "run.json").exists()  # it waits before writing anything
    lock.release()
    assert waiting.wait(timeout=300) == 0, log.read_text()[-2000:]
    assert (run_dir / "results.parquet").exists() and not (run_dir / run_folder.HOLDER_FILE).exists()

    again = subprocess.run(command(run_dir, cache_dir, *settings), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "is already complete" in again.stdout


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_in_training_saves_the_step_and_names_the_command_that_resumes(tmp_path: Path, cache_dir: Path,
                                                                               number: int):
    """SLURM's SIGTERM (time-out, preemption) and Ctrl-C: the loop finishes its step, saves a
    checkpoint there (none would be due for 10^6 steps or 30 minutes) and exits 130 with one line
    naming the command that resumes, in the default timestamped folder too."""
    settings = ("intermediate=none", "target.languages=[en]", "target.eval_splits=[test]", "target.train.max_steps=300",
                "target.train.eval_every_steps=1000", "target.train.checkpoint_every_steps=1000000")
    run = [sys.executable, "-m", "xfer_scale", "run", "experiment=smoke", f"cache.dir={cache_dir}", *settings]
    process = subprocess.Popen(run, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said = []
    for line in process.stdout:  # the target phase's loop starts right after this line
        said.append(line)
        if "target: training on" in line:
            break
    time.sleep(2)  # some of its 300 steps (about 25 a second here when the machine is idle)
    sent = time.monotonic()
    process.send_signal(number)
    said += process.stdout.readlines()
    assert process.wait(timeout=60) == 130 and time.monotonic() - sent < 60, "".join(said)[-3000:]
    assert "Traceback" not in "".join(said)
    errors = [line for line in said if "ERROR" in line]
    assert len(errors) == 1, errors
    stopped = re.search(rf"{signal.Signals(number).name} at target step (\d+); checkpoint saved in (\S+); "
                        r"resume with: (xfer-scale run .* hydra\.run\.dir=(\S+))$", errors[0].strip())
    assert stopped, errors[0]
    step, resume, run_dir = int(stopped[1]), stopped[3], Path(stopped[4])
    assert 0 < step < 300 and run_dir.parent == tmp_path / "outputs" / "runs"  # the default folder, named
    assert json.loads((run_dir / "checkpoints" / "target" / "loop.json").read_text())["steps"] == step

    resumed = subprocess.run(shlex.split(resume), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"target: resuming from the checkpoint at step {step} " in (run_dir / "cli.log").read_text()
    assert len(list((tmp_path / "outputs" / "runs").iterdir())) == 1  # no second folder started from step 0
