"""`xfer-scale plan`: a sweep's cells, phase-1 models, work and cost, before and after it runs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import datasets
import pandas as pd
import pytest

from xfer_scale.cli import main
from xfer_scale.plan.compute import Shape, Throughput
from xfer_scale.plan.sizes import RECORDED_SIZES, RECORDED_TOKENS

SWEEP = ("experiment=smoke", "intermediate=mnli", "intermediate.fraction=0.25,0.5,1.0", "target=xnli,udpos", "seed=1,2")
#: the smoke sweep, cut to seconds a cell
SMALL = ("target.languages=[en]", "target.eval_splits=[test]", "intermediate.train.max_steps=2",
         "target.train.max_steps=2", "intermediate.train.eval_examples=16", "target.train.eval_examples=16")
ONE_CELL = ("experiment=smoke", "target=xnli", *SMALL)


def plan(path: Path, *args: str) -> dict:
    assert main(["plan", *args, "--json", str(path)]) == 0
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The plan of the smoke sweep before it ran (a fresh cache) and after."""
    root = tmp_path_factory.mktemp("planned")
    overrides = [*SWEEP, *SMALL, f"cache.dir={root / 'cache'}"]
    before = plan(root / "before.json", *overrides)
    assert main(["run", "-m", *overrides, f"hydra.sweep.dir={root / 'sweep'}"]) == 0
    after = plan(root / "after.json", *overrides)
    return SimpleNamespace(before=before, after=after, sweep=root / "sweep", cache=root / "cache")


def test_plan_counts_cells_and_phase1_models_and_which_are_cached(planned: SimpleNamespace):
    assert (planned.before["cells"], planned.before["phase1_models"], planned.before["phase1_cached"]) == (12, 6, 0)
    assert (planned.after["cells"], planned.after["phase1_models"], planned.after["phase1_cached"]) == (12, 6, 6)
    assert planned.after["phase1_to_train"] == 0 and planned.after["estimates"]["intermediate"]["runs"] == 0
    keys = {model["key"] for model in planned.after["phase1_list"]}
    assert keys == {entry.name for entry in (planned.cache / "intermediate").iterdir() if entry.is_dir()}
    assert {cell["phase1"] for cell in planned.before["cell_list"]} == keys


def test_plan_counts_examples_and_steps_as_the_runs_did(planned: SimpleNamespace):
    examples = {model["key"].split("-")[1]: model["examples"] for model in planned.before["phase1_list"]}
    assert examples == {"f0.25": 150, "f0.5": 300, "f1": 600}  # of the 600 bundled MNLI pairs
    assert {model["steps"] for model in planned.before["phase1_list"]} == {2}
    target = {cell["target"]: cell["estimates"]["target"]["examples"] for cell in planned.before["cell_list"]}
    zero_shot = {cell["target"]: cell["estimates"]["zero_shot"]["examples"] for cell in planned.before["cell_list"]}
    assert (target, zero_shot) == ({"xnli": 600, "udpos": 300}, {"xnli": 90, "udpos": 60})  # the bundled files' rows
    for cell in planned.sweep.glob("*/phases.parquet"):
        assert pd.read_parquet(cell).set_index("phase").loc["target", "steps"] == 2  # as the plan said
    tokens = planned.before["estimates"]["intermediate"]["train_tokens"]
    assert 6 * 2 * 16 * 8 < tokens < 6 * 2 * 16 * 64  # 2 steps of 16 pairs in each of 6 models, 8 to 64 tokens a pair


def test_status_says_the_planned_sweep_is_done(planned: SimpleNamespace, tmp_path: Path, capsys):
    assert main(["status", str(planned.sweep), "--json", str(tmp_path / "status.json")]) == 0
    assert "12 cells: 12 done, 0 running, 0 stalled, 0 failed, 0 damaged, 0 pending" in capsys.readouterr().out
    counts = json.loads((tmp_path / "status.json").read_text())
    assert {state: counts[state] for state in ("done", "running", "stalled", "failed", "pending")} == {
        "done": 12, "running": 0, "stalled": 0, "failed": 0, "pending": 0}
    beats = [json.loads(p.read_text()) for p in planned.sweep.glob("*/heartbeat.json")]
    assert len(beats) == 12 and all(b["phase"] == "zero_shot" and b["step"] == b["total_steps"] == 1 for b in beats)


