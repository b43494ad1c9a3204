"""Finding and reading the runs' results files, so a bad file is named before any analysis starts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def _damaged(path: Path, error: Exception) -> UserError:
    return UserError(
        f"{path} is damaged and cannot be read ({type(error).__name__}: {str(error).splitlines()[0]}); "
        f"re-run that run (its folder, same command) or move the file away."
    )


def _check_columns(path: Path, columns: Sequence[str]) -> None:
    missing = [c for c in RESULT_COLUMNS if c not in columns]
    if missing:
        raise UserError(
            f"{path} lacks the columns {', '.join(missing)} of the results contract: "
            "it was not written by `xfer-scale run`, or by an older version; re-run that run or remove the file."
        )


def read_results(path: Path) -> pd.DataFrame:
    """One run's tidy table, checked against the contract so mistakes name their file."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, pa.ArrowException) as error:  # truncated, 0 bytes, not parquet
        raise _damaged(path, error) from None
    _check_columns(path, frame.columns)
    try:
        return frame.astype(RESULT_COLUMNS)
    except (ValueError, TypeError) as error:
        raise UserError(f"{path}: a column does not have its contract type ({error}); re-run that run.") from error


def _read_table(path: Path) -> pa.Table:
    """One run's columns as Arrow, without the pandas index `pd.read_parquet` would set (and
    `load_results` would drop), so files concatenate as they come. `ParquetFile` on a memory map
    takes a fifth of `pq.read_table`'s time on a file this small."""
    try:
        table = pq.ParquetFile(path, memory_map=True).read(use_threads=False)
    except (OSError, ValueError, pa.ArrowException) as error:  # truncated, 0 bytes, not parquet
        raise _damaged(path, error) from None
    _check_columns(path, table.column_names)
    pandas_meta = json.loads((table.schema.metadata or {}).get(b"pandas", b"{}"))
    index = [c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)]
    return table.drop_columns(index).replace_schema_metadata(None)


def _read_all(paths: Sequence[Path]) -> tuple[pd.DataFrame, list[bool]]:
    """Every file's rows in one frame with its file's number (`_file`), and whether each file
    records its arm. Files are read in threads and converted and typed once: per file that costs
    about 10 ms, 20 s for a sweep of 2,000 runs. Where the files' types do not combine, they are
    read one by one instead, which names the file at fault."""
    with ThreadPoolExecutor() as pool:
        tables = list(pool.map(_read_table, paths))
    try:
        frame = pa.concat_tables(tables, promote_options="default").to_pandas().astype(RESULT_COLUMNS)
    except (pa.ArrowException, ValueError, TypeError):
        frame = pd.concat([read_results(p) for p in paths], ignore_index=True)
    files = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
    return frame.assign(_file=files), [records_identity(t.schema.names) for t in tables]


@dataclass(frozen=True)
class Loaded:
    """All runs in one table, each row with its run's folder (`run_dir`) so a conflict can name it."""

    frame: pd.DataFrame  # a run found in several folders is there once per folder (`duplicates.resolve_copies`)
    legacy_files: int  # files written before runs recorded their arm
    empty_files: list[str]  # files without a single score, left out (and listed)


def load_results(paths: Sequence[Path]) -> Loaded:
    """All runs in one table, each row with its folder."""
    frame, identified = _read_all(paths)
    scored = frame.loc[frame["value"].notna(), "_file"].unique()
    empty = sorted(set(range(len(paths))) - set(scored))  # no rows, or nothing scored
    if not len(scored):
        raise UserError(f"the {len(paths)} results files hold no scores: the runs evaluated nothing; check their logs.")
    legacy_files = sum(not identified[i] for i in scored)
    frame = frame[~frame["_file"].isin(empty)]
    folders = dict(enumerate(str(p.parent) for p in paths))
    frame = frame.assign(run_dir=frame["_file"].map(folders).astype("string")).drop(columns="_file")
    return Loaded(with_identity(frame.reset_index(drop=True)), legacy_files, [str(paths[i]) for i in empty])
