"""How many seeds make a low − high slope difference of D points per tenfold data detectable?

The report tests the difference with a one-sample t-test over seeds (each seed gives one low − high
slope difference), so its power is the two-sided t-test's: the noncentral t with n − 1 degrees of
freedom and noncentrality D / (sd / sqrt(n)), where sd is the seed-to-seed SD of the difference.

That SD is read from an earlier report's `scaling_fit` (group low-high, its `slope_std`) or given.
An SD measured at other data sizes is rescaled to the planned ones: a least-squares slope's SD is
proportional to 1 / sqrt(Sxx), Sxx the spread of log10(sizes) around their mean. That holds where the
seed-to-seed spread comes from the points' noise; a part that varies the slope itself from seed to
seed does not shrink with wider sizes, so with sizes wider than the report's the power is optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from xfer_scale.errors import UserError

ALPHA = 0.05
TARGET_POWER = 0.8
MAX_SEEDS = 10_000


def power(difference: float, seed_sd: float, seeds: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample t-test over `seeds` per-seed differences to find a true
    mean `difference` whose seed-to-seed SD is `seed_sd`; NaN under 2 seeds (no test)."""
    if seeds < 2:
        return math.nan
    df = seeds - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = difference / (seed_sd / math.sqrt(seeds))
    return float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))


def seeds_needed(difference: float, seed_sd: float, target: float = TARGET_POWER, alpha: float = ALPHA) -> int:
    """The fewest seeds (2 or more) whose power reaches `target`."""
    if difference == 0:
        raise UserError("--detect 0: a difference of 0 cannot be detected; give the smallest difference that matters.")
    # the z-test's n is a lower bound on the t-test's: start there and count up
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)
    seeds = max(2, math.floor((z * seed_sd / difference) ** 2))
    while power(difference, seed_sd, seeds, alpha) < target:
        seeds += 1
        if seeds > MAX_SEEDS:
            raise UserError(f"more than {MAX_SEEDS:,} seeds would be needed to detect {difference} with SD {seed_sd}.")
    return seeds


def spread(sizes: Iterable[float]) -> float:
    """Sxx of log10(sizes): each seed's slope is fitted through one point per size."""
    x = np.log10(np.asarray(sorted(set(sizes)), dtype=float))
    return float(np.sum((x - x.mean()) ** 2)) if len(x) else 0.0


def rescaled_sd(seed_sd: float, measured_sizes: Iterable[float], planned_sizes: Iterable[float]) -> float:
    """The SD at the planned sizes of a slope whose SD was `seed_sd` at the measured ones."""
    measured, planned = spread(measured_sizes), spread(planned_sizes)
    if planned == 0:
        raise UserError("--detect needs a sweep with two or more data sizes: one size gives no slope.")
    return seed_sd * math.sqrt(measured / planned)


@dataclass(frozen=True)
class Measured:
    """One low − high difference of an earlier report: where, its seed-to-seed SD, and its sizes."""

    target: str
    series: str
    metric: str
    split: str
    seed_sd: float
    seeds: int
    sizes: tuple[float, ...]


def from_report(folder: Path, targets: set[str]) -> list[Measured]:
    """The low − high rows of `folder`'s tables/scaling_fit for `targets`, each with the sizes its
    series was run at (tables/gains), on each target's headline split (test where it has one)."""
    from xfer_scale.report.groups import LOW_HIGH  # here: the report package loads plotting, which plan never needs

    tables = folder / "tables"
    try:
        fits = pd.read_parquet(tables / "scaling_fit.parquet")
        gains = pd.read_parquet(tables / "gains.parquet", columns=["series", "target_task", "intermediate_examples"])
    except (OSError, ValueError) as error:
        raise UserError(f"--from-report {folder}: cannot read its tables ({error}); pass the --out folder of "
                        "`xfer-scale report`.") from None
    rows = fits[(fits["group"] == LOW_HIGH) & fits["target_task"].isin(targets) & fits["slope_std"].notna()]
    splits = {t: ("test" if "test" in set(s) else min(s)) for t, s in rows.groupby("target_task")["split"]}
    rows = rows[rows["split"] == rows["target_task"].map(splits)]
    if rows.empty:
        raise UserError(
            f"--from-report {folder}: no low-high slope with a seed SD (2 or more seeds) for {', '.join(sorted(targets))}; "
            f"its scaling_fit has {', '.join(sorted(set(fits['target_task']))) or 'no targets'}. Use --seed-sd X."
        )
    sizes = gains[gains["intermediate_examples"] > 0].groupby(["series", "target_task"])["intermediate_examples"].unique()
    return [
        Measured(r.target_task, r.series, r.metric, r.split, float(r.slope_std), int(r.n_seeds),
                 tuple(float(s) for s in sorted(sizes.get((r.series, r.target_task), []))))
        for r in rows.itertuples(index=False)
    ]
