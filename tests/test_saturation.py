"""The saturating fit on synthetic curves with a known plateau, and a log-linear curve it must not call flat."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from xfer_scale.report import saturation

PLATEAU, K = 5.0, 2_000.0
SIZES = np.geomspace(100, 100_000, 8).round()
SEEDS = range(1, 6)


def points(gain, noise: float = 0.1) -> pd.DataFrame:
    """Per-seed group means as `group_points` gives them, for one series, target and group."""
    rows = [
        {"series": "s", "target_task": "xnli", "split": "test", "metric": "accuracy", "group": "low", "seed": seed,
         "intermediate_examples": n, "value": gain(n) + np.random.default_rng([seed, int(n)]).normal(0.0, noise)}
        for seed in SEEDS for n in SIZES
    ]
    return pd.DataFrame(rows)


def saturating(n: float) -> float:
    return PLATEAU * (1 - math.exp(-n / K))


def test_the_fit_recovers_an_exact_curve():
    a, k = saturation.fit_saturating(SIZES, np.array([saturating(n) for n in SIZES]))
    assert (a, k) == (pytest.approx(PLATEAU, rel=1e-6), pytest.approx(K, rel=1e-6))
    assert saturation.examples_to_90(k) == pytest.approx(K * math.log(10), rel=1e-6)


def test_a_curve_with_a_plateau_is_found_levelling_off():
    row = saturation.saturation_table(points(saturating)).iloc[0]
    assert row["plateau"] == pytest.approx(PLATEAU, abs=0.1)
    assert row["k"] == pytest.approx(K, rel=0.05)
    true_n90 = K * math.log(10)  # 4,605 examples
    assert row["examples_90"] == pytest.approx(true_n90, rel=0.05)
    assert row["examples_90_ci_low"] < true_n90 < row["examples_90_ci_high"] < 2 * true_n90
    assert row["aic_saturating"] < row["aic_loglinear"] - 2
    assert row["share_of_plateau_at_max"] == pytest.approx(1.0, abs=1e-6)
    assert (row["n_seeds"], row["n_points"], row["verdict"]) == (5, 5 * len(SIZES), saturation.LEVELLING)


def test_a_log_linear_curve_is_still_rising():
    row = saturation.saturation_table(points(lambda n: -3.0 + 2.0 * math.log10(n), noise=0.3)).iloc[0]
    assert row["aic_loglinear"] < row["aic_saturating"] - 2
    assert row["verdict"] == saturation.RISING


def test_aic_is_the_gaussian_one():
    residuals = np.array([1.0, -1.0, 2.0, -2.0])
    n, rss = 4, 10.0
    assert saturation.aic(residuals, 2) == pytest.approx(n * math.log(2 * math.pi * rss / n) + n + 2 * 3)
