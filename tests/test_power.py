"""`plan --detect`: the power of a sweep's seeds against statsmodels' closed-form t-test power."""

from __future__ import annotations

import math
import re
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import TTestPower

from tests.test_report import write_sweep
from tests.test_report_slopes import noisy_gain
from xfer_scale import report
from xfer_scale.cli import main
from xfer_scale.errors import UserError
from xfer_scale.plan import command, power
from xfer_scale.plan.phases import Estimate
from xfer_scale.plan.sweep import Cell, Phase1, Plan

SEEDS = (1, 2, 3)
#: a three-seed sweep of mnli at three sizes (150, 300 and 600 examples of the smoke data)
SWEEP = ("experiment=smoke", "target=xnli", "intermediate=mnli", "intermediate.fraction=0.25,0.5,1.0", "seed=1,2,3",
         "target.eval_splits=[test]")
SMOKE_SIZES = (150, 300, 600)


@pytest.mark.parametrize(("difference", "sd", "seeds"), [(2.0, 1.5, 3), (2.0, 1.5, 8), (0.5, 1.0, 20), (-1.0, 2.0, 5)])
def test_power_is_the_two_sided_one_sample_t_tests(difference, sd, seeds):
    expected = TTestPower().power(effect_size=difference / sd, nobs=seeds, alpha=0.05, alternative="two-sided")
    assert power.power(difference, sd, seeds) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("difference", "sd"), [(2.0, 1.5), (0.5, 1.0), (1.0, 3.0)])
def test_seeds_needed_are_the_fewest_with_80_percent_power(difference, sd):
    seeds = power.seeds_needed(difference, sd)
    closed_form = TTestPower().solve_power(effect_size=difference / sd, alpha=0.05, power=0.8, alternative="two-sided")
    assert seeds == math.ceil(closed_form)
    assert power.power(difference, sd, seeds) >= 0.8 > power.power(difference, sd, seeds - 1)


def test_one_seed_has_no_power():
    assert math.isnan(power.power(2.0, 1.5, 1))


def test_an_sd_measured_at_other_sizes_scales_with_the_spread_of_log_sizes():
    # sizes a decade apart: Sxx = 2 (x = 1, 2, 3); doubling apart: Sxx = 2 log10(2)^2
    planned = power.rescaled_sd(1.0, [10, 100, 1000], [150, 300, 600])
    assert planned == pytest.approx(math.sqrt(2 / (2 * math.log10(2) ** 2)))
    assert power.rescaled_sd(1.5, SMOKE_SIZES, SMOKE_SIZES) == pytest.approx(1.5)


def test_plan_prints_the_power_and_the_seeds_needed(cache_dir: Path, capsys):
    assert main(["plan", *SWEEP, f"cache.dir={cache_dir}", "--detect", "2", "--seed-sd", "1.5"]) == 0
    out = capsys.readouterr().out
    expected = TTestPower().power(effect_size=2 / 1.5, nobs=3, alpha=0.05, alternative="two-sided")
    needed = math.ceil(TTestPower().solve_power(effect_size=2 / 1.5, alpha=0.05, power=0.8))
    assert "difference of 2 points per tenfold data (two-sided t-test over seeds, alpha 0.05): 3 seed(s), sizes 150, 300, 600" in out
    assert f"power {expected:.0%}; {needed} seeds for 80% power" in out


def smoke_plan() -> Plan:
    """SWEEP's plan as `sweep.build` gives it, written out: composing it costs seconds a test."""
    phase1 = {f"mnli-{n}": Phase1(f"mnli-{n}", "tiny", False, Estimate(examples=n)) for n in SMOKE_SIZES}
    cells = [Cell(f"run-{n}-{seed}", "tiny", "mnli", "xnli", seed, f"mnli-{n}", True)
             for n in SMOKE_SIZES for seed in SEEDS]
    cells += [Cell(f"base-{seed}", "tiny", "none", "xnli", seed, None, False) for seed in SEEDS]
    return Plan(cells, phase1, {})


def test_plan_reads_the_sd_from_an_earlier_report_and_rescales_it(tmp_path: Path):
    runs = write_sweep(tmp_path / "runs", seeds=SEEDS, baseline_seeds=SEEDS, gain=noisy_gain)
    built = report.build_report([runs], tmp_path / "report")
    fit = built.tables["scaling_fit"].set_index("group").loc["low-high"]
    measured_sizes = sorted(built.tables["gains"]["intermediate_examples"].unique())
    x_then, x_now = np.log10(measured_sizes), np.log10(SMOKE_SIZES)
    sd = fit["slope_std"] * math.sqrt(np.sum((x_then - x_then.mean()) ** 2) / np.sum((x_now - x_now.mean()) ** 2))
    options = Namespace(detect=2.0, seed_sd=None, from_report=tmp_path / "report")
    lines = command._power_lines(smoke_plan(), options)
    assert "3 seed(s), sizes 150, 300, 600" in lines[0]
    line = next(line for line in lines if line.startswith("  xnli accuracy (test"))
    assert f"SD {fit['slope_std']:.3g} over 3 seeds" in line and f"-> SD {sd:.3g} at the sweep's sizes" in line
    got = float(re.search(r"power (\d+)%", line).group(1)) / 100
    assert got == pytest.approx(TTestPower().power(effect_size=2 / sd, nobs=3, alpha=0.05), abs=0.005)


@pytest.mark.parametrize(("args", "message"), [
    (["--detect", "2"], "--detect needs the seed-to-seed SD"),
    (["--seed-sd", "1.5"], "add --detect"),
    (["--detect", "2", "--seed-sd", "0"], "an SD must be above 0"),
])
def test_detect_without_what_it_needs_exits_2(args, message, capsys):
    assert main(["plan", *SWEEP, *args]) == 2
    assert message in capsys.readouterr().err


def test_a_report_without_the_target_is_a_user_error(tmp_path: Path):
    (tmp_path / "tables").mkdir()
    fits = pd.DataFrame({"group": ["low-high"], "target_task": ["udpos"], "split": ["test"], "metric": ["f1"],
                         "series": ["s"], "slope_std": [1.0], "n_seeds": [3]})
    fits.to_parquet(tmp_path / "tables" / "scaling_fit.parquet")
    pd.DataFrame({"series": ["s"], "target_task": ["udpos"], "intermediate_examples": [10]}).to_parquet(
        tmp_path / "tables" / "gains.parquet")
    with pytest.raises(UserError, match="no low-high slope with a seed SD .* for xnli; its scaling_fit has udpos"):
        power.from_report(tmp_path, {"xnli"})
