"""`xfer-scale status`: each cell's state from the files runs leave, totals, ETA, exit codes;
and the heartbeat the training loop writes for it."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf

from tests.test_packing import smoke_features, tiny_path  # noqa: F401 (a fixture)
from xfer_scale import config, modeling, training
from xfer_scale.cli import main
from xfer_scale.status.heartbeat import HEARTBEAT_FILE

#: a sweep as Hydra records it in multirun.yaml: two cells, `seed=1` and `seed=2`
MULTIRUN = """\
hydra:
  sweep: {dir: sweep, subdir: '${hydra.job.override_dirname}'}
  sweeper: {params: null}
  overrides: {hydra: [], task: ['seed=1,2', 'cache.dir=elsewhere']}
  job: {config: {override_dirname: {kv_sep: '=', item_sep: ',', exclude_keys: [cache.dir]}}}
"""


def status(sweep: Path, *args: str) -> tuple[int, dict]:
    out = sweep.parent / f"{sweep.name}-status.json"
    code = main(["status", str(sweep), "--json", str(out), *args])
    return code, json.loads(out.read_text())


def started_cell(sweep: Path, name: str, beat: dict | None = None) -> Path:
    """A cell folder as a run leaves it once it has claimed the folder, with `beat` as its heartbeat."""
    cell = sweep / name
    (cell / ".hydra").mkdir(parents=True)
    if beat is not None:
        beat = {"phase": "target", "step": 50, "total_steps": 100, "pid": os.getpid(), "host": platform.node(), **beat}
        (cell / HEARTBEAT_FILE).write_text(json.dumps(beat))
    return cell


def ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


@pytest.fixture(scope="module")
def failed_sweep(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A real sweep with a failed cell: udpos has no Swahili."""
    sweep = tmp_path_factory.mktemp("failed") / "sweep"
    assert main(["run", "-m", "experiment=smoke", "target=xnli,udpos", "target.languages=[sw]",
                 "target.eval_splits=[test]", "intermediate.train.max_steps=2", "target.train.max_steps=2",
                 f"hydra.sweep.dir={sweep}", f"cache.dir={cache_dir}"]) == 2
    return sweep


def test_a_failed_cell_is_named_with_its_reason_and_the_exit_code_says_so(failed_sweep: Path, capsys):
    code, counts = status(failed_sweep)
    assert code == 1
    assert (counts["done"], counts["failed"], counts["pending"]) == (1, 1, 0)  # both cells have folders
    (failed,) = [cell for cell in counts["cells"] if cell["state"] == "failed"]
    assert "target=udpos" in failed["name"] and "has no language sw" in failed["message"]
    out = capsys.readouterr().out
    assert f"failed   {failed['name']}  " in out and "has no language sw" in out
    assert "2 cells: 1 done, 0 running, 0 stalled, 1 failed, 0 damaged, 0 pending" in out


