"""report.md: the answer first, for readers who open nothing else, then the evidence behind it."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from xfer_scale import benchmarks, languages
from xfer_scale.report.arms import ARM
from xfer_scale.report.benchmark_groups import benchmark_group_view, missing_tasks
from xfer_scale.report.plots import F1_PARTS, HEADLINE_METRIC, Section
from xfer_scale.report.provenance import FIELDS as PROVENANCE_FIELDS
from xfer_scale.report.provenance import MIXED
from xfer_scale.report.views import (
    fit_view, group_view, headline_fits, headline_sentences, missing_view, resource_sentences, saturation_sentences,
)

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


def render_markdown(
    results: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    sections: list[Section],
    unknown: list[str],
    notes: list[str],
) -> str:
    """report.md: the answer first (by pretraining data, then by resource class), how to read it,
    then per-target evidence, then what is missing and where the tables are.

    `notes` are what the reader must know about how runs were counted (copies, legacy files, duplicates).
    """
    fits, groups, missing = tables["scaling_fit"], tables["groups"], tables["missing_baselines"]
    lines = ["# Intermediate-task scaling report", "", _overview(results), ""]
    lines += ["> " + note.replace("\n", "  \n> ") for note in notes] + ([""] if notes else [])
    data_notes = _target_notes(results["target_task"].unique())
    lines += [f"> {note}" for note in data_notes] + ([""] if data_notes else [])
    lines += _pretraining(tables["resource_model"], tables["language_slopes"])[1:] + [""]
    lines += ["## Is more intermediate data still helping?", ""]
    shown_fits = headline_fits(fits, {s.target: s.split for s in sections})
    bullets = [f"- {sentence}" for sentence in headline_sentences(shown_fits)]
    lines += bullets or ["No slope could be fitted: it needs gains (so baselines) at two or more data sizes."]
    if not shown_fits.empty:
        lines += ["", markdown_table(fit_view(shown_fits))]
    lines += _saturation(tables["saturation"])
    lines += ["", *_reading_guide()]
    lines += _benchmark_groups(results, tables["benchmark_groups"])
    for section in sections:
        lines += ["", f"## {section.target} ({section.split})", ""]
        section_notes = _target_notes([section.target])
        lines += [*(f"> {note}" for note in section_notes), ""] if section_notes else []
        lines += [f"![{caption}]({rel})" for caption, rel in section.plots] or ["No gains to plot for this target."]
        shown = groups[
            (groups["target_task"] == section.target) & (groups["split"] == section.split) & (groups["quantity"] == "gain")
        ]
        for metric, block in shown.groupby("metric"):
            caption = f"Gain over the baseline by language group, {metric} (mean ± 95% CI over seeds):"
            lines += ["", caption, "", markdown_table(group_view(block))]
    lines += _problems(missing, unknown)
    lines += _provenance(tables["provenance"])
    lines += _file_list()
    return "\n".join(lines) + "\n"


def _pretraining(model: pd.DataFrame, slopes: pd.DataFrame) -> list[str]:
    """The answer by pretraining data rather than by class: x:r per target, then the unseen languages."""
    lines = ["", "## Does scaling help the languages XLM-R saw less of more?", ""]
    sentences = resource_sentences(model, slopes)
    if not sentences:
        return [*lines, "No model could be fitted: it needs gains at two or more data sizes in at least three "
                        "zero-shot languages with CC-100 data."]
    return [*lines, *[f"- {s}" for s in sentences]]


def _saturation(table: pd.DataFrame) -> list[str]:
    """Whether the largest size still gains, per target, series and group."""
    sentences = saturation_sentences(table)
    if not sentences:
        return []
    return ["", "## Is the gain levelling off?", "", *[f"- {s}" for s in sentences]]


def _provenance(table: pd.DataFrame) -> list[str]:
    """How the runs were made, per arm; arms whose runs mixed versions or GPUs first."""
    columns = ["intermediate_task", "intermediate_fraction", "target_task", "runs", *PROVENANCE_FIELDS, MIXED]
    shown = table.sort_values(MIXED, ascending=False, kind="stable")[[c for c in columns if c in table]]
    mixed = int(table[MIXED].sum())
    said = (f"{mixed} arms ran on more than one set-up (package, libraries, CUDA, GPU or hub data): their seeds are not "
            "replicates of one set-up." if mixed else "Every arm's runs share one set-up.")
    return ["", "## How the runs were made", "", said, "", markdown_table(shown)]


def _target_notes(targets: Iterable[str]) -> list[str]:
    """The notes the benchmark files give these targets' tasks (Mewsli-X's release), one a line."""
    notes = benchmarks.target_notes()
    return [f"{target}: {notes[target]}" for target in sorted(set(targets)) if target in notes]


def _definitions(table: pd.DataFrame) -> list[str]:
    """Per benchmark in the table, what its shown numbers need beside them: whose overall score
    `all_task` is, what the category average averages, its tasks' notes (`Benchmark.notes`)."""
    shipped = benchmarks.package()
    return [f"- {name}, {note}" for name, rows in table.groupby("benchmark")
            for note in shipped[name].notes(set(rows["name"]))]


