"""How each arm's runs were made (package, libraries, CUDA, GPU, the hub data's commits), from
their run.json.

Runs of one configuration on other code, library versions, GPUs or hub data differ, and a run
id does not record them (a hub dataset is pinned only by the revision its task asks for, mostly
none: `data_sources`): an arm whose seeds ran on a mix of them is shown as such, so a reader can
tell a difference between arms from a difference between set-ups.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from xfer_scale.report.arms import ARM

#: what is shown, and where run.json keeps it
FIELDS = {
    "xfer_scale": ("packages", "xfer-scale"),
    "git_commit": ("git_commit",),
    "torch": ("packages", "torch"),
    "transformers": ("packages", "transformers"),
    "cuda": ("cuda",),
    "gpu": ("gpu",),
    "data": ("data_revisions",),  # hub datasets as path@commit, space-separated (`data_sources.revisions`)
}
MIXED = "mixed"


def _read(run_dir: str) -> dict[str, Any]:
    """A run's run.json, or nothing where it is missing or unreadable (older or copied runs)."""
    try:
        return json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def _field(record: dict[str, Any], path: tuple[str, ...]) -> str:
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return "unknown" if value is None else str(value)


def provenance_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: its runs, each field's distinct values (comma-joined), and `mixed`: whether
    any field differs between the arm's runs."""
    runs = results.drop_duplicates("run_id")[[ARM, "run_dir"]]
    records = {run_dir: _read(run_dir) for run_dir in runs["run_dir"]}
    made = runs.assign(**{name: [_field(records[d], path) for d in runs["run_dir"]] for name, path in FIELDS.items()})
    table = made.groupby(ARM, sort=True).agg(
        runs=("run_dir", "size"), **{name: (name, lambda v: ", ".join(sorted(set(v)))) for name in FIELDS})
    table[MIXED] = table[list(FIELDS)].apply(lambda row: any(", " in value for value in row), axis=1)
    return table.reset_index()
