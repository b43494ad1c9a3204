"""Sweeps through Hydra's submitit launcher: `submitit_local` here, the same plugin as on SLURM."""

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
def test_submitit_local_sweep_writes_each_cells_results(tmp_path: Path, cache_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the two cells run at once: two busy torch thread pools on 2 cores crawl
    sweep = tmp_path / "sweep"
    assert main(["run", "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", "experiment=smoke",
                 f"cache.dir={cache_dir}", "intermediate=none", "target.languages=[en,de]", "target.eval_splits=[test]",
                 "target.train.max_steps=4", "target.train.eval_examples=30", "seed=1,2"]) == 0
    tables = sorted(sweep.glob("*/results.parquet"))
    assert len(tables) == 2
    for table, seed in zip(tables, (1, 2)):
        frame = pd.read_parquet(table)
        assert f"seed={seed}" in table.parent.name.split(",") and frame.seed.unique().tolist() == [seed]
        assert frame.set_index("language").n_examples.to_dict() == {"en": 90, "de": 90}
    assert len(list(sweep.glob(".submitit/*/*_log.out"))) == 2  # two submitit jobs ran them


@pytest.mark.multiprocess
def test_submitit_local_sweep_reports_a_failed_cell(tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture):
    """The cells run in other processes; the launching process still lists the failure and exits 2."""
    sweep = tmp_path / "sweep"
    code = main(["run", "-m", "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", "experiment=smoke",
                 f"cache.dir={cache_dir}", "intermediate=none", "target=xnli,udpos", "target.languages=[sw]",
                 "target.eval_splits=[test]", "target.train.max_steps=4", "target.train.eval_examples=30"])
    assert code == 2
    err = capsys.readouterr().err
    assert "1 run(s) failed" in err and "target=udpos has no language sw" in err
    assert len(list(sweep.glob("*/results.parquet"))) == 1
