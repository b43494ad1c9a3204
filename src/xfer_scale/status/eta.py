"""How long the rest of a sweep should take, from the phase times its own finished cells measured.

Each phase's mean wall time over the finished cells (`phases.parquet`, `wall_s`; phase 1's mean
includes the cells that found their model cached, so it is the average cell's share of the
phase-1 training, as the sweep has gone so far) times the work left: every phase of a pending
cell, and of a running or stalled one the rest of its current phase (by its step) and the
phases after it. Failed cells are left out: they need a fix before they run again.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xfer_scale import config, results
from xfer_scale.status.cells import Cell

UNFINISHED = ("pending", "running", "stalled")


def phase_means(finished: list[Path]) -> dict[str, float]:
    """Mean wall seconds per phase over the finished cell folders; empty before any finished."""
    frames = [pd.read_parquet(folder / results.PHASES_FILE, columns=["phase", "wall_s"])
              for folder in finished if (folder / results.PHASES_FILE).exists()]
    if not frames:
        return {}
    return pd.concat(frames).groupby("phase").wall_s.mean().to_dict()


def remaining_s(cell: Cell, means: dict[str, float]) -> float:
    """The seconds of work `cell` has left at the `means`."""
    if cell.phase not in config.PHASES:  # pending, or started but no phase reached yet
        return sum(means.values())
    index = config.PHASES.index(cell.phase)
    left_of_phase = 1 - cell.step / cell.total_steps if cell.total_steps else 1.0
    return left_of_phase * means.get(cell.phase, 0.0) + sum(means.get(p, 0.0) for p in config.PHASES[index + 1:])


def eta_s(cells: list[Cell], means: dict[str, float], workers: int) -> float | None:
    """Seconds until the unfinished cells are done with `workers` running at once; None while
    no cell has finished (nothing measured yet)."""
    if not means:
        return None
    return sum(remaining_s(cell, means) for cell in cells if cell.state in UNFINISHED) / workers
