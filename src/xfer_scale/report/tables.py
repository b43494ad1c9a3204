"""From per-language scores to gains over the matching baseline and to language-group averages.

Every table here is tidy (one row per observation), so the files under tables/ and the views that
report.md and the terminal show are cut from the same numbers. They are keyed by arm: only seeds of
one arm are pooled.
"""

from __future__ import annotations

import pandas as pd

from xfer_scale.report.arms import ARM, BASELINE_KEY, BASELINE_TASK
from xfer_scale.report.groups import ALL, HIGH, LOW, TRAINING, UNKNOWN
from xfer_scale.report.stats import aggregate

SUMMARY_KEYS = [ARM, "target_task", "language", "split", "metric"]
# what a baseline shares with the runs it is the baseline of: the key holds model, recipe, benchmark...
MATCH_KEYS = [BASELINE_KEY, "seed", "target_task", "language", "split", "metric"]
MISSING_KEYS = [BASELINE_KEY, "model", "target_task", "language", "split", "metric", "seed"]
GROUP_KEYS = [ARM, "target_task", "split", "metric", "group"]
GROUP_SEED_KEYS = [*GROUP_KEYS, "seed"]


def compute_gains(results: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-seed gain over the `none` run with the same baseline key and seed; and the cells without one.

    The duplicate check has left at most one baseline per key and seed, so the match is 1:1 and a
    baseline of another recipe (another key) never shifts a gain.
    """
    is_baseline = results["intermediate_task"] == BASELINE_TASK
    baseline = results.loc[is_baseline, [*MATCH_KEYS, "value"]].rename(columns={"value": "baseline_value"})
    merged = results[~is_baseline].merge(baseline, on=MATCH_KEYS, how="left", validate="many_to_one")
    matched = merged["baseline_value"].notna()
    gains = merged[matched].assign(gain=lambda d: d["value"] - d["baseline_value"])
    missing = (
        merged[~matched]
        .groupby(MISSING_KEYS, as_index=False)
        .agg(
            affected_runs=("run_id", "nunique"),
            intermediate_tasks=("intermediate_task", lambda s: " ".join(sorted(set(s)))),
        )
    )
    return gains.reset_index(drop=True), missing


def group_means_per_seed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per seed, the mean of `column` over the zero-shot languages of each group (and over all)."""
    zero_shot = frame.loc[frame["group"] != TRAINING, [*GROUP_SEED_KEYS, column, "language"]]  # narrow: copied 4x
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


def headline_split(frame: pd.DataFrame, target: str) -> str:
    """The split plots and report.md show for a target: test where it has one (as XTREME reports), else dev."""
    splits = set(frame.loc[frame["target_task"] == target, "split"])
    return "test" if "test" in splits or not splits else sorted(splits)[0]
