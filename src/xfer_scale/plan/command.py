"""`xfer-scale plan [OVERRIDES...]`: what a run or sweep will cost, before anything trains.

The overrides expand exactly as `run -m` and `prepare` expand them (`prepare.compose_sweep`).
Printed: the cells; the distinct phase-1 models and which are cached; per phase the
examples, optimiser steps, tokens and FLOPs; the time per phase and its parts, the GPU-hours
and the wall time for N concurrent workers; the GPU memory a cell needs and how many share a
card. With --bench (a benchmark suite) the time is a prediction; with --tokens-per-second it
is proportional to FLOPs; with neither, a FLOP-only lower bound, flagged as such. With --detect D,
the power of the sweep's seeds and sizes to detect a low − high slope difference of D points per
tenfold data, and the seeds 80% power needs. Nothing is trained or downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import datasets
from transformers.utils import logging as hf_logging

from xfer_scale import run_folder
from xfer_scale.atomic import write_text
from xfer_scale.errors import UserError
from xfer_scale.plan import compute, cost, memory, power, suite, sweep
from xfer_scale.plan.compute import Throughput
from xfer_scale.plan.cost import Costs
from xfer_scale.plan.suite import Suite
from xfer_scale.plan.sweep import Plan
from xfer_scale.plan.timing import Clock, FlopClock, PhaseSeconds, SuiteClock
from xfer_scale.prepare import compose_sweep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xfer-scale plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, sweeps as in `run -m` (a,b / range() / glob())")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted, changes nothing: plan always expands")
    parser.add_argument("--json", type=Path, help="also write the plan here")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--tokens-per-second", type=float, metavar="X",
                       help="training tokens per second of the planned model on one GPU (time then follows FLOPs)")
    speed.add_argument("--bench", type=Path, metavar="FILE",
                       help="the JSON `scripts/bench_train.py --suite --json FILE` wrote: predicts the wall time")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="cells that run at once (default 1)")
    parser.add_argument("--processes", type=int, default=1, metavar="P",
                        help="processes (GPUs) per cell, as `accelerate launch` would give: keys and steps depend on it")
    parser.add_argument("--cells-per-gpu", type=int, default=1, metavar="K",
                        help="with --bench: K cells share each GPU, timed by the suite's runs of K concurrent cells")
    parser.add_argument("--detect", type=float, metavar="D",
                        help="print the power (two-sided t-test over seeds, alpha 0.05) to detect a low - high slope "
                        "difference of D points per tenfold data with the sweep's seeds and sizes, and the seeds 80%% "
                        "power needs; the seed-to-seed SD comes from --from-report or --seed-sd")
    sd = parser.add_mutually_exclusive_group()
    sd.add_argument("--from-report", type=Path, metavar="DIR",
                    help="with --detect: an earlier `xfer-scale report` --out folder; its scaling_fit's low-high "
                    "slope_std is the SD, rescaled from its sizes to the sweep's")
    sd.add_argument("--seed-sd", type=float, metavar="X",
                    help="with --detect: the seed-to-seed SD of the per-seed low - high slope difference at the sweep's sizes")
    return parser


def _check(options: argparse.Namespace) -> None:
    if options.workers < 1 or options.processes < 1 or options.cells_per_gpu < 1:
        raise UserError("--workers, --processes and --cells-per-gpu count machines and cells: give at least 1.")
    if options.cells_per_gpu > 1 and options.bench is None:
        raise UserError("--cells-per-gpu needs --bench FILE: only a suite measured cells sharing a GPU.")
    if options.detect is None and (options.from_report or options.seed_sd is not None):
        raise UserError("--from-report and --seed-sd give the SD for --detect D: add --detect.")
    if options.detect is not None and options.from_report is None and options.seed_sd is None:
        raise UserError("--detect needs the seed-to-seed SD of the low - high slope difference: --from-report DIR "
                        "(an earlier report) or --seed-sd X.")
    if options.seed_sd is not None and not options.seed_sd > 0:
        raise UserError(f"--seed-sd {options.seed_sd}: an SD must be above 0.")


def _clocks(plan: Plan, options: argparse.Namespace, measured: Suite | None) -> dict[str, Clock]:
    """One clock per planned model: the suite's, or FLOPs at a throughput."""
    if measured is not None:
        return {name: SuiteClock(measured, shape, options.processes, options.cells_per_gpu)
                for name, shape in plan.shapes.items()}
    throughput = (compute.user_rate(options.tokens_per_second) if options.tokens_per_second is not None
                  else compute.flop_bound())
    return {name: FlopClock(throughput, options.processes) for name in plan.shapes}


