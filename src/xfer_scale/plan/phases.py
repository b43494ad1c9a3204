"""What each phase of one cell computes: examples, optimiser steps, micro-batches, tokens,
FLOPs and the examples it prepares, and the recipe (`Recipe`) its training runs at.

Training is counted as `training.train` runs it: an epoch is every training task's batches
(ceil(features / batch) each), each process takes its share and steps once per `grad_accum`
of them; phase 1's steps follow its budget (`pipeline.budgeted`). Early stopping cannot be
foreseen, so training estimates are upper bounds. Checkpoint selection evaluates
`eval_examples` dev rows every `eval_every_steps` steps and at the end; zero-shot evaluates
every read of `read_plan` (capped by `eval.max_examples`). Data preparation encodes whole
splits where the features cache is on (`feature_cache.encode` encodes the full split once and
selects the rows from it), and only the rows used where it is off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from omegaconf import DictConfig

from xfer_scale import pipeline, read_plan, steps
from xfer_scale.plan.compute import Shape
from xfer_scale.plan.sizes import Size, Sizes


@dataclass
class Recipe:
    """The shapes a training phase runs at: what its time per micro-batch and per optimiser
    step (`plan.timing`), its checkpoint saves and its memory (`plan.memory`) depend on."""

    batch_size: int
    grad_accum: int
    max_length: int
    packing: bool
    compiled: bool
    mixed_precision: bool  # bf16/fp16 autocast (the default on a GPU): activations in 16 bits
    checkpoint_every_minutes: float | None
    checkpoint_every_steps: int | None


def recipe(cfg: DictConfig, train: DictConfig) -> Recipe:
    """The recipe of a phase training with `train` (a task's `train`, or phase 1's budgeted one)."""
    mixed = cfg.precision in ("bf16", "fp16") or (cfg.precision == "auto" and not cfg.cpu)
    return Recipe(train.batch_size, train.grad_accum, train.max_length, bool(train.packing), bool(cfg.model.compile),
                  mixed, train.checkpoint_every_minutes, train.checkpoint_every_steps)


@dataclass
class Estimate:
    """One phase of one cell. `equivalent_tokens` is its FLOPs in training tokens of the planned
    model at the phase's own lengths, what a measured tokens/s divides. `unknown` lists the
    reads (task, split, language) whose size is unknown (their work is missing), `bounded`
    those whose lengths are `max_length` (their work is overestimated). `micro_batches`
    counts all processes' (`steps.micro_batches`); `prepared` the examples read and encoded;
    `recipe` is None for phase 3, which only evaluates."""

    examples: int = 0
    steps: int = 0
    micro_batches: int = 0
    prepared: int = 0
    train_tokens: float = 0.0
    forward_tokens: float = 0.0
    flops: float = 0.0
    equivalent_tokens: float = 0.0
    unknown: list[tuple[str, str, str]] = field(default_factory=list)
    bounded: list[tuple[str, str, str]] = field(default_factory=list)
    recipe: Recipe | None = None

    def add(self, shape: Shape, tokens: float, size: Size, training: bool) -> None:
        flops = (shape.training_flops if training else shape.forward_flops)(tokens, size.attended)
        self.flops += flops
        self.equivalent_tokens += flops / shape.training_flops(1.0, size.attended)
        if training:
            self.train_tokens += tokens
        else:
            self.forward_tokens += tokens


def _name(read: tuple[DictConfig, str, str]) -> tuple[str, str, str]:
    task, split, language = read
    return task.name, split, language


def _sized(estimate: Estimate, sizes: Sizes, reads: list, max_length: int) -> list[Size]:
    """The reads' sizes, noting in `estimate` the unknown and the bounded ones."""
    found = [sizes.of(*read, max_length) for read in reads]
    estimate.unknown += [_name(read) for read, size in zip(reads, found) if size.examples is None]
    estimate.bounded += [_name(read) for read, size in zip(reads, found) if size.examples and size.length_bound]
    return found


