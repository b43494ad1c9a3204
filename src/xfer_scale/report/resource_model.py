"""Does more intermediate data help the languages XLM-R saw less of more? A mixed model per target.

The low/high split of Joshi classes throws away what matters for XLM-R: how much of each language
it was pretrained on (CC-100 tokens span from none to tens of billions, and class 2 holds both).
So per series and target the per-seed, per-language gains are fitted with

    gain ~ x + r + x:r,   random intercept per language (REML, statsmodels MixedLM)

x = log10(intermediate examples), r = log10(CC-100 tokens) z-scored over the fit's languages (ddof
0). `x:r` is the answer: points per tenfold intermediate data that a language gains per standard
deviation more pretraining data; below 0, scaling helps the less-pretrained languages more. A
language's own level (its baseline gap, its script) is its random intercept, so it does not pass for
an effect of pretraining data. One fit more per series pools the targets: a fixed effect per
target and a random intercept per (target, language).

Languages XLM-R never saw have no r: they are never imputed, but get their own row (term
`unseen`), the per-seed slope of their mean gain with a t-interval over seeds. Languages missing
from languages.csv are in neither.

The seeds' points share their seed's baseline; the model has no seed effect (as specified), so
its intervals are those of a model that treats a language's points as exchangeable within it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.tools.sm_exceptions import ModelWarning

from xfer_scale import languages
from xfer_scale.report.arms import SERIES, SERIES_COLUMNS
from xfer_scale.report.groups import TRAINING
from xfer_scale.report.stats import ci95_half_width, log_slope

POOLED = "all"  # the target of the fit pooled over targets
INTERACTION, UNSEEN = "x:r", "unseen"
TERMS = ("Intercept", "x", "r", INTERACTION)
COLUMNS = [
    "target", SERIES, "split", "metric", "term", "estimate", "ci_low", "ci_high", "p_value",
    "n_obs", "n_languages", "n_seeds", "converged", "r_log10_mean", "r_log10_sd",
]
LINE_COLUMNS = ["target", SERIES, "split", "metric", "log10_tokens", "slope", "ci_low", "ci_high"]
MIN_LANGUAGES = 3  # fewer give a random-intercept variance from one or two groups, and r two values at most
LINE_POINTS = 50
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class ResourceModel:
    """The fits (`table`, one row per term) and the slope in x each implies along r (`line`, for the plot)."""

    table: pd.DataFrame
    line: pd.DataFrame


def headline_points(gains: pd.DataFrame, splits: dict[str, str], metric_of: dict[str, str]) -> pd.DataFrame:
    """Per-seed, per-language gains of each target's headline split and metric, English left out
    (it is the training language), with x, the language's CC-100 tokens (NaN where it has none) and
    whether XLM-R saw it (NA for a language missing from languages.csv: neither seen nor unseen)."""
    chosen = gains[
        (gains["split"] == gains["target_task"].map(splits))
        & (gains["metric"] == gains["target_task"].map(metric_of))
        & (gains["group"] != TRAINING)
        & (gains["intermediate_examples"] > 0)
    ]
    table = languages.languages()
    codes = chosen["language"].unique()
    tokens = {c: (table[c].cc100_tokens_m if c in table else None) for c in codes}
    seen = {c: (table[c].in_pretraining if c in table else pd.NA) for c in codes}
    return chosen.assign(
        x=np.log10(chosen["intermediate_examples"].astype(float)),
        cc100_tokens_m=chosen["language"].map(tokens).astype(float),
        in_pretraining=chosen["language"].map(seen).astype("boolean"),
    )


def resource_models(points: pd.DataFrame, series: pd.DataFrame) -> ResourceModel:
    """A fit per series and target, one pooled over targets per series settings, and the unseen rows;
    `series` describes each series (`arms.describe`) for the readable settings of each row."""
    rows: list[dict] = []
    lines: list[pd.DataFrame] = []
    seen, unseen = points[points["in_pretraining"].eq(True)], points[points["in_pretraining"].eq(False)]
    for (name, target, split, metric), block in seen.groupby([SERIES, "target_task", "split", "metric"], sort=True):
        keys = {"target": target, SERIES: name, "split": split, "metric": metric}
        fitted = _fit(block, pooled=False)
        if fitted is not None:
            rows += [{**keys, **row} for row in fitted[0]]
            lines.append(fitted[1].assign(**keys))
    rows += _pooled(seen)
    rows += _unseen(unseen)
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"converged": "boolean"})
    line = pd.concat(lines, ignore_index=True)[LINE_COLUMNS] if lines else pd.DataFrame(columns=LINE_COLUMNS)
    return ResourceModel(_with_settings(table, series), line)


def _with_settings(table: pd.DataFrame, series: pd.DataFrame) -> pd.DataFrame:
    """The readable settings of each row's series after the columns above; a pooled row's (several
    series, one per target, comma-joined) are those its series share, so its first's."""
    first = table[SERIES].str.split(",").str[0]
    described = series[[SERIES, *SERIES_COLUMNS]].rename(columns={SERIES: "_first"})
    return table.assign(_first=first).merge(described, on="_first", how="left").drop(columns="_first")


