"""What one phase of one cell spends, in wall seconds of the cell: the clocks `plan` times with.

`SuiteClock` predicts from a benchmark suite (`plan.suite`) what a cell really spends:

    warm-up          the training call's set-up and first steps (compiling, with model.compile),
                     which the steady figures below leave out: the runs' median `warmup_s`
    micro-batches    per process, steps x grad_accum of them, each the fitted launch + per-token
                     time (`plan.microbatch`) at the phase's tokens per micro-batch
    optimiser steps  steps x the measured clip + AdamW step + zero_grad
    evaluation       checkpoint selection and phase 3: forward tokens at the measured
                     evaluation tokens/s (sharded over the processes, as the loop shards it)
    preparation      the examples the phase reads and encodes, at the measured examples/s
    saves            the checkpoints `checkpoint_every_minutes` (by the clock) and/or
                     `checkpoint_every_steps` make (`saves`), each `checkpoint_save_s`, and the
                     model the phase saves at its end (its weights' share of a checkpoint's bytes)

and `startup_s` once a cell (import, Hydra, the model's build or load). `FlopClock` is the
FLOP-proportional time of a throughput (`compute.Throughput`): the user's tokens/s, or the
FLOP-only lower bound; all of it is `compute`.

Not modelled: early stopping (steps are upper bounds), the all-reduce of several processes,
and the features cache across a sweep's cells (each cell prepares what it reads).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields
from typing import Protocol

from xfer_scale.plan import microbatch
from xfer_scale.plan.compute import Shape, Throughput
from xfer_scale.plan.phases import Estimate, Recipe
from xfer_scale.plan.suite import Suite

#: bytes of a saved model's parameter (fp32 safetensors)
SAVED_BYTES_PER_PARAMETER = 4
#: a line that misses a measured run by more than this says the runs disagree (a busy machine)
POOR_FIT = 0.25


@dataclass
class PhaseSeconds:
    """Where a phase's wall seconds go (`compute`: FLOP-proportional time, without a suite)."""

    compute: float = 0.0
    warmup: float = 0.0
    micro_batches: float = 0.0
    optimizer_steps: float = 0.0
    evaluation: float = 0.0
    preparation: float = 0.0
    saves: float = 0.0

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: PhaseSeconds) -> PhaseSeconds:
        return PhaseSeconds(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


class Clock(Protocol):
    how: str
    lower_bound: bool  # FLOPs only, at an assumed rate: the true time is longer
    startup_s: float  # once a cell

    def phase(self, estimate: Estimate) -> PhaseSeconds:
        """One cell's wall seconds for the phase `estimate` counts."""

    def used(self, estimate: Estimate) -> str | None:
        """Which measurements timed the phase (None: no measured runs)."""


class FlopClock:
    """Time in proportion to FLOPs: a cell's `processes` GPUs share its work evenly."""

    def __init__(self, throughput: Throughput, processes: int):
        self.throughput = throughput
        self.processes = processes
        self.how = throughput.how
        self.lower_bound = throughput.lower_bound
        self.startup_s = 0.0

    def phase(self, estimate: Estimate) -> PhaseSeconds:
        seconds = self.throughput.seconds(estimate.flops, estimate.equivalent_tokens)
        return PhaseSeconds(compute=seconds / self.processes)

    def used(self, estimate: Estimate) -> str | None:
        return None


def saves(recipe: Recipe, steps: int, loop_s: float) -> int:
    """Checkpoints a training phase of `steps` optimiser steps and `loop_s` seconds saves, as
    `training._checkpoint_due` decides: every `checkpoint_every_steps` steps, and once
    `checkpoint_every_minutes` have passed since the last save of either kind; never at the
    last step (the phase saves its model then instead)."""
    every, minutes = recipe.checkpoint_every_steps, recipe.checkpoint_every_minutes
    by_steps = (steps - 1) // every if every else 0
    if not minutes:
        return by_steps
    interval = 60.0 * minutes

    def by_clock(span: float) -> int:  # saves strictly inside `span` seconds after a save (or the start)
        return max(0, math.ceil(span / interval) - 1)

    period = loop_s * every / steps if by_steps else 0.0  # seconds between two step saves
    return by_steps * (1 + by_clock(period)) + by_clock(loop_s - by_steps * period)


@dataclass(frozen=True)
class Timed:
    """A recipe's micro-batch line and optimiser step, and the runs they came from."""

    line: microbatch.Line
    optimizer_step_s: float
    warmup_s: float
    runs: str
    worst_error: float


class SuiteClock:
    """Predicted time from a benchmark suite of the planned model (see the module's docstring)."""

    def __init__(self, suite: Suite, shape: Shape, processes: int, concurrent: int):
        suite.check_model(shape)
        self.suite = suite
        self.processes = processes
        self.concurrent = concurrent
        self.how = (f"--bench {suite.path}: scripts/bench_train.py --suite of {suite.model} on {suite.device}"
                    + (f", {concurrent} cells sharing a device" if concurrent > 1 else "")
                    + ("" if suite.complete else " (an INCOMPLETE suite: some rows were not measured)"))
        self.lower_bound = False
        self.startup_s = suite.startup_s
        model_bytes = SAVED_BYTES_PER_PARAMETER * shape.total_parameters
        self.model_save_s = suite.checkpoint_save_s * min(1.0, model_bytes / suite.checkpoint_bytes)
        self._timed: dict[tuple[bool, bool], Timed] = {}

    def timed(self, recipe: Recipe) -> Timed:
        key = (recipe.packing, recipe.compiled)
        if key not in self._timed:
            runs, note = self.suite.training_runs(recipe, self.concurrent)
            points = [(run.tokens_per_micro_batch, run.micro_batch_s) for run in runs]
            line = microbatch.fit(points)
            self._timed[key] = Timed(line, statistics.median(run.optimizer_step_s for run in runs),
                                     statistics.median(run.warmup_s for run in runs),
                                     f"ours batch {', '.join(run.describe() for run in runs)} ({note})",
                                     line.worst_error(points))
        return self._timed[key]

    def _training(self, estimate: Estimate) -> tuple[Recipe, Timed, float] | None:
        """A training phase's recipe, its timing and its real tokens a micro-batch (None: it only evaluates)."""
        if estimate.recipe is None or not estimate.micro_batches:
            return None
        return estimate.recipe, self.timed(estimate.recipe), estimate.train_tokens / estimate.micro_batches

    def phase(self, estimate: Estimate) -> PhaseSeconds:
        suite = self.suite
        seconds = PhaseSeconds(evaluation=estimate.forward_tokens / suite.eval_tokens_per_s / self.processes,
                               preparation=estimate.prepared / suite.prep_examples_per_s)
        training = self._training(estimate)
        if training is None:
            return seconds
        recipe, timed, tokens = training
        seconds.micro_batches = estimate.micro_batches / self.processes * timed.line(tokens)
        seconds.optimizer_steps = estimate.steps * timed.optimizer_step_s
        seconds.warmup = timed.warmup_s
        loop = seconds.micro_batches + seconds.optimizer_steps + seconds.evaluation
        seconds.saves = saves(recipe, estimate.steps, loop) * suite.checkpoint_save_s + self.model_save_s
        return seconds

    def used(self, estimate: Estimate) -> str | None:
        training = self._training(estimate)
        if training is None:
            return None
        recipe, timed, tokens = training
        return (f"batch {recipe.batch_size} x {recipe.grad_accum}, {tokens:,.0f} tokens a micro-batch: "
                f"{timed.line(tokens) * 1e3:.3g} ms each ({timed.line.launch_s * 1e3:.3g} ms launch + "
                f"{timed.line.per_token_s * 1e6:.3g} us a token), {timed.optimizer_step_s * 1e3:.3g} ms an optimiser "
                f"step, {timed.warmup_s:.3g} s of warm-up;\n      fitted to the suite's runs {timed.runs}, "
                f"within {timed.worst_error:.0%} at them"
                + (" -- a POOR fit: the runs disagree (timed on a busy machine?); rerun the suite on an idle one"
                   if timed.worst_error > POOR_FIT else ""))
