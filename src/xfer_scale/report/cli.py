"""`xfer-scale report DIR... [--out DIR]`: arguments in, the slopes and warnings on the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xfer_scale.report.build import Report, build_report
from xfer_scale.report.groups import ALL, HIGH, LOW, group_sort_key
from xfer_scale.report.views import drop_constant, headline_fits, plus_minus

DEFAULT_OUT = Path("outputs/report")


def summary_text(report: Report) -> str:
    """The terminal summary: slopes per target and group on the headline split."""
    fits = report.tables["scaling_fit"]
    lines = [f"{report.n_runs} runs -> {report.markdown}"]
    if fits.empty:
        return "\n".join([*lines, "no scaling slopes: gains need baselines and two or more data sizes."])
    view = headline_fits(fits, report.headline_splits)
    view = view[view["group"].isin([ALL, LOW, HIGH])]
    view = view.assign(b=[plus_minus(s, c) for s, c in zip(view["slope"], view["slope_ci95"], strict=True)])
    view = view.sort_values(["target_task", "intermediate_task", "metric", "group"], key=group_sort_key)
    columns = ["target_task", "intermediate_task", "model", "metric", "split", "group", "b", "n_points"]
    table = drop_constant(view[columns], ["model"]).to_string(index=False)
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
