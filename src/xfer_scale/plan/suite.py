"""The benchmark suite `scripts/bench_train.py --suite --json FILE` writes, read and checked,
and the measured runs that time a recipe.

`plan --bench FILE` predicts from what the suite measured at several shapes: per micro-batch
and per optimiser step (launch-bound at small batches, so not per FLOP), evaluation, data
preparation, a checkpoint save and a cell's start-up. A file that lacks any of it is refused
with the command that writes a whole one: a plan silently missing a cost would be no
prediction. Only `ours` runs time the plan (the loop the pipeline runs), at one cell a device
unless `--cells-per-gpu K` asks for the rows where K cells shared it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xfer_scale.errors import UserError
from xfer_scale.plan.compute import Shape
from xfer_scale.plan.phases import Recipe

VERSION = 1
METHOD = "ours"
FIX = "python scripts/bench_train.py --suite --model MODEL --device DEVICE --json FILE"


@dataclass(frozen=True)
class Run:
    """One measured training run of the suite."""

    batch_size: int
    grad_accum: int
    packing: bool
    compiled: bool
    concurrent: int
    micro_batch_s: float  # one micro-batch's forward + backward
    optimizer_step_s: float  # clip + AdamW step + zero_grad
    tokens_per_micro_batch: float  # real (unpadded) tokens
    peak_memory_gb: float | None
    warmup_s: float  # the training call's set-up and first steps, left out of the steady figures (0: not measured)

    def describe(self) -> str:
        return f"{self.batch_size} x {self.grad_accum}"


@dataclass
class Suite:
    """What the plan needs of a suite file."""

    path: Path
    model: str
    device: str
    layers: int
    hidden: int
    max_length: int
    runs: list[Run]  # `ours` runs only
    checkpoint_save_s: float
    checkpoint_bytes: int
    eval_tokens_per_s: float
    startup_s: float
    prep_examples_per_s: float
    complete: bool  # False: the suite was cut short (a time budget, a failed row); some rows are missing

    def check_model(self, shape: Shape) -> None:
        """A suite times one model: another one's times say nothing of the planned model."""
        if (self.layers, self.hidden) != (shape.layers, shape.hidden):
            raise UserError(
                f"--bench {self.path} measured model {self.model} ({self.layers} layers, hidden {self.hidden}), "
                f"but the plan trains {shape.name} ({shape.layers} layers, hidden {shape.hidden}); run "
                f"`{FIX.replace('MODEL', shape.name)}` for it (one model per plan with --bench).")

    def training_runs(self, recipe: Recipe, concurrent: int) -> tuple[list[Run], str]:
        """The runs that time a phase at `recipe`, and a note on how they match it: `concurrent`
        cells a device, the recipe's packing and compilation (where the suite has none with
        them, its runs with any, noted as such)."""
        sharing = [run for run in self.runs if run.concurrent == concurrent]
        if not sharing:
            raise UserError(f"--bench {self.path} has no `{METHOD}` runs with {concurrent} cell(s) a device; "
                            f"leave out --cells-per-gpu or give one it measured "
                            f"({', '.join(sorted({str(run.concurrent) for run in self.runs}))}).")
        matching = [run for run in sharing if (run.packing, run.compiled) == (recipe.packing, recipe.compiled)]
        wanted = f"packing {'on' if recipe.packing else 'off'}, {'compiled' if recipe.compiled else 'not compiled'}"
        if matching:
            chosen, note = matching, wanted
        else:
            chosen, note = sharing, f"NONE measured with {wanted}: all packings and compilations"
        if len({run.tokens_per_micro_batch for run in chosen}) < 2:
            raise UserError(f"--bench {self.path}: a micro-batch's launch and per-token costs need `{METHOD}` runs at "
                            f"two or more batch sizes ({note}); run `{FIX}`.")
        return chosen, note

    def peak_memory_gb(self, recipe: Recipe, concurrent: int) -> float | None:
        """The measured peak of a run at the recipe's very shapes (batch, max_length, packing,
        compilation), if the suite has one."""
        peaks = [run.peak_memory_gb for run in self.runs
                 if run.peak_memory_gb is not None and run.concurrent == concurrent
                 and (run.batch_size, run.packing, run.compiled) == (recipe.batch_size, recipe.packing, recipe.compiled)
                 and self.max_length == recipe.max_length]
        return max(peaks) if peaks else None


def _number(record: dict[str, Any], key: str, where: str, path: Path, positive: bool = True) -> float:
    value = record.get(key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        found = "is missing" if value is None else f"is {value!r}, not a number {'> 0' if positive else '>= 0'}"
        raise UserError(f"--bench {path}: {where}{key} {found}; run `{FIX}` again.")
    return float(value)


def _run(record: dict[str, Any], number: int, path: Path) -> Run:
    where = f"runs[{number}]."
    peak = record.get("peak_memory_gb")
    return Run(int(_number(record, "batch_size", where, path)), int(_number(record, "grad_accum", where, path)),
               bool(record.get("packing", False)), bool(record.get("compiled", False)),
               int(_number(record, "concurrent", where, path)),
               _number(record, "micro_batch_s", where, path), _number(record, "optimizer_step_s", where, path, False),
               _number(record, "tokens_per_micro_batch", where, path),
               None if peak is None else _number(record, "peak_memory_gb", where, path),
               _number(record, "warmup_s", where, path, positive=False) if "warmup_s" in record else 0.0)


def read(path: Path) -> Suite:
    """The suite in `path`, checked: every cost the plan predicts from must be there."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"--bench {path}: cannot read it ({error}).") from None
    if not isinstance(record, dict) or record.get("suite") != VERSION:
        raise UserError(f"--bench {path}: not a benchmark suite (no \"suite\": {VERSION}; a single "
                        f"scripts/bench_train.py run cannot time a cell); run `{FIX}`.")
    runs = [_run(run, number, path) for number, run in enumerate(record.get("runs") or [])
            if isinstance(run, dict) and run.get("method") == METHOD]
    if not runs:
        raise UserError(f"--bench {path}: no `{METHOD}` training runs; run `{FIX}`.")
    evals = [entry for entry in record.get("eval") or [] if isinstance(entry, dict) and entry.get("method") == METHOD]
    if not evals:
        raise UserError(f"--bench {path}: no `{METHOD}` evaluation entry (eval); run `{FIX}`.")
    parameters = record.get("parameters") if isinstance(record.get("parameters"), dict) else {}
    return Suite(
        path=path, model=str(record.get("model")), device=str(record.get("device")),
        layers=int(_number(parameters, "layers", "parameters.", path)),
        hidden=int(_number(parameters, "hidden", "parameters.", path)),
        max_length=int(_number(record, "max_length", "", path)), runs=runs,
        checkpoint_save_s=_number(record, "checkpoint_save_s", "", path, positive=False),
        checkpoint_bytes=int(_number(record, "checkpoint_bytes", "", path)),
        eval_tokens_per_s=_number(evals[0], "tokens_per_s", "eval[ours].", path),
        startup_s=_number(record, "startup_s", "", path, positive=False),
        prep_examples_per_s=_number(record, "prep_examples_per_s", "", path),
        complete=record.get("complete") is not False,
    )
