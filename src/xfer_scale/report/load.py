"""Finding and reading the runs' results files, so a bad file is named before any analysis starts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from xfer_scale.errors import UserError
from xfer_scale.results import RESULT_COLUMNS, RESULTS_FILE


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
