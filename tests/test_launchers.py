"""Sweeps through Hydra's launchers: submitit (`submitit_local` here, the same plugin as on SLURM) and
joblib (several cells at once on one machine, each in its device slot)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from xfer_scale.cli import main
from xfer_scale.config import setup

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install -e '.[slurm]'")


def test_slurm_gpu_example_composes_onto_the_slurm_launcher():
    """The shipped example fits the plugin's typed schema (a misspelt key would fail here)."""
    setup()
    with initialize_config_module(config_module="xfer_scale.conf", version_base=None):
        cfg = compose("config", ["hydra/launcher=slurm_gpu", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("gpu", 1, 1)
    assert launcher.timeout_min == 1440 and launcher.mem_gb == 64 and launcher.cpus_per_task == 8


@pytest.mark.multiprocess
def test_submitit_local_sweep_writes_each_cells_results_and_reports_a_failed_cell(
        tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """The cells run in submitit's processes, each writing its own results; the launching process
    still lists the cell that failed and exits 2."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the two cells run at once: two busy torch thread pools on 2 cores crawl
    sweep = tmp_path / "sweep"
    code = main(["run", "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", "experiment=smoke",
                 f"cache.dir={cache_dir}", "intermediate=none", "target=xnli,udpos", "target.languages=[en,sw]",
                 "target.eval_splits=[test]", "target.train.max_steps=4", "target.train.eval_examples=30"])
    assert code == 2
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and "target=udpos has no language sw" in err
    (table,) = sweep.glob("*/results.parquet")
    assert "target=xnli" in table.parent.name.split(",")
    assert pd.read_parquet(table).set_index("language").n_examples.to_dict() == {"en": 90, "sw": 90}
    assert len(list(sweep.glob(".submitit/*/*_log.out"))) == 2  # two submitit jobs ran them


def test_joblib_gpu_example_composes_onto_the_joblib_launcher():
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[parallel]'")
    setup()
    with initialize_config_module(config_module="xfer_scale.conf", version_base=None):
        cfg = compose("config", ["hydra/launcher=joblib_gpu"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert cfg.hydra.launcher.n_jobs == 4


@pytest.mark.multiprocess
def test_joblib_sweep_runs_two_cells_at_once_and_trains_each_phase1_model_once(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    """4 cells, 2 at a time in joblib's worker processes, each holding its own device slot. The two
    cells of fraction 0.5 start together and the two of 1.0 about together: each pair shares its
    phase-1 model through the cache lock, so phase 1 trains twice in all."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[parallel]'")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # one GPU (here or not: the smoke cells run on CPU), so the workers take device slots on it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"  # a fresh cache: phase 1 must really train here
    assert main(["run", "-m", "experiment=smoke", "intermediate=mnli", "intermediate.fraction=0.5,1.0",
                 "target=xnli,pawsx", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
                 f"cache.dir={cache}", "target.languages=[en,de]", "target.eval_splits=[test]",
                 "intermediate.train.eval_examples=30", "target.train.max_steps=4",
                 "target.train.eval_examples=30"]) == 0
    assert len(list(sweep.glob("*/results.parquet"))) == 4
    phases = pd.concat(pd.read_parquet(p).assign(cell=p.parent.name) for p in sweep.glob("*/phases.parquet"))
    phase1 = phases[phases.phase == "intermediate"]
    fraction = phase1.cell.str.extract(r"intermediate\.fraction=([0-9.]+)")[0]
    assert (~phase1.cache_hit).groupby(fraction).sum().to_dict() == {"0.5": 1, "1.0": 1}  # trained twice in all
    assert len([p for p in (cache / "intermediate").glob("mnli-f*") if p.is_dir()]) == 2
    slots = {p.name for p in (sweep / ".device_slots").glob("*/slot-*.lock")}
    assert slots and slots <= {"slot-0.lock", "slot-1.lock"}  # n_jobs=2: two slots, both on GPU 0
