"""Seed statistics and the scaling slope, kept free of report vocabulary so they can be checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; beyond, a Cornish-Fisher expansion.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """t(0.975, df) without scipy (not a dependency): exact table to 30, then accurate to ~1e-6."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def ci95_half_width(std: float, n: int) -> float:
    """Half-width of the 95% t-interval of a mean over n seeds; NaN for one seed (no spread to use)."""
    if n < 2 or math.isnan(std):
        return math.nan
    return t_quantile_975(n - 1) * std / math.sqrt(n)


def aggregate(frame: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """Mean, std, number of seeds and 95% CI of `column` per `keys`: one observation per seed."""
    stats = frame.groupby(keys, as_index=False, sort=True).agg(
        mean=(column, "mean"), std=(column, "std"), n_seeds=(column, "count")
    )
    stats["ci95"] = [ci95_half_width(s, n) for s, n in zip(stats["std"], stats["n_seeds"], strict=True)]
    return stats


def fit_log_slope(examples: np.ndarray, gain: np.ndarray) -> dict[str, float]:
    """Least squares gain = a + b*log10(examples); b's standard error from the residuals (n-2 df)."""
    x = np.log10(np.asarray(examples, dtype=float))
    y = np.asarray(gain, dtype=float)
    n = len(x)
    fit = {"n_points": n, "intercept": math.nan, "slope": math.nan, "slope_se": math.nan, "slope_ci95": math.nan}
    if n < 2 or np.ptp(x) == 0:
        return fit
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * x.mean())
    fit.update(slope=slope, intercept=intercept)
    if n > 2:
        residuals = y - (intercept + slope * x)
        se = math.sqrt(float((residuals**2).sum()) / (n - 2) / sxx)
        fit.update(slope_se=se, slope_ci95=t_quantile_975(n - 2) * se)
    return fit
