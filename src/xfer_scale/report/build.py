"""One `report` call from results files to report.md and .html, kept apart from argparse so tests drive it directly."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xfer_scale import languages
from xfer_scale.atomic import replace_dir, write_text
from xfer_scale.report.arms import ARM, ARM_COLUMNS, SERIES, SERIES_COLUMNS, attach, describe
from xfer_scale.report.benchmark_groups import benchmark_group_table
from xfer_scale.report.duplicates import ERROR, resolve_copies, resolve_duplicates
from xfer_scale.report.fits import group_points, scaling_fits
from xfer_scale.report.groups import UNKNOWN, add_language_groups
from xfer_scale.report.html import render_html
from xfer_scale.report.language_slopes import language_slopes
from xfer_scale.report.load import Loaded, find_results, load_results
from xfer_scale.report.markdown import render_markdown
from xfer_scale.report.plots import headline_metric, write_plots
from xfer_scale.report.provenance import provenance_table
from xfer_scale.report.resource_model import headline_points, resource_models
from xfer_scale.report.saturation import saturation_table
from xfer_scale.report.stats import aggregate
from xfer_scale.report.tables import SUMMARY_KEYS, compute_gains, group_table, headline_split
from xfer_scale.report.views import missing_view
from xfer_scale.results import write_frame


REPORT_FILE = "report.md"
HTML_FILE = "report.html"  # report.md as one self-contained page


@dataclass(frozen=True)
class Report:
    """What one `report` call produced, for the CLI to print and for tests to check."""

    out: Path
    markdown: Path
    html: Path
    tables: dict[str, pd.DataFrame]
    plots: list[Path]
    warnings: list[str]
    n_runs: int
    headline_splits: dict[str, str]


def build_report(run_dirs: Sequence[Path], out: Path, duplicates: str = ERROR) -> Report:
    """Read every run under `run_dirs`, write tables, plots, report.md and report.html under `out`.

    `duplicates` is what to do with two copies of a run whose values differ, and with two runs
    of one arm and seed: `error` (UserError naming both folders), `latest` or `first` (keep the
    one that finished last, or first). Identical copies of a run count once, listed.
    """
    loaded = load_results(find_results(run_dirs))
    results, copies = resolve_copies(loaded.frame, duplicates)
    results, left_out = resolve_duplicates(results, duplicates)
    results = add_language_groups(results)
    arms, series = describe(results, ARM, ARM_COLUMNS), describe(results, SERIES, SERIES_COLUMNS)
    gains, missing = compute_gains(results)
    evaluated = results[["target_task", "split"]].drop_duplicates()  # what the choice of split needs, once
    splits = {target: headline_split(evaluated, target) for target in sorted(evaluated["target_task"].unique())}
    metrics = {target: headline_metric(set(m)) for target, m in gains.groupby("target_task")["metric"]}
    points = group_points(gains, arms)
    resource = resource_models(headline_points(gains, splits, metrics), series)
    headline = points[(points["split"] == points["target_task"].map(splits))
                      & (points["metric"] == points["target_task"].map(metrics))]
    tables = {
        "summary": attach(add_language_groups(aggregate(results, SUMMARY_KEYS, "value")), arms, ARM),
        "gains": attach(add_language_groups(aggregate(gains, SUMMARY_KEYS, "gain")), arms, ARM),
        "groups": attach(group_table(results, gains), arms, ARM),
        "scaling_fit": attach(scaling_fits(points), series, SERIES),
        "language_slopes": attach(language_slopes(gains), series, SERIES),
        "resource_model": resource.table,
        "resource_line": resource.line,
        "saturation": attach(saturation_table(headline), series, SERIES),
        "missing_baselines": missing,
        "benchmark_groups": benchmark_group_table(results),
        "provenance": attach(provenance_table(results), arms, ARM),
    }
    unknown = sorted(set(results.loc[results["group"] == UNKNOWN, "language"]))
    counting = _counting_warnings(loaded, copies, left_out)
    with staged(out) as staging:
        for table_name, frame in tables.items():
            write_table(frame, staging / "tables", table_name)
        sections = write_plots(tables, splits, staging)
        markdown = render_markdown(results, tables, sections, unknown, counting)
        write_text(staging / REPORT_FILE, markdown)
        write_text(staging / HTML_FILE, render_html(markdown, staging))
    return Report(
        out=out,
        markdown=out / REPORT_FILE,
        html=out / HTML_FILE,
        tables=tables,
        plots=[out / rel for s in sections for _, rel in s.plots],
        warnings=[*_warnings(missing, unknown, out), *counting],
        n_runs=results["run_id"].nunique(),
        headline_splits=splits,
    )


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A folder beside `out` to write the whole report into; once it is complete, its tables/,
    plots/, report.md and report.html replace those in `out` (each by rename), and nothing else in
    `out` is touched. An interruption or error before then leaves the previous report as it was,
    not new tables beside an old report.md."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            if item.is_dir():
                replace_dir(item, out / item.name)
            else:
                os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _counting_warnings(loaded: Loaded, copies: list[str], left_out: list[str]) -> list[str]:
    """How runs were counted where it may change the numbers: for the terminal and report.md alike."""
    notes = []
    if copies:
        listed = "\n".join(f"  {line}" for line in copies)
        notes.append(f"{len(copies)} copies of runs found in more than one folder:\n{listed}")
    if loaded.legacy_files:
        notes.append(
            f"{loaded.legacy_files} results files do not record their arm (they predate the arm column): their runs "
            "are told apart only by model, experiment, tasks and amount, so runs that differ in a setting they do "
            "not record (budget, recipe, benchmark, subsample seed, revision, processes) may be pooled as seeds."
        )
    if loaded.empty_files:
        listed = "\n".join(f"  {path}" for path in loaded.empty_files)
        notes.append(f"{len(loaded.empty_files)} results files hold no scores and were left out:\n{listed}")
    if left_out:
        listed = "\n".join(f"  {line}" for line in left_out)
        notes.append(f"--duplicates left out runs of an arm and seed run twice:\n{listed}")
    return notes


def write_table(frame: pd.DataFrame, directory: Path, table: str) -> None:
    """CSV for eyes and spreadsheets, parquet for exact types."""
    write_frame(frame, directory / f"{table}.csv")
    write_frame(frame, directory / f"{table}.parquet")


def _warnings(missing: pd.DataFrame, unknown: list[str], out: Path) -> list[str]:
    """What the terminal must say even if nobody opens report.md."""
    warnings = []
    if not missing.empty:
        cells = [
            f"  model={r.model} target={r.target_task} seed={r.seed}: {r.languages} ({r.splits}; {r.metrics})"
            for r in missing_view(missing).itertuples(index=False)
        ]
        warnings.append(
            f"{len(missing)} result cells have no baseline run (intermediate_task=none, same baseline key and seed); "
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
