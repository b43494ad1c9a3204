"""`xfer-scale report DIR... [--out DIR]`: from many runs' tidy results to the sweep's answer.

The question of a scaling sweep is whether more English intermediate data keeps improving zero-shot
transfer, above all for low-resource languages. So the report subtracts each run's no-intermediate
baseline (same model, target and seed: seeds then cancel), averages over language groups, and fits
gain = a + b*log10(examples): the slope b is the answer in points per tenfold data.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xfer_scale import languages
from xfer_scale.atomic import atomic_path, write_text
from xfer_scale.errors import UserError
from xfer_scale.results import RESULT_COLUMNS, RESULTS_FILE, write_frame

DEFAULT_OUT = Path("outputs/report")
BASELINE_TASK = "none"
TRAINING_LANGUAGE = "en"

CONFIG_KEYS = ["model", "intermediate_task", "intermediate_fraction", "intermediate_examples"]
SUMMARY_KEYS = [*CONFIG_KEYS, "target_task", "language", "split", "metric"]
BASELINE_KEYS = ["model", "target_task", "language", "split", "metric", "seed"]
GROUP_SEED_KEYS = [*CONFIG_KEYS, "target_task", "split", "metric", "group", "seed"]
GROUP_KEYS = [*CONFIG_KEYS, "target_task", "split", "metric", "group"]
FIT_KEYS = ["model", "intermediate_task", "target_task", "split", "metric", "group"]

# Language-level groups, and the averages built from them. English is the training language,
# so its score is not zero-shot: listed per language, never averaged.
LOW, HIGH, UNKNOWN, TRAINING, ALL = "low", "high", "unknown", "training", "all"
AVERAGED_GROUPS = (ALL, LOW, HIGH, UNKNOWN)
GROUP_LABELS = {
    ALL: "all zero-shot",
    LOW: f"low-resource (0-{languages.LOW_RESOURCE_MAX_CLASS})",
    HIGH: f"high-resource ({languages.LOW_RESOURCE_MAX_CLASS + 1}-5)",
    UNKNOWN: "unknown class",
}
GROUP_ORDER = {LOW: 0, HIGH: 1, UNKNOWN: 2, TRAINING: 3}
GROUP_COLORS = {ALL: "black", LOW: "tab:red", HIGH: "tab:blue", UNKNOWN: "tab:gray"}
# How report.md names the language table: a path that holds on every reader's machine.
TABLE_IN_PACKAGE = "xfer_scale/languages.csv"

# Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..30; beyond, a Cornish-Fisher expansion.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
    2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
    2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)
_Z975 = 1.959963984540054


@dataclass(frozen=True)
class Report:
    """What one `report` call produced, for the CLI to print and for tests to check."""

    out: Path
    markdown: Path
    tables: dict[str, pd.DataFrame]
    plots: list[Path]
    warnings: list[str]
    n_runs: int
    headline_splits: dict[str, str]


# --- statistics -----------------------------------------------------------------------------------


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


# --- loading --------------------------------------------------------------------------------------


def find_results(run_dirs: Sequence[Path]) -> list[Path]:
    """Every results.parquet under the directories, each file once even if directories overlap."""
    found: dict[Path, None] = {}
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise UserError(f"{run_dir} is not a directory: pass the output directories of `xfer-scale run`.")
        files = sorted(run_dir.rglob(RESULTS_FILE))
        if not files:
            raise UserError(
                f"no {RESULTS_FILE} under {run_dir}: pass a directory that holds finished runs "
                "(each run writes results.parquet into its run directory), or drop it from the list."
            )
        found.update(dict.fromkeys(f.resolve() for f in files))
    return list(found)


def read_results(path: Path) -> pd.DataFrame:
    """One run's tidy table, checked against the contract so mistakes name their file."""
    frame = pd.read_parquet(path)
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path} lacks the columns {', '.join(missing)} of the results contract: "
            "it was not written by `xfer-scale run`, or by an older version; re-run that run or remove the file."
        )
    try:
        return frame.astype(RESULT_COLUMNS)
    except (ValueError, TypeError) as error:
        raise UserError(f"{path}: a column does not have its contract type ({error}); re-run that run.") from error


