"""One `report` call from results files to report.md, kept apart from argparse so tests drive it directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xfer_scale import languages
from xfer_scale.atomic import write_text
from xfer_scale.report.groups import UNKNOWN, add_language_groups
from xfer_scale.report.load import find_results, load_results
from xfer_scale.report.markdown import render_markdown
from xfer_scale.report.plots import write_plots
from xfer_scale.report.stats import aggregate
from xfer_scale.report.tables import SUMMARY_KEYS, compute_gains, group_table, headline_split, scaling_fits
from xfer_scale.report.views import missing_view
from xfer_scale.results import write_frame


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
    sections = write_plots(tables, splits, out)
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
