"""Tables and sentences cut for a reader rather than for analysis, shared by report.md, the plots and
the terminal summary so all show the same numbers the same way.

Arms and series are hashes; a reader tells them apart by the settings that differ, so views show
those settings, drop the ones that are constant, and fall back to the hash only where the settings
shown leave two rows looking the same.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from xfer_scale.report.arms import ARM, ARM_COLUMNS, SERIES, SERIES_COLUMNS, SETTINGS
from xfer_scale.report.groups import ALL, AVERAGED_GROUPS, GROUP_LABELS, HIGH, LOW, LOW_HIGH, group_sort_key
from xfer_scale.report.resource_model import INTERACTION, POOLED, UNSEEN

READABLE = {
    "target_task": "target",
    "intermediate_task": "intermediate",
    "intermediate_examples": "examples",
    "intermediate_budget": "budget",
    "intermediate_subsample_seed": "subsample seed",
    "model_revision": "revision",
}
# settings a view shows only where they vary
VARYING = ["model", "experiment", *SETTINGS]


def plus_minus(mean: float, ci: float) -> str:
    """A mean with its CI half-width, or the mean alone when one seed gives no interval."""
    return f"{mean:+.2f}" if math.isnan(ci) else f"{mean:+.2f} ± {ci:.2f}"


def headline_fits(fits: pd.DataFrame, splits: dict[str, str]) -> pd.DataFrame:
    """The slopes report.md and the terminal lead with: each target's headline split only."""
    return fits[fits["split"] == fits["target_task"].map(splits)]


