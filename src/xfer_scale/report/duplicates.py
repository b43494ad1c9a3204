"""One copy per run, one run per arm and seed, and one baseline per baseline key and seed.

A run id does not change with the code version or the machine, and two GPU runs of one
configuration differ: two folders holding one run id with different values are two different
results, and keeping one by folder name would silently pick a published number. Identical copies
(a folder copied or synced) count once. A second run of the same arm and seed is not a second
seed either: counted as one it narrows the interval with a replicate that is not independent, and
a second baseline silently shifts every gain. So the report stops and names both folders, unless
the user chose which run to keep (`latest` or `first` by run.json's finish time).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xfer_scale.errors import UserError
from xfer_scale.report.arms import ARM, BASELINE_KEY, BASELINE_TASK
from xfer_scale.results import RESULTS_FILE

ERROR, LATEST, FIRST = "error", "latest", "first"
POLICIES = (ERROR, LATEST, FIRST)
_SHOWN = 20  # conflicts listed in the error; the rest are counted
#: what identifies one score of a run, across copies
_CELL = ["target_task", "language", "split", "metric"]


def resolve_copies(frame: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, list[str]]:
    """Each run id from one folder, and one line per copy left out. Copies with equal values count
    once (the first folder by name is kept); copies whose values differ stop the report (UserError
    naming both folders and the largest difference) unless `policy` chooses by finish time."""
    folders = frame.groupby("run_id")["run_dir"].unique()
    copied = folders[folders.map(len) > 1]
    if copied.empty:
        return frame, []
    notes, conflicts, dropped = [], [], set()
    for run_id, dirs in copied.items():
        dirs = sorted(dirs)
        runs = {d: _scores(frame, run_id, d) for d in dirs}
        differing = [(d, _largest_difference(runs[dirs[0]], runs[d])) for d in dirs[1:]]
        differing = [(d, difference) for d, difference in differing if difference is not None]
        if not differing:
            notes += [f"{d} is an identical copy of {dirs[0]} (run {run_id}): counted once" for d in dirs[1:]]
            dropped.update(dirs[1:])
        elif policy == ERROR:
            conflicts += [f"  run {run_id}: {dirs[0]} and {d} differ, most in {difference}" for d, difference in differing]
        else:
            ordered = sorted(dirs, key=lambda d: (finished_time(Path(d)), d))
            kept = ordered[-1] if policy == LATEST else ordered[0]
            which = "last" if policy == LATEST else "first"
            notes += [f"{d} left out: a copy of run {run_id} with other values than {kept}, which finished {which}"
                      for d in dirs if d != kept]
            dropped.update(d for d in dirs if d != kept)
    if conflicts:
        more = f"\n  ... and {len(conflicts) - _SHOWN} more" if len(conflicts) > _SHOWN else ""
        raise UserError(
            f"{len(conflicts)} copies of a run hold other values than the run's first folder (one configuration "
            "run twice, e.g. on other GPUs or code):\n" + "\n".join(conflicts[:_SHOWN]) + more + "\n"
            "Move or delete the folder you do not want, or pass `--duplicates latest` (or `first`) to keep the copy "
            "that finished last (first) by run.json's `finished` time."
        )
    return frame[~frame["run_dir"].isin(dropped)].reset_index(drop=True), notes


def _scores(frame: pd.DataFrame, run_id: str, run_dir: str) -> pd.Series:
    rows = frame[(frame["run_id"] == run_id) & (frame["run_dir"] == run_dir)]
    return rows.set_index(_CELL)["value"].sort_index()


def _largest_difference(first: pd.Series, other: pd.Series) -> str | None:
    """Where two copies' scores differ most (a score one of them lacks counts as a difference), or None."""
    if not first.index.equals(other.index):
        lacking = first.index.symmetric_difference(other.index)[0]
        return f"{' '.join(map(str, lacking))}: in one copy only"
    gaps = (first - other).abs()
    both_missing = first.isna() & other.isna()
    gaps = gaps.where(~both_missing, 0.0).fillna(float("inf"))
    if not (gaps > 0).any():
        return None
    cell = gaps.idxmax()
    return f"{' '.join(map(str, cell))}: {first[cell]:.4f} vs {other[cell]:.4f}"


def resolve_duplicates(frame: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, list[str]]:
    """The runs to analyse, and one line per run left out under `latest`; UserError under `error`."""
    runs = frame.drop_duplicates("run_id")
    is_baseline = runs["intermediate_task"] == BASELINE_TASK
    slot = ("baseline " + runs[BASELINE_KEY]).where(is_baseline, "arm " + runs[ARM])
    runs = runs.assign(slot=slot)
    clashing = runs[runs.duplicated(["slot", "seed"], keep=False)]
    if clashing.empty:
        return frame, []
    if policy == ERROR:
        raise UserError(_conflict_message(clashing))
    clashing = clashing.assign(finished_at=[finished_time(Path(d)) for d in clashing["run_dir"]])
    ordered = clashing.sort_values(["slot", "seed", "finished_at", "run_dir"])
    last = ordered.drop_duplicates(["slot", "seed"], keep="last" if policy == LATEST else "first")
    kept = last.set_index(["slot", "seed"])["run_dir"]
    dropped = ordered[~ordered["run_id"].isin(last["run_id"])]
    when = "later" if policy == LATEST else "earlier"
    notes = [
        f"{r.run_dir} left out: same {_what(r)} and seed {r.seed} as {kept[(r.slot, r.seed)]}, which finished {when}"
        for r in dropped.itertuples(index=False)
    ]
    return frame[~frame["run_id"].isin(dropped["run_id"])].reset_index(drop=True), notes


def finished_time(run_dir: Path) -> datetime:
    """When a run finished: run.json's `finished`, else its results file's modification time."""
    record = run_dir / "run.json"
    try:
        finished = json.loads(record.read_text()).get("finished")
    except (OSError, ValueError):
        finished = None
    if finished:
        stamp = datetime.fromisoformat(finished)
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp((run_dir / RESULTS_FILE).stat().st_mtime, tz=timezone.utc)


def _what(run) -> str:
    kind = "baseline key" if run.slot.startswith("baseline") else "arm"
    return f"{kind} {run.slot.split()[1]} ({run.intermediate_task} {run.intermediate_fraction:g} -> {run.target_task})"


def _conflict_message(clashing: pd.DataFrame) -> str:
    lines = []
    for (_, seed), runs in clashing.groupby(["slot", "seed"], sort=True):
        first = next(runs.itertuples(index=False))
        lines.append(f"  {_what(first)}, seed {seed}: {' and '.join(sorted(runs['run_dir']))}")
    more = f"\n  ... and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    return (
        f"{len(lines)} (arm, seed) pairs were run more than once; two runs of one arm and seed are not two seeds, "
        "and two baselines would shift every gain:\n" + "\n".join(lines[:_SHOWN]) + more + "\n"
        "Move or delete the folder you do not want, or pass `--duplicates latest` to keep the run that "
        "finished last (run.json's `finished`, else the results file's modification time)."
    )
