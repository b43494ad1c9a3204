"""`xfer-scale plan [OVERRIDES...]`: what a run or sweep will cost, before anything trains.

The overrides expand exactly as `run -m` and `prepare` expand them (`prepare.compose_sweep`).
Printed: the cells; the distinct phase-1 models and which are cached; per phase the
examples, optimiser steps, tokens and FLOPs; with a throughput, GPU-hours and the wall time
for N concurrent workers. Nothing is trained or downloaded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import datasets
from transformers.utils import logging as hf_logging

from xfer_scale.atomic import write_text
from xfer_scale.errors import UserError
from xfer_scale.plan import compute, sweep
from xfer_scale.plan.compute import Throughput
from xfer_scale.plan.sweep import Plan
from xfer_scale.prepare import compose_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xfer-scale plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, sweeps as in `run -m` (a,b / range() / glob())")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted, changes nothing: plan always expands")
    parser.add_argument("--json", type=Path, help="also write the plan here")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--tokens-per-second", type=float, metavar="X",
                       help="training tokens per second of the planned model on one GPU")
    speed.add_argument("--bench", type=Path, metavar="FILE",
                       help="the JSON `scripts/bench_train.py --json` wrote: its measured training tokens/s")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="cells that run at once (default 1)")
    parser.add_argument("--processes", type=int, default=1, metavar="P",
                        help="processes (GPUs) per cell, as `accelerate launch` would give: keys and steps depend on it")
    return parser


def _throughput(options: argparse.Namespace) -> Throughput | None:
    if options.bench:
        return compute.from_bench(options.bench)
    if options.tokens_per_second:
        return Throughput(options.tokens_per_second, None, f"--tokens-per-second {options.tokens_per_second:,.0f}")
    return None


def _cell_lines(plan: Plan) -> list[str]:
    lines = [f"cells: {len(plan.cells)}"]
    for number, cell in enumerate(plan.cells, 1):
        phase1 = f"phase 1 {cell.phase1}{' (cached)' if plan.phase1[cell.phase1].cached else ''}" if cell.phase1 else ""
        lines.append(f"  {number:>4}  {cell.model} {cell.intermediate} -> {cell.target} seed {cell.seed}"
                     f"  run {cell.run_id}  {phase1}".rstrip())
    return lines


def _phase1_lines(plan: Plan) -> list[str]:
    cached = sum(model.cached for model in plan.phase1.values())
    lines = [f"phase-1 models: {len(plan.phase1)} distinct, {cached} cached, {len(plan.to_train())} to train"]
    for model in plan.phase1.values():
        lines.append(f"  {model.key:<40} {model.estimate.examples:>12,} examples {model.estimate.steps:>10,} steps  "
                     f"{'cached' if model.cached else 'to train'}")
    return lines


def _hours(plan: Plan, throughput: Throughput | None, processes: int) -> dict[str, float] | None:
    """GPU-hours per phase (cached phase-1 models excluded)."""
    if throughput is None:
        return None
    return {phase: sum(throughput.seconds(e.flops, e.equivalent_tokens) for e in estimates) * processes / 3600
            for phase, estimates in plan.per_phase().items()}


def _wall_hours(plan: Plan, throughput: Throughput, workers: int) -> float:
    """The work spread over `workers` evenly, but never less than the longest cell with the
    phase-1 model it may have to train first."""
    def hours(estimate: sweep.Estimate) -> float:
        return throughput.seconds(estimate.flops, estimate.equivalent_tokens) / 3600

    spread = sum(hours(e) for e in plan.everything()) / workers
    trained = {model.key for model in plan.to_train()}
    longest = max((sum(hours(e) for e in cell.estimates.values())
                   + (hours(plan.phase1[cell.phase1].estimate) if cell.phase1 in trained else 0.0)
                   for cell in plan.cells), default=0.0)
    return max(spread, longest)


def _table(plan: Plan, gpu_hours: dict[str, float] | None) -> list[str]:
    header = f"{'phase':<14}{'runs':>6}{'examples':>16}{'steps':>12}{'train tokens':>16}{'fwd tokens':>16}{'FLOPs':>12}"
    lines = [header + (f"{'GPU-h':>10}" if gpu_hours else "")]
    for phase, estimates in [*plan.per_phase().items(), ("total", plan.everything())]:
        s = sweep.total(estimates)
        line = (f"{phase:<14}{len(estimates):>6}{s.examples:>16,}{s.steps:>12,}{s.train_tokens:>16,.0f}"
                f"{s.forward_tokens:>16,.0f}{s.flops:>12.3g}")
        if gpu_hours:
            line += f"{(sum(gpu_hours.values()) if phase == 'total' else gpu_hours[phase]):>10,.2f}"
        lines.append(line)
    return lines


def _reads(reads: list[tuple[str, str, str]]) -> str:
    """(task, split, language) reads, a line per task and split."""
    languages: dict[tuple[str, str], list[str]] = {}
    for task, split, language in reads:
        languages.setdefault((task, split), []).append(language)
    return "; ".join(f"{task} {split} [{' '.join(found)}]" for (task, split), found in languages.items())


def _notes(plan: Plan, throughput: Throughput | None, workers: int, processes: int) -> list[str]:
    lines = [f"model {shape.name}: {shape.parameters / 1e6:,.2f}M non-embedding parameters, {shape.layers} layers, "
             f"hidden {shape.hidden} ({shape.how})" for shape in plan.shapes.values()]
    lines.append("FLOPs per token: training 6N + 12LHT, forward only 2N + 4LHT (N non-embedding parameters, "
                 "L layers, H hidden,\n  T the length-weighted mean sequence length); runs: cells that run the phase "
                 "(phase 1: models to train); steps assume no early stop")
    everything = sweep.total(plan.everything())
    if everything.unknown:
        lines.append(f"unknown sizes (no local data, no recorded size; their work is missing above): "
                     f"{_reads(everything.unknown)}; set data.root to count them")
    if everything.bounded:
        lines.append(f"lengths taken as max_length (an upper bound; no tokenizer or local data): "
                     f"{_reads(everything.bounded)}")
    if throughput is None:
        lines.append("GPU-hours and wall time need a throughput: --tokens-per-second X, or --bench FILE "
                     "(scripts/bench_train.py --json)")
    else:
        lines.append(f"throughput: {throughput.how}; {processes} GPU(s) per cell")
        lines.append(f"wall time with {workers} worker(s): {_wall_hours(plan, throughput, workers):,.2f} h")
    return lines


def _record(plan: Plan, throughput: Throughput | None, workers: int, processes: int) -> dict:
    gpu_hours = _hours(plan, throughput, processes)
    return {
        "cells": len(plan.cells),
        "phase1_models": len(plan.phase1),
        "phase1_cached": sum(model.cached for model in plan.phase1.values()),
        "phase1_to_train": len(plan.to_train()),
        "cell_list": [{**{k: v for k, v in vars(cell).items() if k != "estimates"},
                       "estimates": {phase: sweep.as_dict(e) for phase, e in cell.estimates.items()}}
                      for cell in plan.cells],
        "phase1_list": [{"key": m.key, "cached": m.cached, **sweep.as_dict(m.estimate)} for m in plan.phase1.values()],
        "models": {name: vars(shape) for name, shape in plan.shapes.items()},
        "estimates": {
            **{phase: {"runs": len(estimates), **sweep.as_dict(sweep.total(estimates))}
               for phase, estimates in plan.per_phase().items()},
            "total": sweep.as_dict(sweep.total(plan.everything())),
            "throughput": vars(throughput) if throughput else None,
            "processes": processes, "workers": workers,
            "gpu_hours": gpu_hours,
            "wall_hours": _wall_hours(plan, throughput, workers) if throughput else None,
        },
    }


def main(args: list[str]) -> int:
    options = _parser().parse_intermixed_args(args)  # overrides and options in any order
    if options.workers < 1 or options.processes < 1:
        raise UserError("--workers and --processes count machines: give at least 1.")
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    throughput = _throughput(options)
    plan = sweep.build(compose_sweep(options.overrides), options.processes)
    gpu_hours = _hours(plan, throughput, options.processes)
    print("\n".join([*_cell_lines(plan), "", *_phase1_lines(plan), "", *_table(plan, gpu_hours), "",
                     *_notes(plan, throughput, options.workers, options.processes)]))
    if options.json:
        record = _record(plan, throughput, options.workers, options.processes)
        write_text(options.json, json.dumps(record, indent=1, default=str) + "\n")
    return 0