def design(block: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """The fit's frame: r = log10(tokens) z-scored over the fit's distinct languages (ddof 0), and
    the mean and SD of log10(tokens) it was scaled by."""
    per_language = np.log10(block.drop_duplicates("language")["cc100_tokens_m"].to_numpy(dtype=float))
    mean, sd = float(per_language.mean()), float(per_language.std(ddof=0))
    frame = block.assign(
        r=(np.log10(block["cc100_tokens_m"].to_numpy(dtype=float)) - mean) / sd,
        cluster=block["target_task"].astype(str) + "/" + block["language"].astype(str),
    )
    return frame, mean, sd


def _fit(block: pd.DataFrame, pooled: bool) -> tuple[list[dict], pd.DataFrame] | None:
    """MixedLM by REML; None where the data cannot identify it (too few languages or sizes)."""
    if block["language"].nunique() < MIN_LANGUAGES or block["x"].nunique() < 2:
        return None
    frame, mean, sd = design(block)
    formula = "gain ~ C(target_task) + x * r" if pooled else "gain ~ x * r"
    with warnings.catch_warnings():
        # a variance at its boundary (0), a singular random-effects covariance, a slow optimiser:
        # recorded in `converged`, not printed once per fit
        warnings.simplefilter("ignore", ModelWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            result = smf.mixedlm(formula, frame, groups=frame["cluster"]).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError):
            return None
    params, bse = result.fe_params, result.bse_fe
    counts = {
        "n_obs": len(frame), "n_languages": frame["language"].nunique(), "n_seeds": frame["seed"].nunique(),
        "converged": bool(result.converged), "r_log10_mean": mean, "r_log10_sd": sd,
    }
    rows = [
        {"term": term, "estimate": float(params[term]), "ci_low": float(params[term] - Z95 * bse[term]),
         "ci_high": float(params[term] + Z95 * bse[term]), "p_value": float(result.pvalues[term]), **counts}
        for term in params.index
    ]
    return rows, _slope_line(result.cov_params(), params, mean, sd, frame)


def _slope_line(cov: pd.DataFrame, params: pd.Series, mean: float, sd: float, frame: pd.DataFrame) -> pd.DataFrame:
    """d gain / d x = b_x + b_xr * r along the fitted languages' range of log10 tokens, with its Wald band."""
    tokens = np.log10(frame["cc100_tokens_m"].to_numpy(dtype=float))
    grid = np.linspace(tokens.min(), tokens.max(), LINE_POINTS)
    r = (grid - mean) / sd
    slope = params["x"] + params[INTERACTION] * r
    variance = (cov.loc["x", "x"] + r**2 * cov.loc[INTERACTION, INTERACTION]
                + 2 * r * cov.loc["x", INTERACTION])
    half = Z95 * np.sqrt(variance)
    return pd.DataFrame({"log10_tokens": grid, "slope": slope, "ci_low": slope - half, "ci_high": slope + half})


def _pooled(seen: pd.DataFrame) -> list[dict]:
    """Per set of series that differ only in their target (the same readable settings), one fit
    over their targets (2 or more).

    Where a target has two series with the same readable settings (they differ in a setting the
    results do not spell out), there is no telling which to pool: no pooled fit.
    """
    rows = []
    for _, block in seen.groupby(SERIES_COLUMNS, sort=True, dropna=False):
        per_target = block.groupby("target_task")[SERIES].nunique()
        if len(per_target) < 2 or (per_target > 1).any():
            continue
        metrics = block.drop_duplicates("target_task")["metric"]
        fitted = _fit(block, pooled=True)
        if fitted is None:
            continue
        keys = {"target": POOLED, SERIES: ",".join(sorted(block[SERIES].unique())),
                "split": ",".join(sorted(block["split"].unique())), "metric": ",".join(sorted(set(metrics)))}
        rows += [{**keys, **row} for row in fitted[0] if row["term"] in TERMS]
    return rows


def _unseen(unseen: pd.DataFrame) -> list[dict]:
    """Per series and target: the per-seed slope of the unseen languages' mean gain on x, with a
    t-interval over seeds (a two-sided one-sample t-test for its p-value)."""
    rows = []
    for (name, target, split, metric), block in unseen.groupby([SERIES, "target_task", "split", "metric"], sort=True):
        means = block.groupby(["seed", "x"], as_index=False)["gain"].mean()
        slopes = np.array([log_slope(10 ** s["x"].to_numpy(), s["gain"].to_numpy())[0]
                           for _, s in means.groupby("seed")])
        slopes = slopes[~np.isnan(slopes)]
        if not len(slopes):
            continue
        n = len(slopes)
        std = float(np.std(slopes, ddof=1)) if n > 1 else float("nan")
        half = float(ci95_half_width(np.array([std]), np.array([n]))[0])
        with np.errstate(divide="ignore", invalid="ignore"):  # identical seeds: t infinite (or 0/0)
            t = slopes.mean() / (std / np.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1)) if n > 1 else float("nan")
        rows.append({
            "target": target, SERIES: name, "split": split, "metric": metric, "term": UNSEEN,
            "estimate": float(slopes.mean()), "ci_low": float(slopes.mean() - half), "ci_high": float(slopes.mean() + half),
            "p_value": p, "n_obs": len(block), "n_languages": block["language"].nunique(), "n_seeds": n,
            "converged": pd.NA, "r_log10_mean": float("nan"), "r_log10_sd": float("nan"),
        })
    return rows
