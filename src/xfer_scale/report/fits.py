"""The scaling slope: fitted per seed, then averaged over seeds with a Student-t interval.

A seed's points share one baseline, so they are not independent observations: one regression through
every (seed, size) point gets the interval wrong. Each seed gives one slope, and the seeds are the
replicates. "Does size matter more for low-resource languages?" is the per-seed difference of the low-
and high-resource slopes (group `low-high`), so its interval accounts for the two sharing a seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xfer_scale.report.arms import ARM, SERIES
from xfer_scale.report.groups import HIGH, LOW, LOW_HIGH
from xfer_scale.report.stats import aggregate, log_slope
from xfer_scale.report.tables import group_means_per_seed

CURVE_KEYS = [SERIES, "target_task", "split", "metric"]
FIT_KEYS = [*CURVE_KEYS, "group"]
FIT_COLUMNS = [
    *FIT_KEYS, "n_seeds", "slope", "slope_ci95", "slope_std", "intercept", "n_fractions", "examples_min", "examples_max"
]


def group_points(gains: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """The points of the group curves: per seed, arm and group the mean gain (`value`) at its
    series and examples; the baseline (0 examples) is no point."""
    points = group_means_per_seed(gains, "gain").merge(arms[[ARM, SERIES, "intermediate_examples"]], on=ARM)
    return points[points["intermediate_examples"] > 0]


def scaling_fits(points: pd.DataFrame) -> pd.DataFrame:
    """Per series, target and group: mean over seeds of the per-seed slope of the group's mean gain
    on log10(examples) (`points`, from `group_points`), with its 95% t-interval half-width over seeds."""
    slopes = with_difference(seed_slopes(points))
    if slopes.empty:
        return pd.DataFrame(columns=FIT_COLUMNS)
    fits = aggregate(slopes, FIT_KEYS, "slope")
    fits = fits.rename(columns={"mean": "slope", "std": "slope_std", "ci95": "slope_ci95"})
    intercepts = slopes.groupby(FIT_KEYS, as_index=False)["intercept"].mean()
    sizes = points.groupby(CURVE_KEYS, as_index=False).agg(
        n_fractions=("intermediate_examples", "nunique"),
        examples_min=("intermediate_examples", "min"),
        examples_max=("intermediate_examples", "max"),
    )
    return fits.merge(intercepts, on=FIT_KEYS).merge(sizes, on=CURVE_KEYS)[FIT_COLUMNS]


def seed_slopes(points: pd.DataFrame) -> pd.DataFrame:
    """One least-squares line per seed and group; a seed with fewer than two sizes has none.

    Lines are cut from sorted columns rather than iterated as groups: a sub-frame per line costs
    more than its fit.
    """
    lines = points.groupby([*FIT_KEYS, "seed"], sort=True)
    number = lines.ngroup().to_numpy()
    order = np.argsort(number, kind="stable")
    order = order[number[order] >= 0]  # rows with a missing key belong to no line
    bounds = np.flatnonzero(np.diff(number[order])) + 1
    examples = np.split(points["intermediate_examples"].to_numpy()[order], bounds)
    values = np.split(points["value"].to_numpy()[order], bounds)
    fitted = np.array([log_slope(x, y) for x, y in zip(examples, values, strict=True)] if len(order) else [])
    fitted = fitted.reshape(-1, 2)  # (slope, intercept) per line, none without points
    slopes = pd.DataFrame(lines.size().index.tolist(), columns=[*FIT_KEYS, "seed"])  # plain keys, as tables hold
    return slopes.assign(slope=fitted[:, 0], intercept=fitted[:, 1]).dropna(subset=["slope"])


def with_difference(slopes: pd.DataFrame) -> pd.DataFrame:
    """Adds group `low-high`: per seed, the low-resource line minus the high-resource line."""
    paired = slopes[slopes["group"] == LOW].merge(
        slopes[slopes["group"] == HIGH], on=[*CURVE_KEYS, "seed"], suffixes=("", "_high")
    )
    difference = paired.assign(
        group=LOW_HIGH,
        slope=paired["slope"] - paired["slope_high"],
        intercept=paired["intercept"] - paired["intercept_high"],
    )
    return pd.concat([slopes, difference[slopes.columns]], ignore_index=True)
