"""`xfer-scale plan`: a sweep's cells, phase-1 models, work and cost, before and after it runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import datasets
import pandas as pd
import pytest

from tests.test_config import compose_cfg
from xfer_scale.cli import main
from xfer_scale.plan import compute, memory, microbatch, suite, timing
from xfer_scale.plan.compute import Shape, Throughput
from xfer_scale.plan.phases import Recipe
from xfer_scale.plan.sizes import RECORDED_TOKENS

SWEEP = ("experiment=smoke", "intermediate=mnli", "intermediate.fraction=0.25,0.5,1.0", "target=xnli,udpos", "seed=1")
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
    assert (planned.before["cells"], planned.before["phase1_models"], planned.before["phase1_cached"]) == (6, 3, 0)
    assert (planned.after["cells"], planned.after["phase1_models"], planned.after["phase1_cached"]) == (6, 3, 3)
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
    assert 3 * 2 * 16 * 8 < tokens < 3 * 2 * 16 * 64  # 2 steps of 16 pairs in each of 3 models, 8 to 64 tokens a pair


def test_status_says_the_planned_sweep_is_done(planned: SimpleNamespace, tmp_path: Path, capsys):
    assert main(["status", str(planned.sweep), "--json", str(tmp_path / "status.json")]) == 0
    assert "6 cells: 6 done, 0 running, 0 stalled, 0 failed, 0 damaged, 0 pending" in capsys.readouterr().out
    counts = json.loads((tmp_path / "status.json").read_text())
    assert {state: counts[state] for state in ("done", "running", "stalled", "failed", "pending")} == {
        "done": 6, "running": 0, "stalled": 0, "failed": 0, "pending": 0}
    beats = [json.loads(p.read_text()) for p in planned.sweep.glob("*/heartbeat.json")]
    assert len(beats) == 6 and all(b["phase"] == "zero_shot" and b["step"] == b["total_steps"] == 1 for b in beats)


def test_plan_counts_what_is_left_beside_the_whole(planned: SimpleNamespace, tmp_path: Path, capsys):
    """Cells finished in the sweep folder the overrides name are done, not work: a re-planned
    half-finished sweep says what is left."""
    sweep = tmp_path / "sweep"
    shutil.copytree(planned.sweep, sweep)
    overrides = [*SWEEP, *SMALL, f"cache.dir={planned.cache}", f"hydra.sweep.dir={sweep}"]
    done = plan(tmp_path / "done.json", *overrides)["estimates"]
    assert (done["left"]["cells"], done["left"]["finished"], done["left"]["wall_hours"]) == (0, 6, 0.0)
    assert done["target"]["runs"] == 6  # the whole, beside
    (next(sweep.glob("*/results.parquet"))).write_bytes(b"")  # a damaged cell is work left
    left = plan(tmp_path / "left.json", *overrides)["estimates"]["left"]
    assert (left["cells"], left["finished"]) == (1, 5) and left["wall_hours"] > 0
    assert f"left to run: 1 of 6 cells (5 finished in {sweep})" in capsys.readouterr().out


def test_without_a_throughput_the_hours_are_a_flagged_flop_lower_bound(cache_dir: Path, tmp_path: Path, capsys):
    record = plan(tmp_path / "plain.json", *ONE_CELL, f"cache.dir={cache_dir}")
    estimates = record["estimates"]
    assert (estimates["lower_bound"], estimates["time_model"]) == (True, "flop_bound")
    flop_rate = compute.ASSUMED_MFU * compute.ASSUMED_PEAK_TFLOPS * 1e12
    assert estimates["wall_hours"] == pytest.approx(estimates["total"]["flops"] / flop_rate / 3600)
    assert sum(estimates["gpu_hours"].values()) == pytest.approx(estimates["wall_hours"])
    out = capsys.readouterr().out
    assert "FLOP-only LOWER BOUND" in out and "[LOWER BOUND]" in out and ">= GPU-h" in out


def test_tokens_per_second_give_flop_proportional_gpu_hours_and_wall_time(cache_dir: Path, tmp_path: Path):
    args = [*ONE_CELL, "seed=1,2", f"cache.dir={cache_dir}"]
    record = plan(tmp_path / "tps.json", *args, "--tokens-per-second", "1000", "--workers", "2")
    estimates = record["estimates"]
    assert (estimates["lower_bound"], estimates["time_model"]) == (False, "tokens_per_second")
    total = estimates["total"]
    assert sum(estimates["gpu_hours"].values()) == pytest.approx(total["equivalent_tokens"] / 1000 / 3600)
    assert estimates["wall_hours"] == pytest.approx(sum(estimates["gpu_hours"].values()) / 2)  # 2 equal cells
    # a training token is worth one equivalent token, a forward-only token about a third of one
    assert total["train_tokens"] < total["equivalent_tokens"] < total["train_tokens"] + total["forward_tokens"]
    # a cell on 2 GPUs shares its work between them: GPU-hours are its FLOPs' time, the wall time half of it
    two = plan(tmp_path / "tps2.json", *args, "--tokens-per-second", "1000", "--workers", "2", "--processes", "2")
    gpu_hours = sum(two["estimates"]["gpu_hours"].values())
    assert gpu_hours == pytest.approx(two["estimates"]["total"]["equivalent_tokens"] / 1000 / 3600)
    assert two["estimates"]["wall_hours"] == pytest.approx(gpu_hours / 2 / 2)


@pytest.mark.parametrize("rate", ["-5", "0", "nan"])
def test_a_throughput_that_is_not_positive_exits_2(rate: str, capsys):
    assert main(["plan", *ONE_CELL, "--tokens-per-second", rate]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--tokens-per-second {rate}" in err and "> 0" in err


#: a suite of the tiny model whose micro-batches lie on 2 ms launch + 10 us a token
LAUNCH_S, PER_TOKEN_S = 0.002, 1e-5


def suite_record(**changes: object) -> dict:
    runs = [{"method": "ours", "batch_size": batch, "grad_accum": 1, "packing": False, "compiled": False,
             "concurrent": 1, "tokens_per_s": 1.0, "mfu": None, "micro_batch_s": LAUNCH_S + PER_TOKEN_S * 25 * batch,
             "optimizer_step_s": 0.001, "tokens_per_micro_batch": 25.0 * batch, "peak_memory_gb": None,
             "warmup_s": 0.25}
            for batch in (4, 8, 16)]
    runs += [{**runs[0], "method": "hf-default", "micro_batch_s": 9.0},  # other methods never time the plan
             {**runs[0], "concurrent": 2, "micro_batch_s": 9.0}]  # nor cells sharing a device, unless asked
    record = {"suite": 1, "model": "tiny", "device": "cpu", "peak_tflops": None,
              "parameters": {"non_embedding": 71299, "layers": 2, "hidden": 64}, "max_length": 64, "mean_length": 25.0,
              "runs": runs, "checkpoint_save_s": 0.5, "checkpoint_bytes": 1,
              "eval": [{"method": "ours", "sentences_per_s": 4000.0, "tokens_per_s": 1e5, "mfu": None}],
              "startup_s": 3.0, "prep_examples_per_s": 1000.0}
    return {**record, **changes}


def write_suite(path: Path, **changes: object) -> Path:
    path.write_text(json.dumps(suite_record(**changes)))
    return path


def test_a_suite_predicts_each_part_of_a_cell(cache_dir: Path, tmp_path: Path, capsys):
    bench = write_suite(tmp_path / "suite.json")
    record = plan(tmp_path / "plan.json", *ONE_CELL, "target.train.checkpoint_every_steps=1", f"cache.dir={cache_dir}",
                  "--bench", str(bench))
    estimates = record["estimates"]
    assert (estimates["lower_bound"], estimates["time_model"]) == (False, "bench")
    (cell,) = record["cell_list"]
    phases = {"intermediate": record["phase1_list"][0], **cell["estimates"]}
    for phase, work in phases.items():
        spent = estimates["seconds"][phase]
        # per micro-batch: the launch, and each of its tokens
        assert spent["micro_batches"] == pytest.approx(LAUNCH_S * work["micro_batches"]
                                                       + PER_TOKEN_S * work["train_tokens"])
        assert spent["optimizer_steps"] == pytest.approx(0.001 * work["steps"])
        assert spent["evaluation"] == pytest.approx(work["forward_tokens"] / 1e5)
        assert spent["preparation"] == pytest.approx(work["prepared"] / 1000.0)
        assert spent["warmup"] == (0.25 if phase != "zero_shot" else 0)  # set-up and first steps, once a training phase
        assert spent["compute"] == 0
    assert phases["intermediate"]["micro_batches"] == 2 and phases["target"]["micro_batches"] == 2  # max_steps 2
    # the model each training phase saves (checkpoint_bytes 1: a whole save), and target's step-1 checkpoint
    assert (estimates["seconds"]["intermediate"]["saves"], estimates["seconds"]["target"]["saves"]) == (0.5, 1.0)
    assert estimates["seconds"]["zero_shot"]["saves"] == 0
    wall_s = 3.0 + sum(spent["total"] for spent in estimates["seconds"].values())
    assert cell["wall_s"] == pytest.approx(wall_s) and estimates["wall_hours"] == pytest.approx(wall_s / 3600)
    assert sum(estimates["gpu_hours"].values()) == pytest.approx(wall_s / 3600)
    assert estimates["gpu_hours"]["startup"] == pytest.approx(3.0 / 3600)
    (used,) = estimates["runs_used"]["target"]
    assert "ours batch 4 x 1, 8 x 1, 16 x 1 (packing off, not compiled)" in used and "within 0%" in used
    out = capsys.readouterr().out
    assert "2 ms launch + 10 us a token" in out and "LOWER BOUND" not in out


def test_cells_sharing_a_gpu_take_their_own_runs(cache_dir: Path, tmp_path: Path):
    record = suite_record()
    record["runs"] += [{**run, "concurrent": 2, "micro_batch_s": 2 * run["micro_batch_s"]}
                       for run in record["runs"][:3]]
    record["runs"] = [run for run in record["runs"] if run["micro_batch_s"] != 9.0]
    bench = tmp_path / "suite.json"
    bench.write_text(json.dumps(record))
    alone = plan(tmp_path / "one.json", *ONE_CELL, f"cache.dir={cache_dir}", "--bench", str(bench))["estimates"]
    shared = plan(tmp_path / "two.json", *ONE_CELL, f"cache.dir={cache_dir}", "--bench", str(bench),
                  "--cells-per-gpu", "2")["estimates"]
    for phase in ("intermediate", "target"):
        assert shared["seconds"][phase]["micro_batches"] == pytest.approx(2 * alone["seconds"][phase]["micro_batches"])
    assert shared["gpu_hours"]["target"] == pytest.approx(shared["seconds"]["target"]["total"] / 2 / 3600)


@pytest.mark.parametrize(("record", "message"), [
    ({"mode": "train", "tokens_per_s": 2000.0, "flops_per_token": 1e6}, "not a benchmark suite"),
    (suite_record(startup_s=None), "startup_s is missing"),
    (suite_record(prep_examples_per_s=-1.0), "prep_examples_per_s is -1.0"),
    (suite_record(eval=[]), "no `ours` evaluation entry"),
    (suite_record(runs=suite_record()["runs"][:1]), "two or more batch sizes"),
    (suite_record(parameters={"non_embedding": 1, "layers": 24, "hidden": 1024}), "measured model tiny (24 layers"),
])
def test_a_bench_file_lacking_what_the_plan_needs_exits_2(record: dict, message: str, cache_dir: Path,
                                                          tmp_path: Path, capsys):
    bench = tmp_path / "suite.json"
    bench.write_text(json.dumps(record))
    assert main(["plan", *ONE_CELL, f"cache.dir={cache_dir}", "--bench", str(bench)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "bench_train.py --suite" in err


def test_the_micro_batch_line_fits_launch_and_per_token_costs():
    line = microbatch.fit([(100, 0.003), (200, 0.004), (400, 0.006)])
    assert (line.launch_s, line.per_token_s) == pytest.approx((0.002, 1e-5))
    assert line(1000) == pytest.approx(0.012)
    flat = microbatch.fit([(100, 0.05), (400, 0.05)])  # launch-bound: the batch size changes nothing
    assert (flat.launch_s, flat.per_token_s) == pytest.approx((0.05, 0.0))
    assert microbatch.fit([(100, 0.001), (200, 0.003)]).launch_s == 0  # never a negative launch
    kinked = [(100, 0.010), (200, 0.011), (400, 0.020)]  # flat, then per token: a line misses, and says by how much
    assert microbatch.fit(kinked).worst_error(kinked) == pytest.approx(0.122, abs=0.001)
    assert line.worst_error([(100, 0.003), (400, 0.006)]) == pytest.approx(0)


def recipe(**changes: object) -> Recipe:
    return Recipe(**{"batch_size": 4, "grad_accum": 8, "max_length": 256, "packing": False, "compiled": False,
                     "mixed_precision": True, "checkpoint_every_minutes": 30.0, "checkpoint_every_steps": None,
                     **changes})


def test_checkpoints_are_counted_by_the_clock_and_by_steps():
    assert timing.saves(recipe(), steps=1000, loop_s=7200) == 3  # at 30, 60, 90 min; the end saves the model
    assert timing.saves(recipe(), steps=1000, loop_s=1000) == 0
    assert timing.saves(recipe(checkpoint_every_minutes=None, checkpoint_every_steps=100), 1000, 36000) == 9
    # both: 9 step saves an hour apart, a clock save half-way in each hour, and one in the last
    assert timing.saves(recipe(checkpoint_every_steps=100), steps=1000, loop_s=36000) == 19


def test_memory_per_cell_and_cells_per_card(tmp_path: Path):
    large = Shape("xlmr-large", parameters=302_000_000, layers=24, hidden=1024, how="test",
                  total_parameters=560_000_000)
    estimate = (16 * 560_000_000 + 34 * 24 * 1024 * 4 * 256) / 2**30  # states + bf16 activations at batch 4 x 256
    assert memory.training_gb(large, recipe()) == pytest.approx(estimate)
    assert memory.training_gb(large, recipe(mixed_precision=False)) > estimate
    assert memory.cell_gb(large, [recipe(), recipe(batch_size=1)], None, 1) == (pytest.approx(estimate), False)
    assert memory.cell_gb(large, [], None, 1) == (pytest.approx(4 * 560_000_000 / 2**30), False)  # evaluates only
    assert (memory.cells_per_card(estimate, 80), memory.cells_per_card(estimate, 40)) == (8, 4)  # 9.2 GB + 0.5 each
    assert memory.cells_per_card(19.5, 40) == 2 and memory.cells_per_card(20.0, 40) == 1
    # a suite run at the recipe's batch and max_length gives its measured peak instead
    record = suite_record(max_length=256)
    record["runs"][0].update(peak_memory_gb=11.0)  # batch 4
    measured = suite.read(write_suite(tmp_path / "suite.json", max_length=256, runs=record["runs"]))
    assert memory.cell_gb(large, [recipe()], measured, 1) == (11.0, True)
    assert memory.cell_gb(large, [recipe(max_length=128)], measured, 1) == (pytest.approx(
        memory.training_gb(large, recipe(max_length=128))), False)


def test_a_plan_prints_the_memory_a_cell_needs(cache_dir: Path, tmp_path: Path, capsys):
    record = plan(tmp_path / "plan.json", *ONE_CELL, f"cache.dir={cache_dir}")
    found = record["estimates"]["memory"]
    (cell,) = record["cell_list"]
    assert found["per_cell_gb"] == cell["memory_gb"] > 0 and found["measured"] is False
    assert found["cells_per_80gb"] == memory.cells_per_card(found["per_cell_gb"], 80)
    assert found["cells_per_40gb"] == memory.cells_per_card(found["per_cell_gb"], 40)
    assert "GPU memory a cell" in capsys.readouterr().out


def test_without_local_data_recorded_sizes_are_used_and_nothing_is_downloaded(cache_dir: Path, tmp_path: Path,
                                                                              monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("plan must not download")

    monkeypatch.setattr(datasets, "load_dataset", no_download)
    record = plan(tmp_path / "hub.json", "model=tiny", "intermediate=mnli", "intermediate.fraction=0.01", "target=xquad",
                  "target.languages=[en,de]", "target.eval_splits=[test]", f"cache.dir={cache_dir}")
    mnli = compose_cfg("intermediate=mnli").intermediate.recorded_sizes  # the task YAMLs own the sizes
    xquad = compose_cfg("target=xquad").target.recorded_sizes
    (model,) = record["phase1_list"]
    assert model["examples"] == round(0.01 * mnli["train"])
    assert model["steps"] == -(-model["examples"] // 4) * 3  # batch 4, 3 epochs: the paper's MNLI recipe
    assert model["train_tokens"] == pytest.approx(3 * model["examples"] * RECORDED_TOKENS["classification"])
    (cell,) = record["cell_list"]
    assert cell["estimates"]["target"]["examples"] == xquad["train"]
    assert cell["estimates"]["zero_shot"]["examples"] == 2 * xquad["test"]
    assert record["estimates"]["total"]["unknown"] == []


def test_flops_count_weights_and_attention():
    shape = Shape("m", parameters=1000, layers=2, hidden=8, how="test", total_parameters=2000)
    assert shape.training_flops(10, attended=4) == 10 * (6 * 1000 + 12 * 2 * 8 * 4)
    assert shape.forward_flops(10, attended=4) == 10 * (2 * 1000 + 4 * 2 * 8 * 4)
    assert Throughput(100.0, None, "user").seconds(flops=1e9, equivalent_tokens=500) == 5.0
    assert Throughput(100.0, 1e6, "bench").seconds(flops=1e9, equivalent_tokens=500) == 10.0


def test_a_bad_override_exits_2(capsys):
    assert main(["plan", "experiment=smoke", "target=nonexistent"]) == 2
    assert "nonexistent" in capsys.readouterr().err


def test_new_models_are_counted_from_their_recorded_configs_and_xl_needs_sharding(tmp_path: Path, capsys):
    """No model is downloaded: XLM-R XL's and mDeBERTa-v3's config.json fields are bundled."""
    xl = plan(tmp_path / "xl.json", "model=xlmr-xl", "intermediate=mnli", "target=xnli")
    assert xl["models"]["xlmr-xl"]["total_parameters"] == pytest.approx(3.48e9, rel=0.01)  # the paper's 3.5B
    out = capsys.readouterr().out
    assert "model xlmr-xl: 2,832.36M non-embedding parameters (3,475.93M in all), 36 layers, hidden 2560" in out
    gb = xl["estimates"]["memory"]["per_cell_gb"]
    assert gb > 16 * 3.4e9 / 2**30  # the training states alone
    assert xl["estimates"]["memory"]["sharding"] == {"xlmr-xl": {"40": 2}}
    assert "!! model xlmr-xl NEEDS SHARDING on a 40 GB card" in out and "SHARDING on a 80 GB card" not in out
    mdeberta = plan(tmp_path / "mdeberta.json", "model=mdeberta-v3-base", "intermediate=mnli", "target=xnli")
    counted = mdeberta["models"]["mdeberta-v3-base"]
    # its card: 86M backbone parameters and about 190M in the embeddings
    assert counted["parameters"] == pytest.approx(86e6, rel=0.01)
    assert counted["total_parameters"] - counted["parameters"] == pytest.approx(190e6, rel=0.02)
    assert mdeberta["estimates"]["memory"]["sharding"] == {}