def _throughput(clocks: dict[str, Clock]) -> Throughput | None:
    found = [clock.throughput for clock in clocks.values() if isinstance(clock, FlopClock)]
    return found[0] if found else None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:,.2f} h"


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


def _table(plan: Plan, gpu_hours: dict[str, float], lower_bound: bool) -> list[str]:
    header = f"{'phase':<14}{'runs':>6}{'examples':>16}{'steps':>12}{'train tokens':>16}{'fwd tokens':>16}{'FLOPs':>12}"
    lines = [header + f"{'>= GPU-h' if lower_bound else 'GPU-h':>10}"]
    for phase, estimates in [*plan.per_phase().items(), ("total", plan.everything())]:
        s = sweep.total(estimates)
        hours = sum(gpu_hours.values()) if phase == "total" else gpu_hours[phase]
        lines.append(f"{phase:<14}{len(estimates):>6}{s.examples:>16,}{s.steps:>12,}{s.train_tokens:>16,.0f}"
                     f"{s.forward_tokens:>16,.0f}{s.flops:>12.3g}{hours:>10,.2f}")
    return lines


def _reads(reads: list[tuple[str, str, str]]) -> str:
    """(task, split, language) reads, a line per task and split."""
    languages: dict[tuple[str, str], list[str]] = {}
    for task, split, language in reads:
        languages.setdefault((task, split), []).append(language)
    return "; ".join(f"{task} {split} [{' '.join(found)}]" for (task, split), found in languages.items())


def _notes(plan: Plan) -> list[str]:
    lines = [f"model {shape.name}: {shape.parameters / 1e6:,.2f}M non-embedding parameters "
             f"({shape.total_parameters / 1e6:,.2f}M in all), {shape.layers} layers, hidden {shape.hidden} "
             f"({shape.how})"
             for shape in plan.shapes.values()]
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
    return lines


PARTS = {"compute": "FLOP time", "warmup": "warm-up", "micro_batches": "micro-batches",
         "optimizer_steps": "optimiser steps",
         "evaluation": "evaluation", "preparation": "data", "saves": "saves"}


def _time_lines(costs: Costs, clocks: dict[str, Clock], measured: Suite | None,
                options: argparse.Namespace) -> list[str]:
    clock = next(iter(clocks.values()))
    lines = []
    if clock.lower_bound:
        lines.append("!! the hours here are a FLOP-only LOWER BOUND, not a prediction: the paper's batch-4 recipe is "
                     "launch-bound on a GPU\n   and takes far longer; `--bench FILE` (scripts/bench_train.py --suite) "
                     "predicts the wall time")
    lines.append(f"time: {clock.how}; {options.processes} GPU(s) a cell"
                 + (f", {options.cells_per_gpu} cells a GPU" if options.cells_per_gpu > 1 else ""))
    shown = [f.name for f in fields(PhaseSeconds) if any(getattr(spent, f.name) for spent in costs.phases.values())]
    lines.append(f"  {'seconds of':<14}" + "".join(f"{PARTS[name]:>16}" for name in shown) + f"{'total':>14}")
    for phase, spent in costs.phases.items():
        lines.append(f"  {phase:<14}" + "".join(f"{_duration(getattr(spent, name)):>16}" for name in shown)
                     + f"{_duration(spent.total):>14}")
    if costs.startup_s:
        lines.append(f"  {'start-up':<14}{'':>{16 * len(shown)}}{_duration(costs.startup_s):>14}")
    for phase, used in costs.used.items():
        lines += [f"  {phase}: {line}" for line in used]
    if measured is not None:
        lines.append(f"  evaluation {measured.eval_tokens_per_s:,.0f} tokens/s; preparation "
                     f"{measured.prep_examples_per_s:,.0f} examples/s; a checkpoint save "
                     f"{measured.checkpoint_save_s:.3g} s "
                     f"({measured.checkpoint_bytes / 1e9:.3g} GB); start-up {measured.startup_s:.3g} s a cell")
    longest = max(costs.cell_s, default=0.0)
    lines.append(f"wall time with {options.workers} worker(s): {_duration(costs.wall_hours * 3600)}"
                 f" ({costs.wall_hours:,.4g} h; the longest cell {_duration(longest)})"
                 + ("  [LOWER BOUND]" if clock.lower_bound else ""))
    return lines


def _memory(costs: Costs) -> dict[str, Any]:
    gb, measured = max(costs.cell_gb, default=(0.0, False))
    return {"per_cell_gb": gb, "measured": measured,
            **{f"cells_per_{card}gb": memory.cells_per_card(gb, card) for card in memory.CARDS_GB}}