def load_results(paths: Sequence[Path]) -> tuple[pd.DataFrame, int]:
    """All runs in one table; a run_id seen in several files (copied runs) keeps its first file's rows.

    Returns the table and how many duplicated run copies were dropped.
    """
    frames = [read_results(p).assign(_file=i) for i, p in enumerate(paths)]
    frame = pd.concat(frames, ignore_index=True)
    first_file = frame.groupby("run_id")["_file"].transform("min")
    duplicate_copies = frame.loc[frame["_file"] != first_file, ["run_id", "_file"]].drop_duplicates()
    frame = frame[frame["_file"] == first_file].drop(columns="_file")
    if frame.empty:
        raise UserError("the results files hold no rows: the runs evaluated nothing; check their logs.")
    return frame.reset_index(drop=True), len(duplicate_copies)


def language_group(code: str) -> str:
    """low / high / unknown by resource class; English is `training`, not a zero-shot language."""
    if code == TRAINING_LANGUAGE:
        return TRAINING
    row = languages.languages().get(code)
    if row is None:
        return UNKNOWN
    return LOW if languages.is_low_resource(code) else HIGH


def add_language_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Attach resource class and group per row, so every table can be filtered by them."""
    table = languages.languages()
    codes = frame["language"].unique()  # a few dozen codes, however many rows
    classes = {c: table[c].resource_class if c in table else pd.NA for c in codes}
    groups = {c: language_group(c) for c in codes}
    return frame.assign(
        resource_class=frame["language"].map(classes).astype("Int64"), group=frame["language"].map(groups)
    )


# --- the analysis ---------------------------------------------------------------------------------


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


# --- files ----------------------------------------------------------------------------------------


def write_table(frame: pd.DataFrame, directory: Path, table: str) -> None:
    """CSV for eyes and spreadsheets, parquet for exact types."""
    write_frame(frame, directory / f"{table}.csv")
    write_frame(frame, directory / f"{table}.parquet")


def safe_name(*parts: str) -> str:
    """A file name from task/metric names, which may hold characters file systems dislike."""
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(p)) for p in parts)


# --- plots ----------------------------------------------------------------------------------------


def _panels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(frame["model"], frame["intermediate_task"], strict=True)))


def _panel_title(model: str, task: str, several_models: bool) -> str:
    return f"{task} ({model})" if several_models else f"intermediate: {task}"


def plot_scaling(groups: pd.DataFrame, fits: pd.DataFrame, title: str, metric: str, path: Path) -> None:
    """Gain vs examples (log axis), one line per language group with 95% CI bars and its fitted line."""
    panels = _panels(groups)
    fig = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (model, task) in zip(axes, panels, strict=True):
        panel = groups[(groups["model"] == model) & (groups["intermediate_task"] == task)]
        for group in AVERAGED_GROUPS:
            points = panel[panel["group"] == group]
            if points.empty:
                continue
            _draw_group(ax, points.sort_values("intermediate_examples"), fits, model, task, group)
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("intermediate training examples (log scale)")
        ax.set_title(_panel_title(model, task, len({m for m, _ in panels}) > 1))
        ax.legend(fontsize="small")
    axes[0].set_ylabel(f"gain over baseline ({metric}, points)")
    fig.suptitle(title)
    _save(fig, path)


def _draw_group(ax, points: pd.DataFrame, fits: pd.DataFrame, model: str, task: str, group: str) -> None:
    fit = fits[(fits["model"] == model) & (fits["intermediate_task"] == task) & (fits["group"] == group)]
    slope = fit["slope"].iloc[0] if len(fit) else math.nan
    label = f"{GROUP_LABELS[group]}, b={slope:+.2f}" if not math.isnan(slope) else GROUP_LABELS[group]
    color = GROUP_COLORS[group]
    ax.errorbar(
        points["intermediate_examples"], points["mean"], yerr=points["ci95"].fillna(0.0),
        marker="o", capsize=3, color=color, label=label,
    )
    if not math.isnan(slope):
        xs = np.geomspace(points["intermediate_examples"].min(), points["intermediate_examples"].max(), 50)
        ax.plot(xs, fit["intercept"].iloc[0] + slope * np.log10(xs), linestyle="--", linewidth=1, color=color)


def plot_heatmap(gains: pd.DataFrame, title: str, path: Path) -> None:
    """Mean gain per language (rows, lowest resource class first) and fraction (columns)."""
    panels = _panels(gains)
    order = gains.drop_duplicates("language").assign(
        _rank=lambda d: d["group"].map(GROUP_ORDER), _class=lambda d: d["resource_class"].fillna(-1)
    ).sort_values(["_rank", "_class", "language"])
    rows = list(order["language"])
    labels = [
        _heatmap_label(c, g, k) for c, g, k in zip(order["language"], order["group"], order["resource_class"], strict=True)
    ]
    boundaries = np.flatnonzero(np.diff(order["_rank"].to_numpy())) + 0.5
    limit = float(np.abs(gains["mean"]).max()) or 1.0
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.85")
    fig = Figure(figsize=(1.2 + 3.2 * len(panels), 1.5 + 0.28 * len(rows)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (model, task) in zip(axes, panels, strict=True):
        grid = gains[(gains["model"] == model) & (gains["intermediate_task"] == task)].pivot_table(
            index="language", columns="intermediate_fraction", values="mean", aggfunc="mean"
        ).reindex(rows)
        values = grid.to_numpy(dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
        _annotate(ax, values, limit)
        for y in boundaries:
            ax.axhline(y, color="black", linewidth=1.2)
        ax.set_xticks(range(grid.shape[1]), [f"{f:g}" for f in grid.columns])
        ax.set_yticks(range(len(rows)), labels)
        ax.set_xlabel("intermediate fraction")
        ax.set_title(_panel_title(model, task, len({m for m, _ in panels}) > 1), fontsize="medium")
    fig.colorbar(image, ax=list(axes), label="mean gain (points)", shrink=0.8)
    fig.suptitle(title)
    _save(fig, path)


def _heatmap_label(code: str, group: str, klass: object) -> str:
    """Row label with the resource class, so the low-resource block is recognisable at a glance."""
    if group == TRAINING:
        return f"{code} (training)"
    return f"{code} ({'?' if pd.isna(klass) else klass})"


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def _annotate(ax, grid: np.ndarray, limit: float) -> None:
    """Cell values, white on dark cells so they stay legible."""
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=6, color=color)


# --- markdown -------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table (tabulate is not a dependency); floats with two decimals."""
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _pm(mean: float, ci: float) -> str:
    """A mean with its CI half-width, or the mean alone when one seed gives no interval."""
    return f"{mean:+.2f}" if math.isnan(ci) else f"{mean:+.2f} ± {ci:.2f}"