def _benchmark_groups(results: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """XTREME's task groups, or which tasks keep every group incomplete."""
    lines = ["", "## XTREME's task groups", ""]
    if table.empty:
        lines.append(
            "No group is complete: a group needs, for one configuration and seed, every task of the group on "
            "the test split in every language of the run's benchmark. Tasks that are never complete:"
        )
        return [*lines, "", *[f"- {line}" for line in missing_tasks(results)]]
    return [
        *lines,
        "Per configuration, each task's headline average over its benchmark languages (QA: (EM + F1) / 2; "
        "tagging and BUCC: F1; retrieval by ranking: map@20; else accuracy), then each complete group, the mean "
        "of its tasks' averages, as XTREME's evaluate.py computes them, and `category_avg`, the mean of the "
        "category groups (test split); ± is the 95% CI over seeds.",
        "", markdown_table(benchmark_group_view(table)), "", *_definitions(table),
    ]


def _overview(results: pd.DataFrame) -> str:
    def listed(column: str) -> str:
        return ", ".join(map(str, sorted(results[column].unique())))

    return (
        f"{results['run_id'].nunique()} runs in {results[ARM].nunique()} arms · models: {listed('model')} · "
        f"intermediate tasks: {listed('intermediate_task')} · targets: {listed('target_task')} · seeds: {listed('seed')}."
    )


def _reading_guide() -> list[str]:
    k = languages.LOW_RESOURCE_MAX_CLASS
    return [
        "## How to read this",
        "",
        "- **Arm**: every setting that determines the numbers except the seed (budget, recipe, benchmark, "
        "subsample seed, model revision, processes...). Only runs of one arm are pooled as seeds; arms that "
        "differ are listed side by side with the settings that differ. **Seeds** counts distinct seeds.",
        "- **Gain**: zero-shot score minus the score of the baseline run without intermediate training "
        "(`intermediate_task = none`) with the same baseline key (model and revision, precision, processes, "
        "target task and its recipe, benchmark, languages) and seed; points on XTREME's 0-100 scale.",
        f"- **Groups**: low-resource = classes 0-{k}, high-resource = classes {k + 1}-5 of Joshi et al. (2020), "
        f"as listed in `{TABLE_IN_PACKAGE}`; **all** = every evaluated language except English; "
        "**unknown** = languages missing from that table (they count in *all* only).",
        "- **English** is the language the target task is trained on, so its score is not zero-shot: it appears per "
        "language (group `training`) in the tables but in no average.",
        "- **± values**: 95% confidence half-width over seeds (Student t, n-1 degrees of freedom); "
        "one seed gives none.",
        "- **Slope b**: per seed, the least-squares line gain = a + b·log10(examples) through the group's mean "
        "gain at each data size; b is the mean of the seeds' slopes, in points per tenfold intermediate data, "
        "with the t-interval over seeds (a seed's points share its baseline, so seeds, not points, are the "
        "replicates). The baseline (0 examples) is not a point of the fit.",
        "- **low − high**: per seed, the low-resource slope minus the high-resource slope, then mean and "
        "t-interval over seeds: above 0 with an interval that excludes 0 means more intermediate data helps "
        "low-resource languages more.",
        "- **x:r** (pretraining data): per target, a mixed model gain ~ x + r + x:r with a random intercept per "
        "language (REML), fitted on the per-seed gains of each zero-shot language with CC-100 data; x = "
        "log10(examples), r = log10(CC-100 tokens of the language, Conneau et al. 2020 Table 6) z-scored over the "
        "fit's languages. x:r is the points per tenfold data a language gains per SD more pretraining data: below "
        "0, scaling helps less-pretrained languages more. Intervals are 95% Wald. Languages XLM-R never saw have "
        "no r and get their own per-seed slope instead; target *all* pools the targets (a fixed effect per "
        "target, a random intercept per target and language).",
        "- **Levelling off**: per group, the per-seed points are also fitted with gain = a·(1 − exp(−n/k)); "
        "AIC compares it with the log-linear line (lower is better, a difference under 2 favours neither), and "
        "n90 = k·ln 10 is where it reaches 90% of its plateau a, with a 95% bootstrap interval over seeds.",
        "- Plots and the tables here use each target's `test` split where it has one, else `dev`; "
        f"the overview plots every metric (but {' and '.join(F1_PARTS)} where there is {HEADLINE_METRIC}), "
        f"the scaling curves and heat map the target's {HEADLINE_METRIC} where it has one (else its metric); "
        "the files under `tables/` hold every split and metric. Plot axes are set by the means: an interval "
        "reaching beyond them is clipped and marked ▲/▼.",
        "",
    ]


def _problems(missing: pd.DataFrame, unknown: list[str]) -> list[str]:
    lines: list[str] = []
    if not missing.empty:
        lines += [
            "", "## Missing baselines", "",
            f"{len(missing)} result cells have no `none` run with the same baseline key and seed, so they have "
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
        "- `summary`: score per arm, target, language, split and metric: "
        "mean, std, n_seeds (distinct), ci95 over seeds; with the arm's series and readable settings.",
        "- `gains`: the same for the gain over the baseline.",
        "- `groups`: group averages (all / low / high / unknown) of scores and gains, "
        "averaged over languages per seed first.",
        "- `scaling_fit`: per series (an arm without its amount of data), target, split, metric and group "
        "(all / low / high / unknown / low-high): slope (mean over seeds), slope_ci95 (half-width), "
        "slope_std, n_seeds, intercept.",
        "- `language_slopes`: per series, target, split, metric and zero-shot language: the slope over seeds "
        "(mean, slope_ci95, slope_std, n_seeds) with the language's cc100_tokens_m, in_pretraining and "
        "resource_class.",
        "- `resource_model`: per target (and `all`, pooled) and series, the mixed model's terms (Intercept, x, r, "
        "x:r) with estimate, ci_low, ci_high (95% Wald), p_value, n_obs, n_languages, n_seeds, converged and "
        "the mean and SD of log10 tokens r was scaled by; term `unseen`: the languages XLM-R never saw, their "
        "per-seed slope with a t-interval.",
        "- `resource_line`: the slope in x each fit implies along log10 CC-100 tokens, with its 95% band (the "
        "line of the language-slope plot).",
        "- `saturation`: per series, target and group (headline split and metric): both fits' AICs, the "
        "plateau, k, examples_90 with its bootstrap interval, the share of the plateau reached at the largest "
        "size and the verdict.",
        "- `missing_baselines`: the cells without a baseline run.",
        "- `benchmark_groups`: XTREME's group and `all_task` averages and `category_avg`, the mean of the "
        "category groups (kind `group`), and the per-task headline averages they average (kind `task`), per "
        "configuration, over seeds; only configurations with a complete group.",
        "- `provenance`: per arm, its runs' package version, git commit, torch, transformers, CUDA, GPU and "
        "`data`, the hub datasets' commits (`path@commit`; `path@revision?` where the commit is unknown, "
        "`local` for local files only) (from run.json; `mixed` where they differ between its runs).",
    ]