def _sharding(plan: Plan, costs: Costs) -> dict[str, dict[int, int]]:
    """The JSON's `sharding`: for each model that needs it, the cards (GB) its cell does not fit
    and the GPUs of that card it needs sharded (0: not even so)."""
    out: dict[str, dict[int, int]] = {}
    for name, gb in _model_gb(plan, costs).items():
        needs = {card: memory.sharded_gpus(plan.shapes[name], gb, card) for card in memory.CARDS_GB}
        if any(gpus is not None for gpus in needs.values()):
            out[name] = {card: gpus for card, gpus in needs.items() if gpus is not None}
    return out


def _memory_lines(plan: Plan, costs: Costs) -> list[str]:
    found = _memory(costs)
    how = ("measured by the suite at the recipe's batch and max_length" if found["measured"] else
           f"an ESTIMATE: {memory.TRAINING_BYTES_PER_PARAMETER} bytes a parameter (fp32 weights, gradients, AdamW) "
           "+ activations at the recipe's batch x max_length")
    cards = ", ".join(f"{found[f'cells_per_{card}gb']} on a {card} GB card" for card in memory.CARDS_GB)
    return [f"GPU memory a cell: {found['per_cell_gb']:,.3g} GB at most ({how}); cells that fit at once: {cards} "
            f"({memory.CONTEXT_GB} GB CUDA context each)", *_sharding_lines(plan, costs)]


def _sharding_lines(plan: Plan, costs: Costs) -> list[str]:
    """A line per model and card size its cell does not fit: there it needs sharding."""
    lines = []
    for name, by_card in _sharding(plan, costs).items():
        gb = _model_gb(plan, costs)[name]
        for card, gpus in by_card.items():
            split = (f"sharded over {gpus} GPUs about {memory.sharded_gb(plan.shapes[name], gb, gpus):,.3g} GB each"
                     if gpus else "its activations alone overflow the card: lower the batch or max_length")
            lines.append(f"!! model {name} NEEDS SHARDING on a {card} GB card ({gb:,.3g} GB a cell): FSDP, "
                         f"accelerate launch --config_file conf/accelerate/fsdp_bf16.yaml (docs/scale-out.md); {split}")
    return lines


def _model_gb(plan: Plan, costs: Costs) -> dict[str, float]:
    """Each model's largest cell, in GB."""
    largest: dict[str, float] = {}
    for cell, (gb, _) in zip(plan.cells, costs.cell_gb, strict=True):
        largest[cell.model] = max(gb, largest.get(cell.model, 0.0))
    return largest


def _record(plan: Plan, costs: Costs, clocks: dict[str, Clock], measured: Suite | None,
            options: argparse.Namespace) -> dict:
    clock = next(iter(clocks.values()))
    throughput = _throughput(clocks)
    return {
        "cells": len(plan.cells),
        "phase1_models": len(plan.phase1),
        "phase1_cached": sum(model.cached for model in plan.phase1.values()),
        "phase1_to_train": len(plan.to_train()),
        "cell_list": [{**{k: v for k, v in vars(cell).items() if k != "estimates"},
                       "estimates": {phase: sweep.as_dict(e) for phase, e in cell.estimates.items()},
                       "wall_s": seconds, "memory_gb": gb}
                      for cell, seconds, (gb, _) in zip(plan.cells, costs.cell_s, costs.cell_gb)],
        "phase1_list": [{"key": m.key, "model": m.model, "cached": m.cached, **sweep.as_dict(m.estimate)}
                        for m in plan.phase1.values()],
        "models": {name: vars(shape) for name, shape in plan.shapes.items()},
        "estimates": {
            **{phase: {"runs": len(estimates), **sweep.as_dict(sweep.total(estimates))}
               for phase, estimates in plan.per_phase().items()},
            "total": sweep.as_dict(sweep.total(plan.everything())),
            "throughput": vars(throughput) if throughput else None,
            "processes": options.processes, "workers": options.workers, "cells_per_gpu": options.cells_per_gpu,
            "time_model": "bench" if measured else ("tokens_per_second" if throughput and not throughput.lower_bound
                                                    else "flop_bound"),
            "lower_bound": clock.lower_bound,
            "seconds": {phase: {**asdict(spent), "total": spent.total} for phase, spent in costs.phases.items()},
            "startup_s": costs.startup_s,
            "runs_used": costs.used,
            "bench": asdict(measured) if measured else None,
            "memory": {**_memory(costs), "sharding": _sharding(plan, costs)},
            "gpu_hours": costs.gpu_hours,
            "wall_hours": costs.wall_hours,
        },
    }


