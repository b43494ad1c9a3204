"""Seed statistics and the per-seed scaling slope, kept free of report vocabulary so they can be
checked against scipy by hand.

Seeds are the independent replicates: each is one observation, however many points it contributes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def ci95_half_width(std: np.ndarray | pd.Series, n: np.ndarray | pd.Series) -> np.ndarray:
    """Half-width of the 95% Student-t interval of a mean over n seeds; NaN for one seed (no spread)."""
    n = np.asarray(n, dtype=float)
    return stats.t.ppf(0.975, n - 1) * np.asarray(std, dtype=float) / np.sqrt(n)


def aggregate(frame: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """Mean, std, number of distinct seeds and 95% CI of `column` per `keys`: one row per seed."""
    table = frame.groupby(keys, as_index=False, sort=True).agg(
        mean=(column, "mean"), std=(column, "std"), n_seeds=("seed", "nunique")
    )
    return table.assign(ci95=ci95_half_width(table["std"], table["n_seeds"]))


def log_slope(examples: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of values = a + b*log10(examples); NaN where fewer than two sizes.

    scipy's linregress arithmetic, step for step so the numbers are its numbers, without the
    p-value and nan-policy machinery that make a call cost a millisecond: seconds for the
    thousands of lines of a large sweep.
    """
    x = np.log10(np.asarray(examples, dtype=float))
    if len(np.unique(x)) < 2:
        return math.nan, math.nan
    y = np.asarray(values, dtype=float)
    ssxm, ssxym, _, _ = np.cov(x, y, bias=1).flat
    slope = ssxym / ssxm
    return float(slope), float(np.mean(y, None) - slope * np.mean(x, None))
