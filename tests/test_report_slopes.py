"""Per-seed slopes with noise: the report's slopes, intervals and low-high difference against the same
numbers computed here straight from the planted values with scipy."""

import math

import numpy as np
import pytest
from scipy import stats

from tests.test_report import FRACTIONS, INTERCEPT, LANGS, MNLI_SIZE, SLOPE, write_sweep
from xfer_scale import report
from xfer_scale.report.plots import y_limits

SEEDS = (1, 2, 3, 4)
SIZES = [round(MNLI_SIZE * f) for f in FRACTIONS]
ZERO_SHOT = {"low": ["sw", "yo"], "high": ["de", "fr"], "all": ["sw", "yo", "de", "fr", "xx"]}


def noisy_gain(language: str, examples: int, seed: int) -> float:
    """The planted line, with a slope that differs by seed and group, plus noise per point."""
    group = LANGS[language]
    seed_slope = SLOPE[group] + np.random.default_rng([seed, len(group)]).normal(0.0, 0.3)
    noise = np.random.default_rng([seed, sorted(LANGS).index(language), examples]).normal(0.0, 0.5)
    return INTERCEPT[group] + seed_slope * math.log10(examples) + noise


def expected_seed_slopes(group: str) -> np.ndarray:
    """Per seed, scipy's least-squares slope of the group's mean gain on log10(examples)."""
    slopes = []
    for seed in SEEDS:
        means = [np.mean([noisy_gain(lang, n, seed) for lang in ZERO_SHOT[group]]) for n in SIZES]
        slopes.append(stats.linregress(np.log10(SIZES), means).slope)
    return np.array(slopes)


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and 95% half-width, from scipy's one-sample t-test interval."""
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    return float(np.mean(values)), float(high - low) / 2


@pytest.fixture(scope="module")
def noisy(tmp_path_factory) -> report.Report:
    root = tmp_path_factory.mktemp("noisy")
    runs = write_sweep(root / "runs", seeds=SEEDS, baseline_seeds=SEEDS, gain=noisy_gain)
    return report.build_report([runs], root / "out")


@pytest.mark.parametrize("group", ["low", "high", "all"])
def test_slope_is_the_mean_of_per_seed_slopes_with_a_t_interval_over_seeds(noisy, group):
    fit = noisy.tables["scaling_fit"].set_index("group").loc[group]
    slope, half_width = t_interval(expected_seed_slopes(group))
    assert fit["slope"] == pytest.approx(slope, rel=1e-9)
    assert fit["slope_ci95"] == pytest.approx(half_width, rel=1e-9)
    assert fit["n_seeds"] == len(SEEDS)


def test_low_high_is_the_per_seed_difference_of_slopes(noisy):
    fit = noisy.tables["scaling_fit"].set_index("group").loc["low-high"]
    difference, half_width = t_interval(expected_seed_slopes("low") - expected_seed_slopes("high"))
    assert fit["slope"] == pytest.approx(difference, rel=1e-9)
    assert fit["slope_ci95"] == pytest.approx(half_width, rel=1e-9)
    verdict = "excludes 0" if abs(difference) > half_width else "includes 0"
    sentence = f"Low − high = {difference:+.2f} ± {half_width:.2f} points per tenfold data: the 95% interval {verdict}"
    assert sentence in noisy.markdown.read_text()


def test_one_seed_has_a_slope_but_no_interval(tmp_path):
    runs = write_sweep(tmp_path / "runs", seeds=(3,), baseline_seeds=(3,), gain=noisy_gain)
    built = report.build_report([runs], tmp_path / "out")
    fits = built.tables["scaling_fit"].set_index("group")
    expected = stats.linregress(
        np.log10(SIZES), [np.mean([noisy_gain(lang, n, 3) for lang in ZERO_SHOT["low"]]) for n in SIZES]
    )
    assert fits.loc["low", "slope"] == pytest.approx(expected.slope, rel=1e-9)
    assert fits["n_seeds"].eq(1).all() and fits["slope_ci95"].isna().all()
    assert "from 1 seed: no interval, so no claim either way" in built.markdown.read_text()


def test_y_limits_clip_a_wide_interval_instead_of_scaling_to_it():
    means, ci = np.array([1.0, 3.0, 5.0]), np.array([0.5, 200.0, 0.5])
    low, high = y_limits(means, ci)
    assert -4.0 < low < 0.0 and 5.5 < high < 10.0  # the means and the baseline's 0 stay readable
    # narrow intervals are shown whole: from the baseline's 0 to 5 + 0.5, with a 5% margin
    assert y_limits(means, np.array([0.5, 1.0, 0.5])) == pytest.approx((0.0 - 0.275, 5.5 + 0.275))


def test_a_two_seed_pair_far_apart_is_plotted(tmp_path):
    def wild(language: str, examples: int, seed: int) -> float:
        return noisy_gain(language, examples, seed) + (150.0 if (seed, examples) == (2, SIZES[1]) else 0.0)

    runs = write_sweep(tmp_path / "runs", seeds=(1, 2), baseline_seeds=(1, 2), gain=wild)
    built = report.build_report([runs], tmp_path / "out")
    groups = built.tables["groups"]
    assert groups.loc[groups["quantity"] == "gain", "ci95"].max() > 200  # the interval the axes must not follow
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in built.plots)