def finished_runs(overrides: list[str]) -> tuple[Path | None, set[str]]:
    """The folder the overrides run into (`hydra.sweep.dir` or `hydra.run.dir`, where given: a
    default one is named by the time, so it holds nothing yet) and the ids of the runs finished
    under it, whole (`run_folder.finished`): those cells are done, not work left."""
    given = [value for override in overrides for key, _, value in [override.partition("=")]
             if key.lstrip("+") in ("hydra.sweep.dir", "hydra.run.dir")]
    if not given or not Path(given[-1]).is_dir():
        return None, set()
    folder = Path(given[-1])
    done = set()
    for record in folder.rglob("run.json"):
        found = run_folder.read_record(record.parent) or {}
        if run_folder.finished(record.parent, found.get("run_id")):
            done.add(found["run_id"])
    return folder, done


def _left_lines(plan: Plan, left: Plan, left_costs: Costs | None, folder: Path | None) -> list[str]:
    if folder is None:
        return []
    finished = len(plan.cells) - len(left.cells)
    hours = (f": {sum(left_costs.gpu_hours.values()):,.3g} GPU-h, {_duration(left_costs.wall_hours * 3600)} wall"
             if left_costs else ": nothing")
    return [f"left to run: {len(left.cells)} of {len(plan.cells)} cells ({finished} finished in {folder}){hours}"]


def _power_lines(plan: Plan, options: argparse.Namespace) -> list[str]:
    """The sweep's power to detect --detect D, per SD (one given, or one per low-high row of the report)."""
    seeds = len({cell.seed for cell in plan.cells})
    sizes = sorted({plan.phase1[cell.phase1].estimate.examples for cell in plan.cells if cell.phase1}
                   - {0})
    difference = options.detect
    head = (f"power to detect a low - high slope difference of {difference:g} points per tenfold data "
            f"(two-sided t-test over seeds, alpha {power.ALPHA}): {seeds} seed(s), sizes "
            f"{', '.join(f'{s:,}' for s in sizes) or 'unknown'}")
    if options.seed_sd is not None:
        sds = [(f"--seed-sd {options.seed_sd:g}", options.seed_sd)]
    else:
        measured = power.from_report(options.from_report, {cell.target for cell in plan.cells})
        sds = [(f"{m.target} {m.metric} ({m.split}, series {m.series[:8]}): SD {m.seed_sd:.3g} over {m.seeds} seeds "
                f"at {', '.join(f'{s:,.0f}' for s in m.sizes)}", power.rescaled_sd(m.seed_sd, m.sizes, sizes))
               for m in measured]
    lines = [head]
    for source, sd in sds:
        got = power.power(difference, sd, seeds)
        shown = "no test with 1 seed" if math.isnan(got) else f"{got:.0%}"
        lines.append(f"  {source} -> SD {sd:.3g} at the sweep's sizes: power {shown}; "
                     f"{power.seeds_needed(difference, sd)} seeds for {power.TARGET_POWER:.0%} power")
    if options.from_report:
        lines.append("  (rescaled by the spread of log10 sizes: exact where the seeds' spread is the points' noise, "
                     "optimistic where slopes themselves vary by seed)")
    return lines


def main(args: list[str]) -> int:
    options = _parser().parse_intermixed_args(args)  # overrides and options in any order
    _check(options)
    if options.tokens_per_second is not None:
        compute.user_rate(options.tokens_per_second)  # a bad figure fails before the plan takes seconds to build
    measured = suite.read(options.bench) if options.bench else None
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    plan = sweep.build(compose_sweep(options.overrides), options.processes)
    clocks = _clocks(plan, options, measured)
    costs = cost.costs(plan, clocks, options.processes, options.workers, options.cells_per_gpu, measured)
    folder, done = finished_runs(options.overrides)
    left = plan.without(done)
    left_costs = (cost.costs(left, clocks, options.processes, options.workers, options.cells_per_gpu, measured)
                  if left.cells else None)
    lower_bound = any(clock.lower_bound for clock in clocks.values())
    print("\n".join([*_cell_lines(plan), "", *_phase1_lines(plan), "", *_table(plan, costs.gpu_hours, lower_bound), "",
                     *_notes(plan), "", *_time_lines(costs, clocks, measured, options), *_memory_lines(plan, costs),
                     *_left_lines(plan, left, left_costs, folder)]))
    if options.detect is not None:
        print("\n".join(["", *_power_lines(plan, options)]))
    if options.json:
        record = _record(plan, costs, clocks, measured, options)
        record["estimates"]["left"] = {
            "folder": str(folder) if folder else None, "cells": len(left.cells), "finished": len(plan.cells) - len(left.cells),
            "gpu_hours": left_costs.gpu_hours if left_costs else {}, "wall_hours": left_costs.wall_hours if left_costs else 0.0}
        write_text(options.json, json.dumps(record, indent=1, default=str) + "\n")
    return 0