def _slope_phrase(fits: pd.DataFrame, group: str) -> str:
    row = fits[fits["group"] == group]
    if row.empty or math.isnan(row["slope"].iloc[0]):
        return ""
    r = row.iloc[0]
    return f"{GROUP_LABELS[group]} b = {_pm(r['slope'], r['slope_ci95'])} (n = {r['n_points']})"


def _headline_bullets(fits: pd.DataFrame) -> list[str]:
    """One sentence per target/intermediate task/metric: the slopes the sweep was run for."""
    bullets = []
    for (target, task, metric, model), block in fits.groupby(["target_task", "intermediate_task", "metric", "model"]):
        phrases = [p for p in (_slope_phrase(block, g) for g in (LOW, HIGH, ALL)) if p]
        if phrases:
            bullets.append(f"- **{target}** ← {task} ({model}), {metric}: " + "; ".join(phrases) + ".")
    return bullets


def _drop_constant(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns with one value (one model, one split) only repeat what the overview says."""
    return frame.drop(columns=[c for c in columns if frame[c].nunique() <= 1])


def _fit_view(fits: pd.DataFrame) -> pd.DataFrame:
    view = fits.sort_values(["target_task", "intermediate_task", "model", "metric", "group"], key=_group_sort_key)
    view = view.assign(group=view["group"].map(GROUP_LABELS))
    view = view.rename(columns={
        "target_task": "target", "intermediate_task": "intermediate", "slope": "b (points per 10x)",
        "slope_se": "SE", "slope_ci95": "95% CI ±", "n_points": "points", "n_fractions": "sizes",
    })
    columns = [
        "target", "intermediate", "model", "metric", "split", "group", "b (points per 10x)", "SE", "95% CI ±", "points", "sizes"
    ]
    return _drop_constant(view[columns], ["model", "split"])


def _group_sort_key(column: pd.Series) -> pd.Series:
    return column.map({ALL: -1, **GROUP_ORDER}) if column.name == "group" else column


def _group_view(block: pd.DataFrame) -> pd.DataFrame:
    """Gains of the groups side by side, one row per data size: the table a reader scans for the trend."""
    index = ["model", "intermediate_task", "intermediate_fraction", "intermediate_examples"]
    cells = block.assign(gain=[_pm(m, c) for m, c in zip(block["mean"], block["ci95"], strict=True)])
    wide = cells.pivot(index=index, columns="group", values="gain")
    n_languages = block.groupby("group")["n_languages"].max()
    headers = {g: f"{GROUP_LABELS[g]}, {n_languages[g]} lang." for g in AVERAGED_GROUPS if g in wide.columns}
    wide = wide[list(headers)].rename(columns=headers)
    wide["seeds"] = block.groupby(index)["n_seeds"].max()
    view = wide.reset_index().rename(columns={"intermediate_task": "intermediate", "intermediate_examples": "examples"})
    view["fraction"] = view["intermediate_fraction"].map("{:g}".format)
    columns = ["model", "intermediate", "fraction", "examples", *headers.values(), "seeds"]
    return _drop_constant(view[columns], ["model"])


def _missing_view(missing: pd.DataFrame) -> pd.DataFrame:
    """One line per baseline run to do: model, target, seed; with what it would fill."""
    def joined(s: pd.Series) -> str:
        return " ".join(sorted(set(map(str, s))))

    return missing.groupby(["model", "target_task", "seed"], as_index=False).agg(
        languages=("language", joined), splits=("split", joined), metrics=("metric", joined)
    )


@dataclass(frozen=True)
class _Section:
    """What report.md shows for one target: its split, and its plots as (caption, relative path)."""

    target: str
    split: str
    plots: list[tuple[str, str]]


def headline_fits(fits: pd.DataFrame, splits: dict[str, str]) -> pd.DataFrame:
    """The slopes report.md and the terminal lead with: each target's headline split only."""
    return fits[fits["split"] == fits["target_task"].map(splits)]


def render_markdown(
    results: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    sections: list[_Section],
    unknown: list[str],
    duplicate_copies: int,
) -> str:
    """report.md: the answer first, then per-target evidence, then what is missing and where the tables are."""
    fits, groups, missing = tables["scaling_fit"], tables["groups"], tables["missing_baselines"]
    lines = ["# Intermediate-task scaling report", "", _overview(results, duplicate_copies), ""]
    lines += _reading_guide()
    lines += ["## Is more intermediate data still helping?", ""]
    shown_fits = headline_fits(fits, {s.target: s.split for s in sections})
    bullets = _headline_bullets(shown_fits)
    lines += bullets or ["No slope could be fitted: it needs gains (so baselines) at two or more data sizes."]
    if not shown_fits.empty:
        lines += ["", markdown_table(_fit_view(shown_fits))]
    for section in sections:
        lines += ["", f"## {section.target} ({section.split})", ""]
        lines += [f"![{caption}]({rel})" for caption, rel in section.plots] or ["No gains to plot for this target."]
        shown = groups[
            (groups["target_task"] == section.target) & (groups["split"] == section.split) & (groups["quantity"] == "gain")
        ]
        for metric, block in shown.groupby("metric"):
            caption = f"Gain over the baseline by language group, {metric} (mean ± 95% CI over seeds):"
            lines += ["", caption, "", markdown_table(_group_view(block))]
    lines += _problems(missing, unknown)
    lines += _file_list()
    return "\n".join(lines) + "\n"


def _overview(results: pd.DataFrame, duplicate_copies: int) -> str:
    def listed(column: str) -> str:
        return ", ".join(map(str, sorted(results[column].unique())))

    text = (
        f"{results['run_id'].nunique()} runs · models: {listed('model')} · "
        f"intermediate tasks: {listed('intermediate_task')} · targets: {listed('target_task')} · seeds: {listed('seed')}."
    )
    if duplicate_copies:
        text += f" {duplicate_copies} copies of runs found more than once were counted once."
    return text


def _reading_guide() -> list[str]:
    k = languages.LOW_RESOURCE_MAX_CLASS
    return [
        "## How to read this",
        "",
        "- **Gain**: zero-shot score minus the score of the baseline run without intermediate training "
        "(`intermediate_task = none`) with the same model, target task and seed; points on XTREME's 0-100 scale.",
        f"- **Groups**: low-resource = classes 0-{k}, high-resource = classes {k + 1}-5 of Joshi et al. (2020), "
        f"as listed in `{TABLE_IN_PACKAGE}`; **all** = every evaluated language except English; "
        "**unknown** = languages missing from that table (they count in *all* only).",
        "- **English** is the language the target task is trained on, so its score is not zero-shot: it appears per "
        "language (group `training`) in the tables but in no average.",
        "- **± values**: 95% confidence half-width over seeds (Student t, n-1 degrees of freedom); "
        "one seed gives none.",
        "- **Slope b**: least-squares fit gain = a + b·log10(examples) through every (seed, data size) point "
        "of a group; b is the gain in points per tenfold intermediate data. The baseline (0 examples) is not "
        "a point of the fit.",
        "- Plots and the tables here use each target's `test` split where it has one, else `dev`; "
        "the files under `tables/` hold every split and metric.",
        "",
    ]


def _problems(missing: pd.DataFrame, unknown: list[str]) -> list[str]:
    lines: list[str] = []
    if not missing.empty:
        lines += [
            "", "## Missing baselines", "",
            f"{len(missing)} result cells have no `none` run with the same model, target and seed, so they have "
            "no gain and are left out of every gain, group and slope above (all cells: "
            "`tables/missing_baselines.csv`). Run the baseline for these seeds to include them:",
            "", markdown_table(_missing_view(missing)),
        ]
    if unknown:
        lines += [
            "", "## Languages without a resource class", "",
            f"{', '.join(unknown)}: not in `{TABLE_IN_PACKAGE}`, so they are in group *unknown* "
            "(and in *all*), not in low or high. Add a row per language to classify them.",
        ]
    return lines


def _file_list() -> list[str]:
    return [
        "", "## Tables", "",
        "Each as `tables/<name>.csv` and `.parquet`, one row per observation:", "",
        "- `summary`: score per configuration, target, language, split and metric: "
        "mean, std, n_seeds, ci95 over seeds.",
        "- `gains`: the same for the gain over the baseline.",
        "- `groups`: group averages (all / low / high / unknown) of scores and gains, "
        "averaged over languages per seed first.",
        "- `scaling_fit`: the slope b of gain on log10(examples) per target, intermediate task and group.",
        "- `missing_baselines`: the cells without a baseline run.",
    ]


# --- the command ----------------------------------------------------------------------------------


def build_report(run_dirs: Sequence[Path], out: Path) -> Report:
    """Read every run under `run_dirs`, write tables, plots and report.md under `out`."""
    results, duplicate_copies = load_results(find_results(run_dirs))
    results = add_language_groups(results)
    gains, missing = compute_gains(results)
    tables = {
        "summary": add_language_groups(aggregate(results, SUMMARY_KEYS, "value")),
        "gains": add_language_groups(aggregate(gains, SUMMARY_KEYS, "gain")),
        "groups": group_table(results, gains),
        "scaling_fit": scaling_fits(gains),
        "missing_baselines": missing,
    }
    for table_name, frame in tables.items():
        write_table(frame, out / "tables", table_name)
    splits = {target: headline_split(results, target) for target in sorted(results["target_task"].unique())}
    sections = _write_plots(tables, splits, out)
    unknown = sorted(set(results.loc[results["group"] == UNKNOWN, "language"]))
    markdown = out / "report.md"
    text = render_markdown(results, tables, sections, unknown, duplicate_copies)
    write_text(markdown, text)
    return Report(
        out=out,
        markdown=markdown,
        tables=tables,
        plots=[out / rel for s in sections for _, rel in s.plots],
        warnings=_warnings(missing, unknown, out),
        n_runs=results["run_id"].nunique(),
        headline_splits=splits,
    )


def _write_plots(tables: dict[str, pd.DataFrame], splits: dict[str, str], out: Path) -> list[_Section]:
    """Per target (headline split) and metric: the scaling curves and the language x fraction heat map."""
    sections = []
    groups, gains, fits = tables["groups"], tables["gains"], tables["scaling_fit"]
    for target, split in splits.items():
        plots: list[tuple[str, str]] = []
        target_gains = gains[(gains["target_task"] == target) & (gains["split"] == split)]
        for metric in sorted(target_gains["metric"].unique()):
            title = f"{target}: {metric}, {split} split"
            cell = (groups["target_task"] == target) & (groups["split"] == split) & (groups["metric"] == metric)
            curve = groups[cell & (groups["quantity"] == "gain")]
            if not curve.empty:  # empty when only English was evaluated: nothing zero-shot to average
                fit = fits[(fits["target_task"] == target) & (fits["split"] == split) & (fits["metric"] == metric)]
                scaling = Path("plots") / f"{safe_name('scaling', target, metric, split)}.png"
                plot_scaling(curve, fit, title, metric, out / scaling)
                plots.append((f"scaling curves, {target} {metric}", scaling.as_posix()))
            heatmap = Path("plots") / f"{safe_name('heatmap', target, metric, split)}.png"
            by_language = target_gains[target_gains["metric"] == metric]
            plot_heatmap(by_language, f"{title}: mean gain per language", out / heatmap)
            plots.append((f"gain heat map, {target} {metric}", heatmap.as_posix()))
        sections.append(_Section(target, split, plots))
    return sections


def _warnings(missing: pd.DataFrame, unknown: list[str], out: Path) -> list[str]:
    """What the terminal must say even if nobody opens report.md."""
    warnings = []
    if not missing.empty:
        cells = [
            f"  model={r.model} target={r.target_task} seed={r.seed}: {r.languages} ({r.splits}; {r.metrics})"
            for r in _missing_view(missing).itertuples(index=False)
        ]
        warnings.append(
            f"{len(missing)} result cells have no baseline run (intermediate_task=none, same model, target, seed); "
            "their gains are left out. Run those baselines. "
            f"Cells (also in {out / 'tables' / 'missing_baselines.csv'}):\n"
            + "\n".join(cells)
        )
    if unknown:
        warnings.append(
            f"languages without a resource class: {', '.join(unknown)}; they count in 'all' but not in low/high. "
            f"Add them to {languages.table_path()}."
        )
    return warnings


def summary_text(report: Report) -> str:
    """The terminal summary: slopes per target and group on the headline split."""
    fits = report.tables["scaling_fit"]
    lines = [f"{report.n_runs} runs -> {report.markdown}"]
    if fits.empty:
        return "\n".join([*lines, "no scaling slopes: gains need baselines and two or more data sizes."])
    view = headline_fits(fits, report.headline_splits)
    view = view[view["group"].isin([ALL, LOW, HIGH])]
    view = view.assign(b=[_pm(s, c) for s, c in zip(view["slope"], view["slope_ci95"], strict=True)])
    view = view.sort_values(["target_task", "intermediate_task", "metric", "group"], key=_group_sort_key)
    columns = ["target_task", "intermediate_task", "model", "metric", "split", "group", "b", "n_points"]
    table = _drop_constant(view[columns], ["model"]).to_string(index=False)
    lines += ["slope b = gain (points) per tenfold intermediate examples, ± 95% CI:", table]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xfer-scale report",
        description="Aggregate every results.parquet under the directories: gains over the no-intermediate "
        "baseline, low- vs high-resource language groups, scaling slopes, plots and report.md.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="DIR", help="directories searched recursively for results.parquet"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    return parser


def main(argv: list[str] | None = None) -> int:
    """`xfer-scale report`; a UserError propagates for the CLI to turn into exit code 2."""
    args = _parser().parse_args(argv)
    report = build_report(args.run_dirs, args.out)
    print(summary_text(report))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
