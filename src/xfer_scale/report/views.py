"""Tables cut for a reader rather than for analysis, shared by report.md and the terminal summary so
both show the same numbers the same way.
"""

from __future__ import annotations

import math

import pandas as pd

from xfer_scale.report.groups import AVERAGED_GROUPS, GROUP_LABELS, group_sort_key


def plus_minus(mean: float, ci: float) -> str:
    """A mean with its CI half-width, or the mean alone when one seed gives no interval."""
    return f"{mean:+.2f}" if math.isnan(ci) else f"{mean:+.2f} ± {ci:.2f}"


def headline_fits(fits: pd.DataFrame, splits: dict[str, str]) -> pd.DataFrame:
    """The slopes report.md and the terminal lead with: each target's headline split only."""
    return fits[fits["split"] == fits["target_task"].map(splits)]


def drop_constant(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns with one value (one model, one split) only repeat what the overview says."""
    return frame.drop(columns=[c for c in columns if frame[c].nunique() <= 1])


def fit_view(fits: pd.DataFrame) -> pd.DataFrame:
    view = fits.sort_values(["target_task", "intermediate_task", "model", "metric", "group"], key=group_sort_key)
    view = view.assign(group=view["group"].map(GROUP_LABELS))
    view = view.rename(columns={
        "target_task": "target", "intermediate_task": "intermediate", "slope": "b (points per 10x)",
        "slope_se": "SE", "slope_ci95": "95% CI ±", "n_points": "points", "n_fractions": "sizes",
    })
    columns = [
        "target", "intermediate", "model", "metric", "split", "group", "b (points per 10x)", "SE", "95% CI ±", "points", "sizes"
    ]
    return drop_constant(view[columns], ["model", "split"])


def group_view(block: pd.DataFrame) -> pd.DataFrame:
    """Gains of the groups side by side, one row per data size: the table a reader scans for the trend."""
    index = ["model", "intermediate_task", "intermediate_fraction", "intermediate_examples"]
    cells = block.assign(gain=[plus_minus(m, c) for m, c in zip(block["mean"], block["ci95"], strict=True)])
    wide = cells.pivot(index=index, columns="group", values="gain")
    n_languages = block.groupby("group")["n_languages"].max()
    headers = {g: f"{GROUP_LABELS[g]}, {n_languages[g]} lang." for g in AVERAGED_GROUPS if g in wide.columns}
    wide = wide[list(headers)].rename(columns=headers)
    wide["seeds"] = block.groupby(index)["n_seeds"].max()
    view = wide.reset_index().rename(columns={"intermediate_task": "intermediate", "intermediate_examples": "examples"})
    view["fraction"] = view["intermediate_fraction"].map("{:g}".format)
    columns = ["model", "intermediate", "fraction", "examples", *headers.values(), "seeds"]
    return drop_constant(view[columns], ["model"])


def missing_view(missing: pd.DataFrame) -> pd.DataFrame:
    """One line per baseline run to do: model, target, seed; with what it would fill."""
    def joined(s: pd.Series) -> str:
        return " ".join(sorted(set(map(str, s))))

    return missing.groupby(["model", "target_task", "seed"], as_index=False).agg(
        languages=("language", joined), splits=("split", joined), metrics=("metric", joined)
    )