def _dev_rows(train: DictConfig, dev: Size | None) -> int:
    """The English dev rows that select checkpoints (`eval_examples` of them, at most the split)."""
    if dev is None or not dev.examples:
        return 0
    return min(train.eval_examples or dev.examples, dev.examples)


def _train(estimate: Estimate, shape: Shape, parts: list[tuple[Size, int]], dev: Size | None, train: DictConfig,
           processes: int) -> None:
    """Training on `parts` ((size, examples kept) per training task), with selection on `dev`."""
    features = [kept * size.features_per_example for size, kept in parts]
    batches = sum(math.ceil(count / train.batch_size) for count in features)
    estimate.steps = steps.total(train, batches, processes)
    estimate.micro_batches = steps.micro_batches(estimate.steps, train.grad_accum, processes)
    epochs = (estimate.steps * train.batch_size * train.grad_accum * processes / sum(features)
              if train.max_steps else train.epochs)
    for (size, _), count in zip(parts, features):
        estimate.add(shape, epochs * count * size.tokens_per_feature, size, training=True)
    rows = _dev_rows(train, dev)
    if dev is not None and rows:
        evaluations = math.ceil(estimate.steps / train.eval_every_steps)
        estimate.add(shape, evaluations * rows * dev.features_per_example * dev.tokens_per_feature, dev, training=False)


def _training_phase(cfg: DictConfig, shape: Shape, sizes: Sizes, task: DictConfig, reads: list,
                    amount: tuple[float, int | None], processes: int, budget: bool) -> Estimate:
    """A training phase over `reads` (its training splits, then a dev split if it has one),
    keeping `amount` = (fraction, examples) of the training data."""
    estimate = Estimate()
    train_reads = [read for read in reads if read[1] == "train"]
    dev_reads = [read for read in reads if read[1] == "dev"]
    found = _sized(estimate, sizes, train_reads, task.train.max_length)
    dev = _sized(estimate, sizes, dev_reads, task.train.max_length)
    if not found or any(size.examples is None for size in found):
        return estimate
    full = sum(size.examples for size in found)
    fraction, examples = amount
    share = examples / full if examples is not None else fraction
    kept = [round(share * size.examples) for size in found]
    train = pipeline.budgeted(task, full, processes) if budget else task.train
    selection = dev[0] if dev else None
    _train(estimate, shape, list(zip(found, kept)), selection, train, processes)
    estimate.examples = sum(kept)
    whole = cfg.cache.features
    estimate.prepared = (full if whole else sum(kept)) + (
        (selection.examples if whole else _dev_rows(train, selection)) if selection and selection.examples else 0)
    estimate.recipe = recipe(cfg, train)
    return estimate


def intermediate(cfg: DictConfig, shape: Shape, sizes: Sizes, processes: int) -> Estimate:
    """Phase 1: the subsample of the intermediate task, under its budget."""
    inter = cfg.intermediate
    return _training_phase(cfg, shape, sizes, inter, read_plan.phase1_reads(inter),
                           (inter.fraction, inter.examples), processes, budget=True)


def target(cfg: DictConfig, shape: Shape, sizes: Sizes, processes: int) -> Estimate:
    """Phase 2: all of the target's English training data."""
    return _training_phase(cfg, shape, sizes, cfg.target, read_plan.data_reads(cfg, "target"), (1.0, None),
                           processes, budget=False)


def zero_shot(cfg: DictConfig, shape: Shape, sizes: Sizes) -> Estimate:
    """Phase 3: every evaluated language and split, forward only."""
    estimate = Estimate()
    reads = read_plan.data_reads(cfg, "zero_shot")
    for size in _sized(estimate, sizes, reads, cfg.target.train.max_length):
        if size.examples is None:
            continue
        rows = min(cfg.eval.max_examples or size.examples, size.examples)
        estimate.examples += rows
        estimate.prepared += size.examples if cfg.cache.features else rows
        estimate.add(shape, rows * size.features_per_example * size.tokens_per_feature, size, training=False)
    return estimate
