"""From per-language scores to the sweep's answer: gains over the baseline, group averages, slopes.

Every table here is tidy (one row per observation), so the files under tables/ and the views that
report.md and the terminal show are cut from the same numbers.
"""

from __future__ import annotations

import pandas as pd

from xfer_scale.report.groups import ALL, HIGH, LOW, TRAINING, UNKNOWN
from xfer_scale.report.stats import aggregate, fit_log_slope

BASELINE_TASK = "none"

CONFIG_KEYS = ["model", "intermediate_task", "intermediate_fraction", "intermediate_examples"]
SUMMARY_KEYS = [*CONFIG_KEYS, "target_task", "language", "split", "metric"]
BASELINE_KEYS = ["model", "target_task", "language", "split", "metric", "seed"]
GROUP_SEED_KEYS = [*CONFIG_KEYS, "target_task", "split", "metric", "group", "seed"]
GROUP_KEYS = [*CONFIG_KEYS, "target_task", "split", "metric", "group"]
FIT_KEYS = ["model", "intermediate_task", "target_task", "split", "metric", "group"]


def compute_gains(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed gain over the `none` run with the same model, target, seed; and the cells without one.

    Two baseline runs of the same cell (e.g. two experiments) are averaged, so the match stays 1:1.
    """
    baseline = (
        results[results["intermediate_task"] == BASELINE_TASK]
        .groupby(BASELINE_KEYS, as_index=False)["value"]
        .mean()
        .rename(columns={"value": "baseline_value"})
    )
    treated = results[results["intermediate_task"] != BASELINE_TASK]
    merged = treated.merge(baseline, on=BASELINE_KEYS, how="left", validate="many_to_one")
    matched = merged["baseline_value"].notna()
    gains = merged[matched].assign(gain=lambda d: d["value"] - d["baseline_value"])
    missing = (
        merged[~matched]
        .groupby(BASELINE_KEYS, as_index=False)
        .agg(
            affected_runs=("run_id", "nunique"),
            intermediate_tasks=("intermediate_task", lambda s: " ".join(sorted(set(s)))),
        )
    )
    return gains.reset_index(drop=True), missing


def group_means_per_seed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per seed, the mean of `column` over the zero-shot languages of each group (and over all)."""
    zero_shot = frame[frame["group"] != TRAINING]
    parts = [zero_shot.assign(group=ALL)] + [zero_shot[zero_shot["group"] == g] for g in (LOW, HIGH, UNKNOWN)]
    return (
        pd.concat(parts, ignore_index=True)
        .groupby(GROUP_SEED_KEYS, as_index=False)
        .agg(value=(column, "mean"), n_languages=("language", "nunique"))
    )


def group_table(scores: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    """Group averages of scores and of gains, aggregated over seeds, in one tidy table."""
    parts = []
    per_seed_means = (("score", group_means_per_seed(scores, "value")), ("gain", group_means_per_seed(gains, "gain")))
    for quantity, per_seed in per_seed_means:
        if per_seed.empty:
            continue
        stats = aggregate(per_seed, GROUP_KEYS, "value")
        n_languages = per_seed.groupby(GROUP_KEYS, as_index=False)["n_languages"].max()
        parts.append(stats.merge(n_languages, on=GROUP_KEYS).assign(quantity=quantity))
    if not parts:
        return pd.DataFrame(columns=[*GROUP_KEYS, "quantity", "n_languages", "mean", "std", "n_seeds", "ci95"])
    table = pd.concat(parts, ignore_index=True)
    return table[[*GROUP_KEYS, "quantity", "n_languages", "mean", "std", "n_seeds", "ci95"]]


def scaling_fits(gains: pd.DataFrame) -> pd.DataFrame:
    """Slope of gain on log10(intermediate examples) per target and language group, over seed-level points."""
    per_seed = group_means_per_seed(gains, "gain")
    per_seed = per_seed[per_seed["intermediate_examples"] > 0]
    rows = []
    for key, points in per_seed.groupby(FIT_KEYS, sort=True):
        fit = fit_log_slope(points["intermediate_examples"].to_numpy(), points["value"].to_numpy())
        rows.append(
            dict(
                zip(FIT_KEYS, key, strict=True),
                n_fractions=points["intermediate_examples"].nunique(),
                examples_min=int(points["intermediate_examples"].min()),
                examples_max=int(points["intermediate_examples"].max()),
                **fit,
            )
        )
    columns = [
        *FIT_KEYS, "n_fractions", "examples_min", "examples_max", "n_points", "intercept", "slope", "slope_se", "slope_ci95"
    ]
    return pd.DataFrame(rows, columns=columns)


def headline_split(frame: pd.DataFrame, target: str) -> str:
    """The split plots and report.md show for a target: test where it has one (as XTREME reports), else dev."""
    splits = set(frame.loc[frame["target_task"] == target, "split"])
    return "test" if "test" in splits or not splits else sorted(splits)[0]
