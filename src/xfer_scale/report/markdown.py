"""report.md: the answer first, for readers who open nothing else, then the evidence behind it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from xfer_scale import languages
from xfer_scale.report.groups import ALL, GROUP_LABELS, HIGH, LOW
from xfer_scale.report.plots import Section
from xfer_scale.report.views import fit_view, group_view, headline_fits, missing_view, plus_minus

# How report.md names the language table: a path that holds on every reader's machine.
TABLE_IN_PACKAGE = "xfer_scale/languages.csv"


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub (pipe) markdown table with the report's cell rules: two decimals, "–" for missing, `|` escaped.

    Cells are strings before tabulate sees them and its number parsing is off, so a text column that
    looks numeric (fractions such as "0.01") keeps its text, and alignment follows the frame's dtypes.
    """
    align = ["right" if pd.api.types.is_numeric_dtype(frame[c]) else "left" for c in frame.columns]
    cells = frame.astype(object).apply(lambda column: column.map(_cell))
    return cells.to_markdown(index=False, tablefmt="pipe", colalign=align, disable_numparse=True)


def _slope_phrase(fits: pd.DataFrame, group: str) -> str:
    row = fits[fits["group"] == group]
    if row.empty or math.isnan(row["slope"].iloc[0]):
        return ""
    r = row.iloc[0]
    return f"{GROUP_LABELS[group]} b = {plus_minus(r['slope'], r['slope_ci95'])} (n = {r['n_points']})"


def _headline_bullets(fits: pd.DataFrame) -> list[str]:
    """One sentence per target/intermediate task/metric: the slopes the sweep was run for."""
    bullets = []
    for (target, task, metric, model), block in fits.groupby(["target_task", "intermediate_task", "metric", "model"]):
        phrases = [p for p in (_slope_phrase(block, g) for g in (LOW, HIGH, ALL)) if p]
        if phrases:
            bullets.append(f"- **{target}** ← {task} ({model}), {metric}: " + "; ".join(phrases) + ".")
    return bullets


def render_markdown(
    results: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    sections: list[Section],
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
        lines += ["", markdown_table(fit_view(shown_fits))]
    for section in sections:
        lines += ["", f"## {section.target} ({section.split})", ""]
        lines += [f"![{caption}]({rel})" for caption, rel in section.plots] or ["No gains to plot for this target."]
        shown = groups[
            (groups["target_task"] == section.target) & (groups["split"] == section.split) & (groups["quantity"] == "gain")
        ]
        for metric, block in shown.groupby("metric"):
            caption = f"Gain over the baseline by language group, {metric} (mean ± 95% CI over seeds):"
            lines += ["", caption, "", markdown_table(group_view(block))]
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
            "", markdown_table(missing_view(missing)),
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
