"""Has more intermediate data stopped helping? The log-linear line against a curve that levels off.

The slope b says how much a tenfold more data gains, on average over the sizes run; it cannot say
whether the gains are flattening. So per series, target and language group the per-seed points
(the group's mean gain per seed and size, as the slopes use) are also fitted with

    gain = a * (1 - exp(-n / k))

(a the plateau, k the examples at which 63% of it is reached, 0 at n = 0 as a gain over the
baseline is), by least squares with scipy. Both fits have two parameters, so their AICs (Gaussian,
the error variance a parameter of each) compare their residuals. The saturating curve reaches 90% of
its plateau at n90 = k ln 10; its interval is the percentile interval of n90 over a bootstrap of
seeds (a resampled seed brings all of its points, as seeds are the replicates).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize

from xfer_scale.report.fits import FIT_KEYS
from xfer_scale.report.groups import LOW_HIGH

COLUMNS = [
    *FIT_KEYS, "n_seeds", "n_points", "aic_loglinear", "aic_saturating", "plateau", "k", "examples_90",
    "examples_90_ci_low", "examples_90_ci_high", "examples_min", "examples_max", "share_of_plateau_at_max", "verdict",
]
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0
AIC_MARGIN = 2.0  # a difference in AIC below this favours neither fit
LEVELLING, RISING, UNCLEAR = "levelling off", "still rising", "unclear"


def aic(residuals: np.ndarray, parameters: int) -> float:
    """Gaussian AIC of a least-squares fit with `parameters` mean parameters (+1 for the variance)."""
    n = len(residuals)
    rss = max(float(np.sum(residuals**2)), np.finfo(float).tiny)  # an exact fit would give log(0)
    return n * math.log(2 * math.pi * rss / n) + n + 2 * (parameters + 1)


def fit_saturating(examples: np.ndarray, gains: np.ndarray) -> tuple[float, float] | None:
    """(a, k) of gain = a (1 - exp(-n / k)) by least squares; None where it does not converge.

    k is fitted as log k (always positive, and the sizes span decades); it starts at the middle
    size and a at the gain there, the plateau it would have if half reached.
    """
    n = np.asarray(examples, dtype=float)
    y = np.asarray(gains, dtype=float)
    if len(np.unique(n)) < 2:
        return None

    def curve(size: np.ndarray, a: float, log_k: float) -> np.ndarray:
        return a * -np.expm1(-size / np.exp(log_k))

    middle = float(np.median(n))
    start = (float(np.mean(y[n == n[np.argmin(np.abs(n - middle))]])) * 2 or 1.0, math.log(middle))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            (a, log_k), _ = optimize.curve_fit(curve, n, y, p0=start, maxfev=5000)
        except (RuntimeError, ValueError):
            return None
    if not (math.isfinite(a) and math.isfinite(log_k)):
        return None
    return float(a), float(math.exp(log_k))


def examples_to_90(k: float) -> float:
    """Examples at which a (1 - exp(-n / k)) is 0.9 a."""
    return k * math.log(10)


def saturation_table(points: pd.DataFrame, bootstrap: int = BOOTSTRAP) -> pd.DataFrame:
    """Per series, target, split, metric and group: both fits' AICs, the plateau, n90 with its
    bootstrap interval over seeds, and a verdict on whether the largest size is still gaining.

    `points` are per-seed group means (`tables.group_means_per_seed`, with `intermediate_examples`).
    """
    rows = []
    for keys, block in points[points["group"] != LOW_HIGH].groupby(FIT_KEYS, sort=True):
        rows.append({**dict(zip(FIT_KEYS, keys, strict=True)), **_compare(block, bootstrap)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _compare(block: pd.DataFrame, bootstrap: int) -> dict:
    n = block["intermediate_examples"].to_numpy(dtype=float)
    y = block["value"].to_numpy(dtype=float)
    x = np.log10(n)
    row = {"n_seeds": block["seed"].nunique(), "n_points": len(block), "examples_min": float(n.min()),
           "examples_max": float(n.max())}
    if len(np.unique(n)) < 2:
        return {**row, "verdict": UNCLEAR}
    slope, intercept = np.polyfit(x, y, 1)
    row["aic_loglinear"] = aic(y - (intercept + slope * x), 2)
    fitted = fit_saturating(n, y)
    if fitted is None:
        return {**row, "verdict": UNCLEAR}
    a, k = fitted
    row.update(
        aic_saturating=aic(y - a * -np.expm1(-n / k), 2), plateau=a, k=k, examples_90=examples_to_90(k),
        share_of_plateau_at_max=float(-np.expm1(-n.max() / k)),
    )
    low, high = _bootstrap_n90(block, bootstrap)
    row.update(examples_90_ci_low=low, examples_90_ci_high=high)
    return {**row, "verdict": _verdict(row, slope)}


def _bootstrap_n90(block: pd.DataFrame, draws: int) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of n90 over resamples of seeds; a resample whose fit fails counts as
    an infinite n90 (no plateau found), so failures widen the interval rather than vanish.

    Few seeds have few distinct resamples (3 seeds: 10), so each distinct one is fitted once.
    """
    seeds = {seed: (s["intermediate_examples"].to_numpy(dtype=float), s["value"].to_numpy(dtype=float))
             for seed, s in block.groupby("seed")}
    names = sorted(seeds)
    if len(names) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    fitted: dict[tuple, float] = {}
    values = []
    for draw in rng.choice(len(names), size=(draws, len(names)), replace=True):
        key = tuple(sorted(draw))
        if key not in fitted:
            n = np.concatenate([seeds[names[i]][0] for i in key])
            y = np.concatenate([seeds[names[i]][1] for i in key])
            result = fit_saturating(n, y)
            fitted[key] = examples_to_90(result[1]) if result else math.inf
        values.append(fitted[key])
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _verdict(row: dict, slope: float) -> str:
    """Levelling off: the saturating fit is better by AIC_MARGIN and even n90's upper bound is within
    the sizes run. Still rising: the line gains (slope > 0) and either it is better by the margin or
    n90's lower bound lies beyond the largest size. Else unclear."""
    saturating_better = row["aic_saturating"] < row["aic_loglinear"] - AIC_MARGIN
    linear_better = row["aic_loglinear"] < row["aic_saturating"] - AIC_MARGIN
    if saturating_better and row["examples_90_ci_high"] <= row["examples_max"]:
        return LEVELLING
    if slope > 0 and (linear_better or row["examples_90_ci_low"] > row["examples_max"]):
        return RISING
    return UNCLEAR
