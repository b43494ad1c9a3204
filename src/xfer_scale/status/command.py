"""`xfer-scale status DIR [--json FILE] [--stale-after S] [--workers N]`: where a sweep stands.

One line per cell (done / running with its phase, step and last heartbeat / stalled / failed
with the reason the run recorded / pending), the totals and an ETA. It reads files only, so
it can run while the sweep runs, on any machine that sees the folder. Exit code 1 when a
cell failed or has a damaged results file (so a script can wait on it), 2 for a folder that holds no sweep.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xfer_scale.atomic import write_text
from xfer_scale.errors import UserError
from xfer_scale.status import cells as sweep_cells
from xfer_scale.status import eta
from xfer_scale.status.cells import STATES, Cell

DEFAULT_STALE_AFTER_S = 600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xfer-scale status", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="the sweep folder (hydra.sweep.dir), or one run's folder")
    parser.add_argument("--json", type=Path, help="also write the counts and every cell's state here")
    parser.add_argument("--stale-after", type=float, default=DEFAULT_STALE_AFTER_S, metavar="S",
                        help=f"a cell whose heartbeat is older than S seconds is stalled (default {DEFAULT_STALE_AFTER_S:g})")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="cells that run at once, for the ETA (default: as many as run now, at least 1)")
    return parser


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _detail(cell: Cell, now: datetime) -> str:
    if cell.state in ("failed", "damaged"):
        return cell.message
    if cell.state not in ("running", "stalled"):
        return ""
    step = f" step {cell.step}/{cell.total_steps}" if cell.total_steps else ""
    beat = f"heartbeat {cell.heartbeat:%Y-%m-%d %H:%M:%S} UTC ({duration((now - cell.heartbeat).total_seconds())} ago)"
    return f"{cell.phase}{step}, {beat}" + (f": {cell.message}" if cell.message else "")


def _eta_line(seconds: float | None, means: dict[str, float], workers: int, unfinished: int) -> str:
    if not unfinished:
        return "ETA: nothing left to run"
    if seconds is None:
        return "ETA: unknown until a cell has finished (its phase times are what it is estimated from)"
    per_phase = ", ".join(f"{phase} {duration(s)}" for phase, s in means.items())
    return (f"ETA: {duration(seconds)} for {unfinished} unfinished cell(s) with {workers} worker(s), "
            f"at the finished cells' mean phase times ({per_phase})")


def _record(cell: Cell) -> dict[str, Any]:
    out = asdict(cell)
    out["heartbeat"] = cell.heartbeat.isoformat() if cell.heartbeat else None
    return out


def main(args: list[str]) -> int:
    options = _parser().parse_args(args)
    sweep: Path = options.dir
    if not sweep.is_dir():
        raise UserError(f"{sweep} is not a folder; give a sweep folder (hydra.sweep.dir) or a run folder.")
    now = datetime.now(timezone.utc)
    cells, sized = sweep_cells.collect(sweep, now, options.stale_after)
    if not cells:
        raise UserError(f"{sweep} holds no run folders and no multirun.yaml: not a sweep or run folder of xfer-scale.")
    counts = {state: sum(cell.state == state for cell in cells) for state in STATES}
    means = eta.phase_means([sweep / cell.name for cell in cells if cell.state == "done"])
    workers = options.workers or max(1, counts["running"])
    left = eta.eta_s(cells, means, workers)

    for cell in cells:
        print(f"{cell.state:<8} {cell.name}  {_detail(cell, now)}".rstrip())
    print(f"\n{len(cells)} cells: " + ", ".join(f"{counts[state]} {state}" for state in STATES))
    if not sized:
        print("(no multirun.yaml with cells named by their overrides: cells not started yet are not counted)")
    print(_eta_line(left, means, workers, sum(counts[state] for state in eta.UNFINISHED)))
    if options.json:
        write_text(options.json, json.dumps({
            "sweep": str(sweep), **counts, "cells_known": sized, "eta_s": left, "workers": workers,
            "phase_means_s": means, "cells": [_record(cell) for cell in cells]}, indent=1) + "\n")
    return 1 if counts["failed"] or counts["damaged"] else 0
