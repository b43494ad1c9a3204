"""A sweep's time and memory under its clocks (`plan.timing`): each cell's wall seconds and
peak GPU memory, per phase the seconds and GPU-hours, and the wall time for N workers.

Phase 1 costs once per distinct model this sweep trains (cells share it through the cache);
a cell that shares it cannot finish before it is trained, so the sweep's wall time is never
less than the longest cell with the phase-1 model it may have to train or wait for. The
rest spreads evenly over the workers. A cell's GPU-hours are its wall seconds times its
processes, over the cells that share a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from xfer_scale.plan import memory
from xfer_scale.plan.phases import Recipe
from xfer_scale.plan.suite import Suite
from xfer_scale.plan.sweep import Plan
from xfer_scale.plan.timing import Clock, PhaseSeconds

PHASES = ("intermediate", "target", "zero_shot")


@dataclass
class Costs:
    phases: dict[str, PhaseSeconds]  # summed over the sweep (phase 1: the models it trains)
    startup_s: float  # all cells' start-ups
    cell_s: list[float]  # each cell: start-up, its phases and the phase-1 model it trains or waits for
    cell_gb: list[tuple[float, bool]]  # each cell's peak GPU memory, and whether it was measured
    gpu_hours: dict[str, float]  # per phase, and `startup`
    wall_hours: float
    used: dict[str, list[str]]  # per phase, the measured runs that timed it (one line per recipe)


def _note(lines: list[str], line: str | None) -> None:
    if line is not None and line not in lines:
        lines.append(line)


def costs(plan: Plan, clocks: dict[str, Clock], processes: int, workers: int, cells_per_gpu: int,
          suite: Suite | None) -> Costs:
    """`clocks` by model name (`plan.shapes`)."""
    trained = {model.key: model for model in plan.to_train()}
    phase1 = {key: clocks[model.model].phase(model.estimate) for key, model in trained.items()}
    phases = {phase: PhaseSeconds() for phase in PHASES}
    used: dict[str, list[str]] = {phase: [] for phase in PHASES}
    for key, model in trained.items():
        phases["intermediate"] += phase1[key]
        _note(used["intermediate"], clocks[model.model].used(model.estimate))
    cell_s, cell_gb = [], []
    for cell in plan.cells:
        clock = clocks[cell.model]
        seconds = clock.startup_s + (phase1[cell.phase1].total if cell.phase1 in phase1 else 0.0)
        recipes: list[Recipe] = [trained[cell.phase1].estimate.recipe] if cell.phase1 in trained else []
        for phase, estimate in cell.estimates.items():
            spent = clock.phase(estimate)
            phases[phase] += spent
            seconds += spent.total
            _note(used[phase], clock.used(estimate))
            recipes.append(estimate.recipe)
        cell_s.append(seconds)
        cell_gb.append(memory.cell_gb(plan.shapes[cell.model], [r for r in recipes if r is not None], suite,
                                      cells_per_gpu))
    startup_s = sum(clocks[cell.model].startup_s for cell in plan.cells)
    share = processes / cells_per_gpu / 3600
    gpu_hours = {**{phase: spent.total * share for phase, spent in phases.items()}, "startup": startup_s * share}
    spread = (sum(spent.total for spent in phases.values()) + startup_s) / workers
    return Costs(phases, startup_s, cell_s, cell_gb, gpu_hours, max([spread, *cell_s]) / 3600, used)