def test_cells_not_started_are_pending_by_the_names_hydra_gives_them(failed_sweep: Path, tmp_path: Path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(failed_sweep / "multirun.yaml", fresh)
    assert status(fresh)[1]["pending"] == 2
    shutil.copytree(next(failed_sweep.glob("*target=xnli")), fresh / next(failed_sweep.glob("*target=xnli")).name)
    code, counts = status(fresh)
    assert (code, counts["done"], counts["pending"]) == (0, 1, 1)
    assert [cell["name"] for cell in counts["cells"] if cell["state"] == "pending"] == [(
        "intermediate.train.max_steps=2,target.eval_splits=[test],target.languages=[sw],"
        "target.train.max_steps=2,target=udpos")]


def test_a_fresh_heartbeat_is_running_and_an_old_one_stalled(tmp_path: Path, capsys):
    sweep = tmp_path / "sweep"
    started_cell(sweep, "fresh", {"time": ago(5)})
    started_cell(sweep, "old", {"time": ago(2 * 3600), "phase": "intermediate", "step": 3000, "total_steps": 98000})
    started_cell(sweep, "slow", {"time": ago(120)})
    code, counts = status(sweep, "--stale-after", "60")
    assert code == 0  # stalled is not failed: a re-run resumes it
    states = {cell["name"]: cell["state"] for cell in counts["cells"]}
    assert states == {"fresh": "running", "old": "stalled", "slow": "stalled"}
    out = capsys.readouterr().out
    assert "running  fresh  target step 50/100, heartbeat " in out
    assert "stalled  old  intermediate step 3000/98000" in out
    assert re.search(r"no heartbeat for 72\d\d s", out)  # two hours, and the seconds this test took
    assert status(sweep)[1]["running"] == 2  # 120 s is young at the default 600 s


def test_a_run_whose_process_has_ended_is_stalled_at_once(tmp_path: Path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    started_cell(tmp_path / "sweep", "killed", {"time": ago(1), "pid": gone.pid})
    (cell,) = status(tmp_path / "sweep")[1]["cells"]
    assert cell["state"] == "stalled" and "has ended" in cell["message"]


def test_a_claimed_cell_without_heartbeat_is_running_from_its_claim(tmp_path: Path):
    started_cell(tmp_path / "sweep", "claimed")
    (cell,) = status(tmp_path / "sweep")[1]["cells"]
    assert (cell["state"], cell["phase"]) == ("running", "starting")


def test_eta_is_the_work_left_at_the_measured_phase_times(tmp_path: Path, capsys):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(MULTIRUN)
    done = started_cell(sweep, "seed=1")
    (done / "run.json").write_text(json.dumps({"run_id": "x", "finished": ago(0)}))
    pd.DataFrame({"value": [1.0]}).to_parquet(done / "results.parquet")
    pd.DataFrame({"phase": ["intermediate", "target", "zero_shot"], "wall_s": [10.0, 20.0, 5.0]}).to_parquet(
        done / "phases.parquet")
    started_cell(sweep, "seed=3", {"time": ago(1), "phase": "target", "step": 50, "total_steps": 100})
    code, counts = status(sweep)
    assert (code, counts["done"], counts["running"], counts["pending"]) == (0, 1, 1, 1)  # seed=2 has not started
    assert counts["eta_s"] == pytest.approx(35.0 + 0.5 * 20.0 + 5.0)  # all of seed=2, half of seed=3's target, its zero-shot
    assert "ETA: 50 s for 2 unfinished cell(s) with 1 worker(s)" in capsys.readouterr().out
    assert status(sweep, "--workers", "2")[1]["eta_s"] == pytest.approx(25.0)


def test_a_folder_without_runs_is_refused(tmp_path: Path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert main(["status", str(tmp_path / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("every, expected", [(60.0, [(0, 6), (6, 6)]),
                                             (0.0, [(0, 6), *((step, 6) for step in range(1, 7)), (6, 6)])])
def test_the_training_loop_beats_at_start_end_and_at_most_every_n_seconds(tiny_path: str, monkeypatch,  # noqa: F811
                                                                          every: float, expected: list):
    monkeypatch.setattr(training, "HEARTBEAT_EVERY_S", every)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 48)
    beats = []
    cfg = OmegaConf.structured(config.TrainConfig(learning_rate=1e-3, epochs=2, batch_size=16, eval_every_steps=1000))
    training.train(phase="test", model=modeling.load(tiny_path, fmt, with_head=False), fmt=fmt, features=features,
                   dev=None, cfg=cfg, accelerator=Accelerator(cpu=True), seed=3, pad_token_id=tokenizer.pad_token_id,
                   heartbeat=lambda step, total: beats.append((step, total)))
    assert beats == expected


def test_a_damaged_results_file_is_work_to_redo_not_a_finished_run(smoke_run: Path, cache_dir: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    """A 0-byte results.parquet (a full disk, a bad copy): status says damaged (exit 1), and the
    run, which used to say "already complete; nothing to do", evaluates phase 3 again."""
    from tests.conftest import run_cli

    run_dir = tmp_path / "run"
    shutil.copytree(smoke_run, run_dir)
    (run_dir / "results.parquet").write_bytes(b"")
    assert main(["status", str(run_dir)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^damaged\s+\.\s+results.parquet is not a whole parquet file", out, re.M), out
    assert "1 damaged" in out
    assert run_cli(run_dir=run_dir, cache_dir=cache_dir) == 0
    assert "reusing the model an earlier attempt of this run trained" in (run_dir / "cli.log").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "results.parquet")[["language", "split", "value"]],
                                  pd.read_parquet(smoke_run / "results.parquet")[["language", "split", "value"]])
    assert main(["status", str(run_dir)]) == 0