def drop_constant(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns with one value (one model, one budget) only repeat what the overview says."""
    return frame.drop(columns=[c for c in columns if c in frame and frame[c].nunique(dropna=False) <= 1])


def readable_settings(view: pd.DataFrame, key: str, labels: list[str]) -> pd.DataFrame:
    """Varying settings in, constant ones out; the hash `key` only where the `labels` left do not
    tell two rows apart (arms that differ in a setting the results do not spell out)."""
    view = drop_constant(view, VARYING)
    if not view.duplicated([c for c in labels if c in view]).any():
        view = view.drop(columns=key)
    return view.rename(columns=READABLE)


def series_labels(frame: pd.DataFrame) -> pd.Series:
    """A label per row of a table with series: intermediate task (model), the settings that vary in
    `frame`, and the series hash where those leave two series with one label."""
    varying = [c for c in VARYING if c in frame and c != "model" and frame[c].nunique(dropna=False) > 1]

    def label(row: pd.Series) -> str:
        settings = "".join(f"; {READABLE.get(c, c)}={row[c]}" for c in varying)
        return f"{row['intermediate_task']} ({row['model']}{settings})"

    labels = frame.apply(label, axis=1) if len(frame) else pd.Series(index=frame.index, dtype=object)
    ambiguous = frame.groupby(labels)[SERIES].transform("nunique") > 1
    return labels.where(~ambiguous, labels + " [series " + frame[SERIES].str[:8] + "]")


def fit_view(fits: pd.DataFrame) -> pd.DataFrame:
    view = fits.assign(_series=pd.factorize(fits[SERIES])[0])
    view = view.sort_values(["target_task", "_series", "metric", "group"], key=group_sort_key, kind="stable")
    view = view.assign(group=view["group"].map(GROUP_LABELS))
    view = view.rename(columns={
        "slope": "b (points per 10x)", "slope_ci95": "95% CI ±", "n_seeds": "seeds", "n_fractions": "sizes",
    })
    labels = ["target_task", *SERIES_COLUMNS, "metric", "split", "group"]
    columns = [SERIES, *labels, "b (points per 10x)", "95% CI ±", "seeds", "sizes"]
    return readable_settings(drop_constant(view[columns], ["split"]), SERIES, labels)


def group_view(block: pd.DataFrame) -> pd.DataFrame:
    """Gains of the groups side by side, one row per arm: the table a reader scans for the trend."""
    cells = block.assign(gain=[plus_minus(m, c) for m, c in zip(block["mean"], block["ci95"], strict=True)])
    wide = cells.pivot(index=ARM, columns="group", values="gain")
    n_languages = block.groupby("group")["n_languages"].max()
    headers = {g: f"{GROUP_LABELS[g]}, {n_languages[g]} lang." for g in AVERAGED_GROUPS if g in wide.columns}
    wide = wide[list(headers)].rename(columns=headers)
    wide["seeds"] = block.groupby(ARM)["n_seeds"].max()
    view = block.drop_duplicates(ARM).set_index(ARM)[ARM_COLUMNS].join(wide).reset_index()
    view["fraction"] = view["intermediate_fraction"].map("{:g}".format)
    labels = [*SERIES_COLUMNS, "fraction", "intermediate_examples"]
    return readable_settings(view[[ARM, *labels, *headers.values(), "seeds"]], ARM, labels)


def missing_view(missing: pd.DataFrame) -> pd.DataFrame:
    """One line per baseline run to do: model, target, seed (and baseline key where several); with
    what it would fill."""
    def joined(s: pd.Series) -> str:
        return " ".join(sorted(set(map(str, s))))

    view = missing.groupby(["model", "target_task", "baseline_key", "seed"], as_index=False).agg(
        languages=("language", joined), splits=("split", joined), metrics=("metric", joined)
    )
    return drop_constant(view, ["baseline_key"])


def headline_sentences(fits: pd.DataFrame) -> list[str]:
    """Per target, series and metric: the slopes, then the answer to the sweep's question, the
    low − high difference, and whether its interval excludes 0."""
    blocks: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
    # plain records: a sub-frame per block cost more than the sentence (a sweep has hundreds)
    for row in fits.assign(_label=series_labels(fits)).to_dict("records"):
        blocks.setdefault((row["target_task"], row["_label"], row[SERIES], row["metric"]), {})[row["group"]] = row
    sentences = []
    for (target, label, _, metric), rows in sorted(blocks.items()):
        slopes = [
            f"{GROUP_LABELS[g]} b = {plus_minus(rows[g]['slope'], rows[g]['slope_ci95'])}"
            for g in (LOW, HIGH, ALL) if g in rows
        ]
        seeds = int(max(r["n_seeds"] for r in rows.values()))
        sentences.append(
            f"**{target}** ← {label}, {metric} ({seeds} seed{'s' if seeds > 1 else ''}): "
            + "; ".join(slopes) + ". " + _difference_phrase(rows.get(LOW_HIGH))
        )
    return sentences


def _difference_phrase(row: Mapping[str, Any] | None) -> str:
    if row is None:
        return "No low − high difference: it needs both low- and high-resource languages with gains."
    text = f"Low − high = {plus_minus(row['slope'], row['slope_ci95'])} points per tenfold data"
    if math.isnan(row["slope_ci95"]):
        return text + f" from {int(row['n_seeds'])} seed: no interval, so no claim either way."
    if abs(row["slope"]) <= row["slope_ci95"]:
        return text + ": the 95% interval includes 0, no detectable difference between the groups."
    more = "low" if row["slope"] > 0 else "high"
    return text + f": the 95% interval excludes 0, size matters more for {more}-resource languages."


def resource_sentences(model: pd.DataFrame, slopes: pd.DataFrame) -> list[str]:
    """Per target (and `all`, pooled) and series: the x:r estimate with its interval and whether it
    includes 0; then the slope of the languages XLM-R never saw, which the model leaves out.

    `slopes` (tables/language_slopes) names the unseen languages.
    """
    if model.empty:
        return []
    rows = model.assign(_label=series_labels(model.assign(**{SERIES: model[SERIES].str.split(",").str[0]})))
    sentences = []
    for row in rows[rows["term"] == INTERACTION].to_dict("records"):
        target = "all targets (pooled)" if row["target"] == POOLED else row["target"]
        sentences.append(
            f"**{target}** ← {row['_label']}, {row['metric']} ({_counted(row)}): x:r = {row['estimate']:+.2f} points "
            f"per tenfold intermediate data per SD more pretraining data (1 SD = ×{10 ** row['r_log10_sd']:.3g} "
            f"CC-100 tokens), 95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f}; " + _interaction_verdict(row)
        )
    for row in rows[rows["term"] == UNSEEN].to_dict("records"):
        unseen = slopes[(slopes[SERIES] == row[SERIES]) & (slopes["target_task"] == row["target"])
                        & (slopes["in_pretraining"] == False)]  # noqa: E712 (a nullable boolean column)
        names = ", ".join(sorted(set(unseen["language"])))
        seeds = int(row["n_seeds"])
        interval = ("no interval from 1 seed" if seeds < 2
                    else f"95% CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f} over {seeds} seeds")
        sentences.append(
            f"**{row['target']}** ← {row['_label']}, {row['metric']}: languages XLM-R never saw ({names}), left out "
            f"of the model: slope b = {row['estimate']:+.2f} points per tenfold data ({interval})."
        )
    return sentences


def _counted(row: Mapping[str, Any]) -> str:
    seeds, languages_ = int(row["n_seeds"]), int(row["n_languages"])
    return f"{seeds} seed{'s' if seeds > 1 else ''}, {languages_} languages with CC-100 data"


def _interaction_verdict(row: Mapping[str, Any]) -> str:
    caveat = "" if row["converged"] else " (the fit did not converge: read it with care)"
    if math.isnan(row["ci_low"]):
        return "no interval: the fit is degenerate (gains without spread between languages or seeds), no claim either way."
    if row["ci_low"] <= 0 <= row["ci_high"]:
        return "the interval includes 0, no detectable dependence of the scaling on pretraining data" + caveat + "."
    which = "less" if row["estimate"] < 0 else "more"
    return f"the interval excludes 0: more intermediate data helps the languages XLM-R saw {which} of more{caveat}."


def saturation_sentences(table: pd.DataFrame) -> list[str]:
    """Per target, series and group: whether more data is still helping at the largest size, with
    the evidence (AICs, examples to 90% of the plateau and its interval)."""
    if table.empty:
        return []
    rows = table.assign(_label=series_labels(table))
    rows = rows.sort_values(["target_task", "_label", "group"], key=group_sort_key, kind="stable")
    sentences = []
    for row in rows[rows["group"].isin([LOW, HIGH, ALL])].to_dict("records"):
        head = f"**{row['target_task']}** ← {row['_label']}, {GROUP_LABELS[row['group']]}"
        if pd.isna(row["aic_saturating"]):
            sentences.append(f"{head}: the saturating curve could not be fitted; {row['verdict']}.")
            continue
        interval = ("" if math.isnan(row["examples_90_ci_low"])
                    else f"; 95% bootstrap interval over seeds {_examples(row['examples_90_ci_low'])} to "
                         f"{_examples(row['examples_90_ci_high'])}")
        if row["examples_90"] > row["examples_max"]:  # the plateau is an extrapolation, often absurd
            curve = (f"the saturating fit has no plateau within the sizes run (90% of it would come at "
                     f"{_examples(row['examples_90'])} examples, an extrapolation{interval})")
        elif row["examples_90"] < row["examples_min"]:
            curve = (f"the saturating fit is flat over the sizes run at {row['plateau']:+.2f} points (90% of it "
                     f"before the smallest size, at {_examples(row['examples_90'])} examples{interval})")
        else:
            curve = (f"the saturating fit plateaus at {row['plateau']:+.2f} points and reaches 90% of it at "
                     f"{_examples(row['examples_90'])} examples{interval}")
        sentences.append(
            f"{head}: {row['verdict']} at {_examples(row['examples_max'])} examples. AIC log-linear "
            f"{row['aic_loglinear']:.1f}, saturating {row['aic_saturating']:.1f}; {curve}."
        )
    return sentences


def _examples(value: float) -> str:
    """Examples as a count; beyond a billion (a bootstrap's unidentified plateau) in powers of ten."""
    if math.isinf(value):
        return "∞"
    return f"{value:.2g}" if value >= 1e9 else f"{value:,.0f}"
