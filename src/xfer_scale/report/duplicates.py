"""One run per arm and seed, and one baseline per baseline key and seed.

A second run of the same arm and seed is not a second seed: counted as one it narrows the interval
with a replicate that is not independent, and a second baseline silently shifts every gain. So the
report stops and names both folders, unless the user chose which run to keep.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from xfer_scale.errors import UserError
from xfer_scale.report.arms import ARM, BASELINE_KEY, BASELINE_TASK
from xfer_scale.results import RESULTS_FILE

ERROR, LATEST = "error", "latest"
POLICIES = (ERROR, LATEST)
_SHOWN = 20  # conflicts listed in the error; the rest are counted


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
    last = ordered.drop_duplicates(["slot", "seed"], keep="last")
    kept = last.set_index(["slot", "seed"])["run_dir"]
    dropped = ordered[~ordered["run_id"].isin(last["run_id"])]
    notes = [
        f"{r.run_dir} left out: same {_what(r)} and seed {r.seed} as {kept[(r.slot, r.seed)]}, which finished later"
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