def test_throughput_gives_gpu_hours_and_wall_time(cache_dir: Path, tmp_path: Path, capsys):
    args = [*ONE_CELL, "seed=1,2", f"cache.dir={cache_dir}"]
    record = plan(tmp_path / "plain.json", *args)
    assert record["estimates"]["gpu_hours"] is None
    assert "GPU-hours and wall time need a throughput" in capsys.readouterr().out

    record = plan(tmp_path / "tps.json", *args, "--tokens-per-second", "1000", "--workers", "2")
    estimates = record["estimates"]
    total = estimates["total"]
    assert sum(estimates["gpu_hours"].values()) == pytest.approx(total["equivalent_tokens"] / 1000 / 3600)
    assert estimates["wall_hours"] == pytest.approx(sum(estimates["gpu_hours"].values()) / 2)  # 2 equal cells
    # a training token is worth one equivalent token, a forward-only token about a third of one
    assert total["train_tokens"] < total["equivalent_tokens"] < total["train_tokens"] + total["forward_tokens"]

    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"mode": "train", "model": "tiny", "device": "cpu", "tokens_per_s": 2000.0,
                                 "flops_per_token": 1e6}))
    record = plan(tmp_path / "bench-plan.json", *args, "--bench", str(bench))
    assert sum(record["estimates"]["gpu_hours"].values()) == pytest.approx(record["estimates"]["total"]["flops"]
                                                                           / (2000.0 * 1e6) / 3600)
    assert "GPU-h" in capsys.readouterr().out


def test_a_benchmark_of_inference_is_refused(tmp_path: Path, capsys):
    bench = tmp_path / "bench_eval.json"
    bench.write_text(json.dumps({"mode": "eval", "sentences_per_s": 100.0}))
    assert main(["plan", *ONE_CELL, "--bench", str(bench)]) == 2
    assert "not a training benchmark" in capsys.readouterr().err


def test_without_local_data_recorded_sizes_are_used_and_nothing_is_downloaded(cache_dir: Path, tmp_path: Path,
                                                                              monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("plan must not download")

    monkeypatch.setattr(datasets, "load_dataset", no_download)
    record = plan(tmp_path / "hub.json", "model=tiny", "intermediate=mnli", "intermediate.fraction=0.01", "target=xquad",
                  "target.languages=[en,de]", "target.eval_splits=[test]", f"cache.dir={cache_dir}")
    (model,) = record["phase1_list"]
    assert model["examples"] == round(0.01 * RECORDED_SIZES["mnli", "train"])
    assert model["steps"] == -(-model["examples"] // 4) * 3  # batch 4, 3 epochs: the paper's MNLI recipe
    assert model["train_tokens"] == pytest.approx(3 * model["examples"] * RECORDED_TOKENS["classification"])
    (cell,) = record["cell_list"]
    assert cell["estimates"]["target"]["examples"] == RECORDED_SIZES["xquad", "train"]
    assert cell["estimates"]["zero_shot"]["examples"] == 2 * RECORDED_SIZES["xquad", "test"]
    assert record["estimates"]["total"]["unknown"] == []


def test_flops_count_weights_and_attention():
    shape = Shape("m", parameters=1000, layers=2, hidden=8, how="test")
    assert shape.training_flops(10, attended=4) == 10 * (6 * 1000 + 12 * 2 * 8 * 4)
    assert shape.forward_flops(10, attended=4) == 10 * (2 * 1000 + 4 * 2 * 8 * 4)
    assert Throughput(100.0, None, "user").seconds(flops=1e9, equivalent_tokens=500) == 5.0
    assert Throughput(100.0, 1e6, "bench").seconds(flops=1e9, equivalent_tokens=500) == 10.0


def test_a_bad_override_exits_2(capsys):
    assert main(["plan", "experiment=smoke", "target=nonexistent"]) == 2
    assert "nonexistent" in capsys.readouterr().err
