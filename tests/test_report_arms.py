"""What the report pools: seeds of one arm only, each gain against the baseline of its own baseline
key, and a second run of an arm and seed is an error unless the user picks one."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.test_report import FRACTIONS, LANGS, MNLI_SIZE, SEEDS, SLOPE, planted_gain, run_rows, write_run, write_sweep
from xfer_scale import report
from xfer_scale.cli import main as xfer_scale_main
from xfer_scale.errors import UserError
from xfer_scale.report.arms import IDENTITY_COLUMNS, SETTINGS
from xfer_scale.report.plots import Section

STEEP = 3.0  # the full_data_steps arm's planted gains are this many times the epochs arm's


@pytest.fixture(autouse=True)
def without_plots(monkeypatch):
    """These tests read tables and text; drawing (most of a report's time) is tested in test_report.py."""
    def sections_only(tables, splits, out):
        return [Section(target, split, []) for target, split in splits.items()]

    monkeypatch.setattr("xfer_scale.report.build.write_plots", sections_only)


def steep_gain(language: str, examples: int, seed: int) -> float:
    return STEEP * planted_gain(language, examples)


def write_mixed_budgets(root: Path, seeds=SEEDS) -> Path:
    """Two budgets with the same seed numbers and one shared baseline."""
    write_sweep(root, seeds=seeds, baseline_seeds=seeds)
    return write_sweep(root, seeds=seeds, baseline_seeds=(), budget="full_data_steps", gain=steep_gain)


def test_two_budgets_are_two_arms_never_pooled(tmp_path):
    built = report.build_report([write_mixed_budgets(tmp_path / "runs")], tmp_path / "out")
    gains = built.tables["gains"]
    assert set(gains["intermediate_budget"]) == {"epochs", "full_data_steps"}
    assert (gains["n_seeds"] == len(SEEDS)).all()  # 2 seeds per arm, not 4 rows pooled
    assert (gains["std"].abs() < 1e-9).all()  # pooling the budgets would give a spread
    fits = built.tables["scaling_fit"]
    low = fits[fits["group"] == "low"].set_index("intermediate_budget")
    assert low.loc["epochs", "slope"] == pytest.approx(SLOPE["low"])
    assert low.loc["full_data_steps", "slope"] == pytest.approx(STEEP * SLOPE["low"])
    assert (low["n_seeds"] == len(SEEDS)).all() and low["series"].nunique() == 2
    text = built.markdown.read_text()
    assert re.search(r"^\| target +\| intermediate +\| budget +\|", text, re.M)  # the setting that differs, shown
    assert "**xnli** ← mnli (xlmr-large; budget=full_data_steps), accuracy (2 seeds)" in text


def test_one_seed_per_budget_is_one_seed_without_an_interval(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, run_rows("none", 0.0, 1))
    for budget in ("epochs", "full_data_steps"):
        write_run(runs, run_rows("mnli", 0.1, 1, budget=budget), f"mnli-{budget}")
    gains = report.build_report([runs], tmp_path / "out").tables["gains"]
    assert len(gains) == 2 * len(LANGS)
    assert (gains["n_seeds"] == 1).all() and gains["ci95"].isna().all()


def test_a_baseline_of_another_recipe_does_not_shift_the_gains(tmp_path):
    runs = write_sweep(tmp_path / "runs")
    for seed in SEEDS:  # another target recipe: another baseline key, and much higher scores
        other = run_rows("none", 0.0, seed, recipe="b").assign(value=lambda d: d["value"] + 30.0)
        write_run(runs, other, f"none-recipe-b-{seed}")
    built = report.build_report([runs], tmp_path / "out")
    for row in built.tables["gains"].itertuples():
        assert row.mean == pytest.approx(planted_gain(row.language, row.intermediate_examples), abs=1e-9)
    assert built.tables["missing_baselines"].empty


def write_second_run(runs: Path, name: str, shift: float, finished: str | None = None) -> Path:
    """Another run of arm (mnli 0.1, epochs) and seed 1, scoring `shift` points higher."""
    rows = run_rows("mnli", 0.1, 1, run=name).assign(value=lambda d: d["value"] + shift)
    run_dir = write_run(runs, rows, name)
    if finished:
        (run_dir / "run.json").write_text(json.dumps({"finished": finished}))
    return run_dir


def test_an_arm_and_seed_run_twice_stops_with_exit_2_naming_both_folders(tmp_path, capsys):
    runs = write_sweep(tmp_path / "runs")
    second = write_second_run(runs, "again", 5.0)
    assert xfer_scale_main(["report", str(runs), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(runs / "mnli-0.1-epochs-1") in err and str(second) in err
    assert "--duplicates latest" in err and not (tmp_path / "out" / "report.md").exists()


def test_two_baselines_of_one_key_and_seed_are_a_duplicate(tmp_path):
    runs = write_sweep(tmp_path / "runs")
    write_run(runs, run_rows("none", 0.0, 2, run="again"), "none-again")
    with pytest.raises(UserError, match=r"baseline key .* seed 2: .*none-0.0-xnli-2 and .*none-again"):
        report.build_report([runs], tmp_path / "out")


@pytest.mark.parametrize("later", ["first", "second"])
def test_duplicates_latest_keeps_the_run_that_finished_last(tmp_path, capsys, later):
    runs = write_sweep(tmp_path / "runs")
    first = runs / "mnli-0.1-epochs-1"
    times = {"first": "2025-01-02T00:00:00+00:00", "second": "2025-01-01T00:00:00+00:00"}
    if later == "second":
        times = {"first": times["second"], "second": times["first"]}
    (first / "run.json").write_text(json.dumps({"finished": times["first"]}))
    second = write_second_run(runs, "again", 5.0, finished=times["second"])
    out = tmp_path / "out"
    assert report.main([str(runs), "--out", str(out), "--duplicates", "latest"]) == 0
    gains = pd.read_parquet(out / "tables" / "gains.parquet")
    cell = gains[(gains["intermediate_fraction"] == 0.1) & (gains["language"] == "sw")].iloc[0]
    shift = 5.0 if later == "second" else 0.0
    # seeds 1 and 2 of the kept runs: only seed 1 moves by the shift
    assert cell["mean"] == pytest.approx(planted_gain("sw", round(MNLI_SIZE * 0.1)) + shift / 2)
    assert cell["n_seeds"] == len(SEEDS)
    dropped = second if later == "first" else first
    assert f"{dropped} left out" in capsys.readouterr().err


def test_results_without_arm_columns_still_report_with_one_warning(tmp_path, capsys):
    runs = write_sweep(tmp_path / "runs")
    for path in runs.rglob("results.parquet"):
        frame = pd.read_parquet(path)
        frame.drop(columns=[*IDENTITY_COLUMNS, *SETTINGS]).to_parquet(path, index=False)
    assert report.main([str(runs), "--out", str(tmp_path / "out")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "do not record their arm" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: 8 results files do not record their arm")
    fits = pd.read_parquet(tmp_path / "out" / "tables" / "scaling_fit.parquet").set_index("group")
    assert fits.loc["low", "slope"] == pytest.approx(SLOPE["low"]) and fits.loc["low", "n_seeds"] == len(SEEDS)
    assert "do not record their arm" in (tmp_path / "out" / "report.md").read_text()


def test_legacy_runs_of_two_experiments_are_two_arms(tmp_path):
    """Before arms were recorded the experiment name was all that told a budget sweep apart."""
    runs = tmp_path / "runs"
    for seed in SEEDS:
        write_run(runs, run_rows("none", 0.0, seed))
        for experiment, factor in (("scaling", 1.0), ("scaling_steps", STEEP)):
            rows = run_rows("mnli", 1.0, seed, run=experiment).assign(experiment=experiment)
            rows["value"] += (factor - 1.0) * rows["language"].map(lambda lang: planted_gain(lang, MNLI_SIZE))
            write_run(runs, rows.drop(columns=[*IDENTITY_COLUMNS, *SETTINGS]), f"{experiment}-{seed}")
    for path in runs.glob("none-*/results.parquet"):
        pd.read_parquet(path).drop(columns=[*IDENTITY_COLUMNS, *SETTINGS]).to_parquet(path, index=False)
    gains = report.build_report([runs], tmp_path / "out").tables["gains"]
    sw = gains[gains["language"] == "sw"].set_index("experiment")
    assert sw.loc["scaling_steps", "mean"] == pytest.approx(STEEP * sw.loc["scaling", "mean"])
    assert (sw["n_seeds"] == len(SEEDS)).all() and np.allclose(sw["std"], 0.0)


def test_the_slope_interval_is_over_distinct_seeds_not_points(tmp_path):
    """Seed s adds 0.1*s to every slope; seed 3 lacks a size, and still gives one slope."""
    def tilted(language: str, examples: int, seed: int) -> float:
        return planted_gain(language, examples) + 0.1 * seed * np.log10(examples)

    runs = write_sweep(tmp_path / "runs", seeds=(1, 2, 3), baseline_seeds=(1, 2, 3), gain=tilted)
    shutil.rmtree(runs / f"mnli-{FRACTIONS[0]}-epochs-3")
    fits = report.build_report([runs], tmp_path / "out").tables["scaling_fit"].set_index("group")
    seed_slopes = [SLOPE["low"] + 0.1 * seed for seed in (1, 2, 3)]
    low, high = stats.ttest_1samp(seed_slopes, 0.0).confidence_interval(0.95)
    assert fits.loc["low", "slope"] == pytest.approx(np.mean(seed_slopes))
    assert fits.loc["low", "slope_ci95"] == pytest.approx((high - low) / 2)
    assert fits.loc["low", "n_seeds"] == 3


def test_arms_that_differ_only_in_an_unnamed_setting_are_shown_by_their_hash(tmp_path):
    runs = tmp_path / "runs"
    for recipe in ("a", "b"):  # the target recipe is in the arm but not among the readable columns
        for seed in SEEDS:
            write_run(runs, run_rows("none", 0.0, seed, recipe=recipe), f"none-{recipe}-{seed}")
            write_run(runs, run_rows("mnli", 0.1, seed, recipe=recipe), f"mnli-{recipe}-{seed}")
    built = report.build_report([runs], tmp_path / "out")
    assert built.tables["gains"]["arm"].nunique() == 2 and (built.tables["gains"]["n_seeds"] == len(SEEDS)).all()
    assert re.search(r"^\| arm +\| intermediate +\| fraction +\|", built.markdown.read_text(), re.M)


def test_a_copy_of_a_run_with_other_values_stops_the_report_naming_both_folders(tmp_path, capsys):
    """One run id in two folders with different values (the same configuration run twice, on other
    GPUs or code) is two results: the report picks neither silently."""
    runs = write_sweep(tmp_path / "runs")
    original = runs / "mnli-0.1-epochs-1"
    copy = tmp_path / "elsewhere" / "mnli-0.1-epochs-1"
    shutil.copytree(original, copy)
    frame = pd.read_parquet(copy / "results.parquet")
    frame.loc[frame["language"] == "sw", "value"] += 1.5
    frame.to_parquet(copy / "results.parquet")
    out = tmp_path / "out"
    assert xfer_scale_main(["report", str(runs), str(copy.parent), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(original) in err and str(copy) in err and "sw" in err and not (out / "report.md").exists()

    (original / "run.json").write_text(json.dumps({"finished": "2025-01-01T00:00:00+00:00"}))
    (copy / "run.json").write_text(json.dumps({"finished": "2025-01-02T00:00:00+00:00"}))
    for policy, kept, dropped in (("latest", copy, original), ("first", original, copy)):
        assert report.main([str(runs), str(copy.parent), "--out", str(out), "--duplicates", policy]) == 0
        assert f"{dropped} left out: a copy of run" in capsys.readouterr().err
        summary = pd.read_parquet(out / "tables" / "summary.parquet")
        cell = summary[(summary["intermediate_fraction"] == 0.1) & (summary["language"] == "sw")].iloc[0]
        seed_1 = pd.read_parquet(kept / "results.parquet").query("language == 'sw'")["value"].iloc[0]
        seed_2 = pd.read_parquet(runs / "mnli-0.1-epochs-2" / "results.parquet").query("language == 'sw'")["value"].iloc[0]
        assert cell["mean"] == pytest.approx((seed_1 + seed_2) / 2)


def test_an_identical_copy_counts_once_and_changes_no_table(tmp_path, capsys):
    runs = write_sweep(tmp_path / "runs")
    alone = report.build_report([runs], tmp_path / "alone")
    copy = tmp_path / "elsewhere" / "mnli-0.1-epochs-1"
    shutil.copytree(runs / "mnli-0.1-epochs-1", copy)
    assert report.main([str(runs), str(copy.parent), "--out", str(tmp_path / "both")]) == 0
    listed = [line for line in capsys.readouterr().err.splitlines() if "is an identical copy of" in line]
    assert len(listed) == 1 and str(copy) in listed[0] and str(runs / "mnli-0.1-epochs-1") in listed[0]
    for name, table in alone.tables.items():
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "both" / "tables" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "alone" / "tables" / f"{name}.parquet"), obj=name)


def test_the_report_shows_how_each_arms_runs_were_made(tmp_path):
    runs = write_sweep(tmp_path / "runs")
    made = {"packages": {"xfer-scale": "0.1.0", "torch": "2.11.0", "transformers": "5.25.0"}, "git_commit": "abc",
            "cuda": "12.8", "gpu": "NVIDIA H100 80GB HBM3",
            "data_revisions": "google/xtreme@aaaaaaaaaaaa nyu-mll/glue@main?"}
    for run_dir in runs.iterdir():
        (run_dir / "run.json").write_text(json.dumps(made))
    other_gpu = {**made, "gpu": "NVIDIA A100-SXM4-80GB",
                 "data_revisions": "google/xtreme@bbbbbbbbbbbb nyu-mll/glue@main?"}
    (runs / "mnli-0.1-epochs-2" / "run.json").write_text(json.dumps(other_gpu))
    built = report.build_report([runs], tmp_path / "out")
    table = built.tables["provenance"].set_index(["intermediate_task", "intermediate_fraction"])
    assert table.loc[("mnli", 0.1), "gpu"] == "NVIDIA A100-SXM4-80GB, NVIDIA H100 80GB HBM3"
    assert bool(table.loc[("mnli", 0.1), "mixed"]) and table["mixed"].sum() == 1
    assert (table["torch"] == "2.11.0").all() and (table["runs"] == len(SEEDS)).all()
    assert table.loc[("mnli", 0.1), "data"] == ("google/xtreme@aaaaaaaaaaaa nyu-mll/glue@main?, "
                                                "google/xtreme@bbbbbbbbbbbb nyu-mll/glue@main?")
    assert (table.drop(index=("mnli", 0.1))["data"] == made["data_revisions"]).all()
    text = built.markdown.read_text()
    assert "## How the runs were made" in text and "1 arms ran on more than one set-up" in text


def test_an_interrupted_report_leaves_the_previous_one_whole(tmp_path, capsys, monkeypatch):
    runs = write_sweep(tmp_path / "runs")
    out = tmp_path / "out"
    assert report.main([str(runs), "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")  # not the report's: never touched
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    write_run(runs, run_rows("mnli", 0.5, 9), "mnli-0.5-epochs-9")  # a new run: new tables would differ

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("xfer_scale.report.build.write_plots", interrupted)  # tables are written by then
    assert report.main([str(runs), "--out", str(out)]) == 130
    assert "interrupted; the report in" in capsys.readouterr().err
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]  # no staging folder left
