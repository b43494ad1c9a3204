"""A sweep's plan: its cells, its distinct phase-1 models (which are cached already), and each
cell's work per phase.

Cells that share a phase-1 model train it once (`phase_cache`), so phase 1 costs once per
distinct model not cached yet; phases 2 and 3 once per cell. The cache is read as a run reads
it: an entry counts as cached only if its files verify (`phase_cache.read_meta`, under the
entry's lock, which moves a damaged entry aside as a run would; an entry a job is training
now holds the lock, and is not cached yet).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf

from xfer_scale import file_hashes, identity, modeling, phase_cache, read_plan
from xfer_scale.plan import compute, phases
from xfer_scale.plan.compute import Shape
from xfer_scale.plan.phases import Estimate
from xfer_scale.plan.sizes import Sizes


@dataclass
class Phase1:
    key: str
    model: str  # the model's name (`plan.shapes`)
    cached: bool
    estimate: Estimate


@dataclass
class Cell:
    run_id: str
    model: str
    intermediate: str  # the task and amount, as the phase-1 key names them, or `none`
    target: str
    seed: int
    phase1: str | None  # the phase-1 model's key
    runs_phase1: bool  # `intermediate` in its phases: it trains phase 1 when not cached
    estimates: dict[str, Estimate] = field(default_factory=dict)  # target, zero_shot


@dataclass
class Plan:
    cells: list[Cell]
    phase1: dict[str, Phase1]
    shapes: dict[str, Shape]  # by model name

    def to_train(self) -> list[Phase1]:
        """The phase-1 models this sweep trains: not cached, and some cell runs phase 1."""
        trained = {cell.phase1 for cell in self.cells if cell.runs_phase1}
        return [model for key, model in self.phase1.items() if key in trained and not model.cached]

    def per_phase(self) -> dict[str, list[Estimate]]:
        return {"intermediate": [model.estimate for model in self.to_train()],
                "target": [cell.estimates["target"] for cell in self.cells if "target" in cell.estimates],
                "zero_shot": [cell.estimates["zero_shot"] for cell in self.cells if "zero_shot" in cell.estimates]}

    def everything(self) -> list[Estimate]:
        return [estimate for group in self.per_phase().values() for estimate in group]

    def without(self, finished: set[str]) -> Plan:
        """The plan of the cells whose runs have not finished: what is left to run (phase-1
        models only where a cell left needs one the cache lacks)."""
        return Plan([cell for cell in self.cells if cell.run_id not in finished], self.phase1, self.shapes)


def total(estimates: list[Estimate]) -> Estimate:
    """The sum of `estimates` (the unknown and bounded reads listed once; recipes do not add up,
    so a total has none)."""
    out = Estimate()
    for estimate in estimates:
        for name in (f.name for f in fields(Estimate) if f.name != "recipe"):
            mine, theirs = getattr(out, name), getattr(estimate, name)
            if isinstance(mine, list):
                mine += [read for read in theirs if read not in mine]
            else:
                setattr(out, name, mine + theirs)
    return out


def as_dict(estimate: Estimate) -> dict[str, Any]:
    return {**{f.name: getattr(estimate, f.name) for f in fields(estimate)},
            "recipe": asdict(estimate.recipe) if estimate.recipe else None}


def cached(entry: Path) -> bool:
    if not entry.exists():
        return False
    try:
        with FileLock(str(entry) + ".lock", timeout=0):
            return phase_cache.read_meta(entry) is not None
    except Timeout:  # a job holds it: training it now
        return False
    except OSError:  # a cache we may not write to: its entries are whole (one rename), the manifest last
        return (entry / phase_cache.MANIFEST_FILE).exists()


class _Models:
    """Each planned model's shape and tokenizer, set up once, and the sizes of the reads of
    each (model, data source)."""

    def __init__(self) -> None:
        self.shapes: dict[str, Shape] = {}
        self.tokenizers: dict[str, Any] = {}
        self.sizes: dict[str, Sizes] = {}

    def of(self, cfg: DictConfig) -> tuple[Shape, Sizes]:
        key = json.dumps([OmegaConf.to_container(cfg.model, resolve=True), cfg.cache.dir])
        if key not in self.shapes:
            resolved = modeling.resolve(cfg.model, cfg.cache.dir)
            self.shapes[key] = compute.shape(cfg.model, resolved)
            self.tokenizers[key] = compute.tokenizer(cfg.model, resolved)
        reads = json.dumps([key, cfg.data.root])
        if reads not in self.sizes:
            self.sizes[reads] = Sizes(cfg.data.root, self.tokenizers[key], file_hashes.folder(cfg.cache.dir))
        return self.shapes[key], self.sizes[reads]


def build(configs: list[DictConfig], processes: int) -> Plan:
    models = _Models()
    cells, phase1 = [], {}
    for cfg in configs:
        shape, sizes = models.of(cfg)
        key = identity.phase1_key(cfg, processes) if cfg.intermediate.name != "none" else None
        if key is not None and key not in phase1:
            entry = phase_cache.entry_path(cfg, processes)
            phase1[key] = Phase1(key, cfg.model.name, cached(entry), phases.intermediate(cfg, shape, sizes, processes))
        cell = Cell(identity.run_id(cfg, processes), cfg.model.name, key.rsplit("-", 1)[0] if key else "none",
                    cfg.target.name, cfg.seed, key, "intermediate" in cfg.phases)
        if read_plan.data_reads(cfg, "target"):  # not for retrieval, nor for a given target.checkpoint
            cell.estimates["target"] = phases.target(cfg, shape, sizes, processes)
        if read_plan.data_reads(cfg, "zero_shot"):
            cell.estimates["zero_shot"] = phases.zero_shot(cfg, shape, sizes)
        cells.append(cell)
    return Plan(cells, phase1, {shape.name: shape for shape in models.shapes.values()})
