"""`xfer-scale report DIR... [--out DIR] [--duplicates POLICY]`: arguments in, the answer and warnings out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xfer_scale.report.build import Report, build_report
from xfer_scale.report.duplicates import ERROR, FIRST, LATEST, POLICIES
from xfer_scale.report.views import headline_fits, headline_sentences, resource_sentences

DEFAULT_OUT = Path("outputs/report")


def summary_text(report: Report) -> str:
    """The terminal summary: report.md's headline, one sentence per target, series and metric, and
    the resource model's answer (x:r) per target."""
    fits = report.tables["scaling_fit"]
    lines = [f"{report.n_runs} runs -> {report.markdown}"]
    if fits.empty:
        return "\n".join([*lines, "no scaling slopes: gains need baselines and two or more data sizes."])
    lines.append("slope b = gain (points) per tenfold intermediate examples, mean over seeds ± 95% CI:")
    sentences = headline_sentences(headline_fits(fits, report.headline_splits))
    sentences += resource_sentences(report.tables["resource_model"], report.tables["language_slopes"])
    return "\n".join([*lines, *(s.replace("**", "") for s in sentences)])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xfer-scale report",
        description="Aggregate every results.parquet under the directories: per arm (runs that differ only in "
        "the seed), gains over the matching no-intermediate baseline, low- vs high-resource language groups, "
        "per-seed scaling slopes with t-intervals over seeds and their low - high difference, plots and report.md.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="DIR", help="directories searched recursively for results.parquet"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--duplicates", choices=POLICIES, default=ERROR,
        help="two copies of one run whose values differ, and two runs with the same arm and seed (or two "
        f"baselines with the same baseline key and seed), which are not two seeds: '{ERROR}' (default) stops with "
        f"exit code 2 and names both folders; '{LATEST}' ('{FIRST}') keeps the run that finished last (first) "
        "by run.json's `finished` time, else the results file's modification time, and lists the runs left out. "
        "Identical copies of a run always count once",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """`xfer-scale report`; a UserError propagates for the CLI to turn into exit code 2."""
    args = _parser().parse_args(argv)
    try:
        report = build_report(args.run_dirs, args.out, args.duplicates)
    except KeyboardInterrupt:
        print(f"interrupted; the report in {args.out} is as it was before", file=sys.stderr)
        return 130
    print(summary_text(report))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
