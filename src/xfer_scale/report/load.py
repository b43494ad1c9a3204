"""Finding and reading the runs' results files, so a bad file is named before any analysis starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from xfer_scale.errors import UserError
from xfer_scale.report.arms import records_identity, with_identity
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
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as error:  # truncated, 0 bytes, not parquet
        raise UserError(
            f"{path} is damaged and cannot be read ({type(error).__name__}: {str(error).splitlines()[0]}); "
            f"re-run that run (its folder, same command) or move the file away."
        ) from None
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


@dataclass(frozen=True)
class Loaded:
    """All runs in one table, each row with its run's folder (`run_dir`) so a conflict can name it."""

    frame: pd.DataFrame
    duplicate_copies: int  # copies of a run (same run_id) found in several files, counted once
    legacy_files: int  # files written before runs recorded their arm
    empty_files: list[str]  # files without a single score, left out (and listed)


def load_results(paths: Sequence[Path]) -> Loaded:
    """All runs in one table; a run_id seen in several files (copied runs) keeps its first file's rows."""
    frames = [read_results(p).assign(_file=i) for i, p in enumerate(paths)]
    empty = [i for i, f in enumerate(frames) if f["value"].isna().all()]  # no rows, or nothing scored
    frames = [f for i, f in enumerate(frames) if i not in empty]
    if not frames:
        raise UserError(f"the {len(paths)} results files hold no scores: the runs evaluated nothing; check their logs.")
    legacy_files = sum(not records_identity(f) for f in frames)
    frame = pd.concat(frames, ignore_index=True)
    first_file = frame.groupby("run_id")["_file"].transform("min")
    duplicate_copies = frame.loc[frame["_file"] != first_file, ["run_id", "_file"]].drop_duplicates()
    frame = frame[frame["_file"] == first_file]
    folders = dict(enumerate(str(p.parent) for p in paths))
    frame = frame.assign(run_dir=frame["_file"].map(folders).astype("string")).drop(columns="_file")
    return Loaded(with_identity(frame.reset_index(drop=True)), len(duplicate_copies), legacy_files,
                  [str(paths[i]) for i in empty])
