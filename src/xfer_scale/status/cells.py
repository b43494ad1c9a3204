"""The cells of a sweep folder and the state of each, read from what the runs leave there.

A cell is a folder holding what a run writes: `.hydra/` and `run.json` once it has claimed
the folder, `heartbeat.json` while it works, `failure.json` when it failed (a cell refused
before it claimed its folder leaves only that). Cells not started have no folder yet: Hydra's
`multirun.yaml` in the sweep folder records the sweep, from which the folders its cells will
get are named exactly as Hydra names them (its own override parser; its basic sweeper's
cartesian product and `override_dirname` rule, as `sweep_overrides` reproduces them), invalid
cells included, since Hydra gives those a folder too.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import OmegaConf

from xfer_scale import run_folder, sweep_overrides
from xfer_scale.run_folder import FAILURE_FILE
from xfer_scale.status import heartbeat

STATES = ("done", "running", "stalled", "failed", "damaged", "pending")
MARKERS = frozenset((".hydra", run_folder.RECORD_FILE, FAILURE_FILE, heartbeat.HEARTBEAT_FILE))
#: the folder name Hydra gives a sweep's cells (conf/config.yaml's `hydra.sweep.subdir`)
CELL_NAMING = "${hydra.job.override_dirname}"


@dataclass
class Cell:
    """One cell's state; `phase`, `step`, `total_steps` and `heartbeat` come from its last
    heartbeat, `message` says why it failed or stalled."""

    name: str
    state: str
    phase: str | None = None
    step: int = 0
    total_steps: int = 0
    heartbeat: datetime | None = None
    message: str = ""


def _failure(folder: Path) -> str | None:
    try:
        return json.loads((folder / FAILURE_FILE).read_text())["message"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return f"{FAILURE_FILE} is unreadable"


def _gone(beat: dict[str, Any]) -> bool:
    """Whether the process that wrote `beat` ran on this host and has ended (a killed local run
    is stalled at once, not after `stale_after`)."""
    if beat.get("host") != platform.node() or not isinstance(beat.get("pid"), int):
        return False
    try:
        os.kill(beat["pid"], 0)  # signal 0: only asks whether it exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's process
        pass
    return False


def _last_sign_of_life(folder: Path) -> dict[str, Any]:
    """A heartbeat for a cell that has claimed its folder but written none yet (or was run by
    a version without heartbeats): its claim, dated by the newest of its marker files."""
    times = [(folder / marker).stat().st_mtime for marker in MARKERS if (folder / marker).exists()]
    return {"phase": "starting", "step": 0, "total_steps": 0,
            "time": datetime.fromtimestamp(max(times), timezone.utc)}


def state(folder: Path, name: str, now: datetime, stale_after: float) -> Cell:
    """done (results written) > failed (`failure.json`) > running or stalled (by the age of
    its heartbeat, or a process on this host that is gone)."""
    if run_folder.finished(folder):
        return Cell(name, "done")
    if "finished" in (run_folder.read_record(folder) or {}):  # it finished, but its results did not survive
        problem = run_folder.results_damage(folder)
        return Cell(name, "damaged", message=f"{run_folder.RESULTS_FILE} is {problem}: re-run this cell, which "
                                             "evaluates phase 3 again (phases 1 and 2 are reused)")
    message = _failure(folder)
    if message is not None:
        return Cell(name, "failed", message=message)
    beat = heartbeat.read(folder) or _last_sign_of_life(folder)
    age = (now - beat["time"]).total_seconds()
    cell = Cell(name, "running", beat["phase"], beat["step"], beat["total_steps"], beat["time"])
    if _gone(beat):
        cell.state, cell.message = "stalled", f"its process {beat['pid']} on this host has ended (killed?)"
    elif age > stale_after:
        cell.state, cell.message = "stalled", f"no heartbeat for {age:.0f} s (more than {stale_after:g})"
    return cell


def started(sweep: Path) -> dict[str, Path]:
    """Every cell folder under `sweep` (the sweep folder itself if it is one run's), by its
    path relative to `sweep`: one walk of the tree, however many cells."""
    folders = sorted(Path(root) for root, dirs, files in os.walk(sweep) if not MARKERS.isdisjoint([*dirs, *files]))
    return {folder.relative_to(sweep).as_posix(): folder for folder in folders}


def expected(sweep: Path) -> list[str] | None:
    """The folder names of every cell of the sweep `multirun.yaml` records, in launch order;
    None when there is no record, or its cells are not named by their overrides."""
    record = sweep / "multirun.yaml"
    if not record.is_file():
        return None
    hydra_cfg = OmegaConf.load(record).hydra
    if OmegaConf.to_container(hydra_cfg.sweep)["subdir"] != CELL_NAMING:
        return None
    naming = hydra_cfg.job.config.override_dirname
    axes = [f"{key}={value}" for key, value in (hydra_cfg.sweeper.params or {}).items()]
    parser = OverridesParser.create()
    try:
        cells = sweep_overrides.cells(parser.parse_overrides([*axes, *hydra_cfg.overrides.task]))
        return [sweep_overrides.dirname(parser.parse_overrides(cell), naming.exclude_keys, naming.item_sep,
                                        naming.kv_sep) for cell in cells]
    except HydraException:  # e.g. a glob() sweep, which needs the config repository to expand
        return None


def collect(sweep: Path, now: datetime, stale_after: float) -> tuple[list[Cell], bool]:
    """Every cell's state, the pending ones last, and whether the sweep's size is known
    (without `multirun.yaml`, cells not started cannot be listed)."""
    seen = started(sweep)
    cells = [state(folder, name, now, stale_after) for name, folder in seen.items()]
    names = expected(sweep)
    if names is None:
        return cells, False
    return cells + [Cell(name, "pending") for name in dict.fromkeys(names) if name not in seen], True
