"""Training, inference, checkpoint, start-up and data-preparation speed: the suite `xfer-scale
plan --bench FILE` predicts a sweep's time from, and our loop against the HF Trainer.

    python scripts/bench_train.py --suite --model tiny --device cpu --threads 1 --json suite.json
    python scripts/bench_train.py --suite --model xlmr-large --device cuda --time-budget-s 400 \
        --workdir outputs/bench --json suite.json
    python scripts/bench_train.py --model tiny --batch-size 32 --eval --json one.json   # one shape, no suite

Training rows (`runs`), each a fresh model (random init from the config, built on the target
device, so the cost is the real one) on synthetic features of real lengths:

    ours        `xfer_scale.training.train` as the pipeline calls it (length-grouped batches,
                dynamic padding, fused AdamW, bf16 autocast and TF32 on a GPU), padded or packed
                (`train.packing`), eager or compiled (`compile_bucket`, as `model.compile`)
    hf-default  the `Trainer` as the transformers example scripts run it: fp32 without TF32,
                every feature padded to max_length, random order; at the row's batch and
                accumulation, NOT its default batch of 8, so every method trains at the same
                effective batch (and the phase-1 recipe's batch of 4 runs at all)
    hf-tuned    the `Trainer` with bf16 and TF32 (on a GPU), `DataCollatorWithPadding` and
                length-grouped sampling

The suite times batch x accumulation 4 x 1 (the phase-1 recipe), 4 x 8 (phase 2) and 32 x 1,
padded and packed, eager and compiled, and 1 and K concurrent cells (K processes on one device,
each training its own copy at once). Per row: the mean seconds of a micro-batch (forward and
backward, with fetching and collating its batch) and of an optimiser step (clip, learning rate,
AdamW step, zero_grad), real tokens a micro-batch, tokens/s, MFU, peak memory.

Steady state only: each row's timeline is a mark after every backward and after every
zero_grad; the first `--warmup-steps` optimiser steps (and, compiled, the first
`--shape-repeats` batches of every shape, which the bench orders first: compiling and CUDA
graph capture happen there) are left out, and so is all set-up before them. On CUDA a mark is
an event the device stamps when it gets there (no host sync per mark; the marks tile the
device's time); on the CPU, `perf_counter`. Concurrent cells wait at a barrier and only the
span in which every cell was in its steady state counts.

Also: one full checkpoint save (`checkpoint.save`: weights, AdamW, RNG) and its bytes; phase-3
inference (`evaluation.predict_logits` on the bf16 copy phase 3 uses) against
`Trainer.predict`, sentences/s, tokens/s and forward MFU; start-up (`bench_startup.py`, a fresh
Python: imports, tokenizer, the model loaded from a saved folder, accelerator, AdamW and
`prepare`); examples/s of the classification format's `encode` on MNLI-like synthetic pairs.

Lengths (tokens, specials included) are log-normal, clipped to [5, max_length]:
classification mu 3.56, sigma 0.5 (mean ~40, p99 ~113, ~0.5% cut at 128: MNLI premise+hypothesis
as the issue describes it); qa mu 5.13, sigma 0.38, fitted to XQuAD-en question+context
(whitespace words x 1.3 pieces + 4 specials; mean ~183, ~1.8% cut at 384). FLOPs per real token
are `plan.compute.Shape`'s: 6N + 12LHT training, 2N + 4LHT forward; MFU divides by the device's
dense bf16 peak (`peak_tflops`, from its name, or --peak-tflops).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import datasets
import numpy as np
import torch
from accelerate import Accelerator
from accelerate.optimizer import AcceleratedOptimizer
from accelerate.state import AcceleratorState, GradientState
from omegaconf import DictConfig, OmegaConf
from transformers import (DataCollatorWithPadding, Trainer, TrainingArguments, XLMRobertaConfig,
                          XLMRobertaForQuestionAnswering, XLMRobertaForSequenceClassification, XLMRobertaModel,
                          default_data_collator)

from xfer_scale import architectures, checkpoint, config, evaluation, feature_cache, formats, modeling, pipeline, training
from xfer_scale.atomic import write_text
from xfer_scale.errors import UserError
from xfer_scale.formats.batching import feature_lengths
from xfer_scale.plan import compute
from xfer_scale.shape_buckets import bucket

SCRIPT = Path(__file__).resolve()
MODELS = sorted(p.name.removesuffix(".yaml") for p in (resources.files("xfer_scale.conf") / "model").iterdir()
                if p.name.endswith(".yaml"))
STARTUP_SCRIPT = SCRIPT.with_name("bench_startup.py")
SUITE_VERSION = 1
METHODS = ("ours", "hf-default", "hf-tuned")
PHASE1, PHASE2, LARGE = (4, 1), (4, 8), (32, 1)  # batch x accumulation: the recipes, and a large batch
LENGTHS = {  # task: (log-normal mu, sigma, max_length)
    "classification": (3.56, 0.5, 128),
    "qa": (5.13, 0.38, 384),
}
MIN_LENGTH = 5
FORMAT_OF_TASK = {"classification": "classification", "qa": "span_qa"}
NLI_LABELS = ["entailment", "neutral", "contradiction"]
XNLI_LANGUAGES = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
#: config.json fields of XLM-R that `compute.RECORDED_CONFIGS` leaves out (they change no FLOPs)
XLMR_CONFIG = {"layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}
#: dense bf16 tensor-core peaks of NVIDIA's spec sheets, by device name (first match); others: --peak-tflops
PEAK_BF16_TFLOPS = (
    (r"H100.*PCIe", 756.0),
    (r"H100.*(SXM|HBM3)", 989.0),  # the SXM card names itself "H100 80GB HBM3"
    (r"H200(?!.*NVL)", 989.0),
    (r"A100", 312.0),
)
#: how long a concurrent cell waits for the others at a barrier before giving up
BARRIER_TIMEOUT_S = 900.0
#: compiled rows' length buckets: every shape compiles anew (about 35 s a shape for the tiny model on
#: a shared 2-core CPU; XLM-R Large on a GPU: unmeasured), and the pipeline's 32 gives 4 lengths a batch
#: size up to 128, 64 gives 2: half the compiling, a little more padding. --compile-bucket 32 times the
#: pipeline's default exactly
SUITE_COMPILE_BUCKET = 64
#: concurrent cells start together, but their first steps (loader, first forward) can differ by a
#: tenth of a second on a busy machine: at least this many steady micro-batches keep their steady
#: spans overlapping (`overlap`) however few --micro-batches (or --quick) asks for
CONCURRENT_MICRO_BATCHES = 32


def peak_from_name(device_name: str) -> float | None:
    """The device's dense bf16 peak in TFLOP/s, where its name is in PEAK_BF16_TFLOPS; None
    (no MFU) for any other: a guessed peak would make a made-up MFU."""
    return next((peak for pattern, peak in PEAK_BF16_TFLOPS if re.search(pattern, device_name, re.IGNORECASE)), None)


@dataclass
class Spec:
    """What the bench measures, and how much of it."""

    model: str = "tiny"
    device: str = "cpu"
    task: str = "classification"
    micro_batches: int = 64  # steady micro-batches a training row times (per cell)
    warmup_steps: int = 3  # optimiser steps at the start of every row left out
    shape_repeats: int = 3  # compiled rows: the first this many batches of every shape are warm-up
    compile_bucket: int = SUITE_COMPILE_BUCKET  # compiled rows: `model.compile_bucket`
    concurrent: list[int] = field(default_factory=lambda: [1, 2])
    eval_languages: int = 5
    eval_examples: int = 1000  # sentences a language
    eval_batch_size: int = 64  # ours and hf-tuned (the pipeline's eval.batch_size); hf-default: 8
    prep_examples: int = 20_000
    learning_rate: float = 1e-5
    seed: int = 1
    threads: int | None = None  # torch CPU threads; 1 keeps timings steady on a busy machine
    peak_tflops: float | None = None  # None: from the device's name
    attention: str = "sdpa"  # ours: `model.attention`
    cache_dir: str = "outputs/cache"  # where the tiny model (and its tokenizer) is built
    time_budget_s: float | None = None  # training rows not finished by then are cut off (and listed)
    suite: bool = True
    # without --suite: one shape, the three methods
    batch_size: int = 32
    grad_accum: int = 1
    packing: bool = False
    compiled: bool = False
    eval: bool = False

    @property
    def max_length(self) -> int:
        return LENGTHS[self.task][2]

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


@dataclass(frozen=True)
class RunSpec:
    """One training row."""

    method: str
    batch_size: int
    grad_accum: int
    packing: bool = False
    compiled: bool = False
    concurrent: int = 1


def suite_runs(spec: Spec) -> list[RunSpec]:
    """The suite's training rows, cheapest and most needed first (a run cut short by a time
    limit still leaves a usable file): compiled rows last, their compiling may take minutes."""
    two = (PHASE1, LARGE)  # `plan` fits a launch + per-token line: two batch sizes a kind of row
    rows = [RunSpec("ours", b, a) for b, a in (PHASE1, LARGE, PHASE2)]
    rows += [RunSpec("ours", b, a, packing=True) for b, a in two]
    rows += [RunSpec(method, b, a) for method in ("hf-default", "hf-tuned") for b, a in two]
    rows += [RunSpec("ours", b, a, concurrent=k) for k in spec.concurrent if k > 1 for b, a in two]
    return rows + [RunSpec("ours", b, a, compiled=True) for b, a in two]


def single_runs(spec: Spec) -> list[RunSpec]:
    """Without --suite: the three methods at one shape (packing and compiling: ours only)."""
    return [RunSpec("ours", spec.batch_size, spec.grad_accum, spec.packing, spec.compiled),
            RunSpec("hf-default", spec.batch_size, spec.grad_accum), RunSpec("hf-tuned", spec.batch_size, spec.grad_accum)]


def groups(runs: list[RunSpec]) -> list[list[RunSpec]]:
    """Rows run together: each single-cell row alone (in this process), and all rows of one
    concurrency together (one set of cell processes, which train them one after the other)."""
    out: list[list[RunSpec]] = []
    by_cells: dict[int, list[RunSpec]] = {}
    for run in runs:
        if run.concurrent == 1:
            out.append([run])
        elif run.concurrent not in by_cells:
            by_cells[run.concurrent] = [run]
            out.append(by_cells[run.concurrent])
        else:
            by_cells[run.concurrent].append(run)
    return out


# ---- data -------------------------------------------------------------------------------

def sample_lengths(n: int, task: str, seed: int) -> np.ndarray:
    mu, sigma, max_length = LENGTHS[task]
    raw = np.random.default_rng(seed).lognormal(mu, sigma, n)
    return np.clip(np.rint(raw), MIN_LENGTH, max_length).astype(int)


def synthetic_features(lengths: np.ndarray, task: str, cfg: XLMRobertaConfig, seed: int) -> datasets.Dataset:
    """Model features as a format's `encode` leaves them: `<s> pieces </s>`, unpadded, with labels."""
    rng = np.random.default_rng(seed)
    first_piece = 4  # after <s> <pad> </s> <unk>; the last id (<mask>) is left out too
    ids = [[cfg.bos_token_id, *rng.integers(first_piece, cfg.vocab_size - 1, n - 2).tolist(), cfg.eos_token_id]
           for n in lengths]
    columns: dict[str, list] = {"input_ids": ids, "attention_mask": [[1] * n for n in lengths]}
    if task == "classification":
        columns["labels"] = rng.integers(0, len(NLI_LABELS), len(lengths)).tolist()
    else:
        starts = [int(rng.integers(1, n - 1)) for n in lengths]
        columns["start_positions"] = starts
        columns["end_positions"] = [min(n - 2, s + int(rng.integers(0, 10))) for s, n in zip(starts, lengths)]
    return datasets.Dataset.from_dict(columns)


def pad_to_max_length(features: datasets.Dataset, max_length: int, pad_token_id: int) -> datasets.Dataset:
    """What the example scripts' tokenisation (`padding="max_length"`) hands the Trainer."""
    def pad(row: dict[str, list]) -> dict[str, list]:
        extra = max_length - len(row["input_ids"])
        return {"input_ids": row["input_ids"] + [pad_token_id] * extra, "attention_mask": row["attention_mask"] + [0] * extra}
    return features.map(pad)


def attended(tokens: int, squares: int) -> float:
    """T of the FLOPs formula: the length-weighted mean length, sum(len^2) / sum(len)."""
    return squares / tokens if tokens else 0.0


def task_format(task: str) -> formats.Format:
    classification = task == "classification"
    cfg = config.TaskConfig(name="bench", format=FORMAT_OF_TASK[task], metric="accuracy" if classification else "squad",
                            label_names=NLI_LABELS if classification else [])
    return formats.get(OmegaConf.structured(cfg))


def model_config(name: str) -> DictConfig:
    """`conf/model/<name>.yaml`, with the schema's revision."""
    return OmegaConf.merge({"revision": None}, OmegaConf.load(resources.files("xfer_scale.conf") / "model" / f"{name}.yaml"))


# ---- timelines ----------------------------------------------------------------------------

class OutOfTime(Exception):
    """The time budget ran out while a row trained."""


class Timeline:
    """Marks on the host's monotonic clock (`perf_counter`, one clock for every process of the
    machine, so concurrent cells compare). On CUDA a mark is an event the device stamps when it
    reaches it in the stream: no host sync per mark, and consecutive marks tile the device's
    time, idle gaps included. Events become host seconds through an anchor event recorded on an
    idle device. Past `deadline` (`time.monotonic()`), a mark raises OutOfTime: the row stops
    there (a compiled row can spend minutes compiling)."""

    def __init__(self, cuda: bool, deadline: float | None = None):
        self.cuda, self.deadline = cuda, deadline
        self.kinds: list[str] = []
        self.stamps: list[Any] = []
        self.cpu_stamps: list[float] = []  # this process's CPU time, on the CPU only
        if cuda:
            torch.cuda.synchronize()
            self.anchor_s = time.perf_counter()
            self.anchor = torch.cuda.Event(enable_timing=True)
            self.anchor.record()

    def now(self) -> float:
        """The host clock, once the device has done what it was given (the start of a timed call)."""
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def mark(self, kind: str) -> None:
        self.kinds.append(kind)
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.stamps.append(event)
        else:
            self.stamps.append(time.perf_counter())
            self.cpu_stamps.append(time.process_time())
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime(kind)

    def read(self) -> list[tuple[str, float]]:
        if not self.cuda:
            return list(zip(self.kinds, self.stamps))
        torch.cuda.synchronize()
        return [(kind, self.anchor_s + self.anchor.elapsed_time(event) / 1000) for kind, event in zip(self.kinds, self.stamps)]

    def read_cpu(self) -> list[tuple[str, float]] | None:
        """The marks on this process's CPU-time clock (CPU only): on a shared machine a row's CPU
        seconds leave out the time other processes held the core, which its wall seconds do not."""
        return None if self.cuda else list(zip(self.kinds, self.cpu_stamps))


@dataclass
class Steady:
    """A row's steady state as one cell saw it: seconds of each micro-batch (and its index in
    the row) and of each optimiser step, from `start` (the end of the warm-up's last step) to
    `end` (the last mark)."""

    micro_s: list[float]
    micro_index: list[int]
    step_s: list[float]
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return sum(self.micro_s) + sum(self.step_s)


def steady(marks: list[tuple[str, float]], warm_micro: int, window: tuple[float, float] | None = None) -> Steady:
    """Split a timeline of "micro" (after a backward) and "step" (after zero_grad) marks into
    micro-batch and optimiser-step intervals, leaving out everything up to the step that ends
    micro-batch number `warm_micro`. With `window`, only intervals wholly inside it count (the
    span all concurrent cells were steady). A step mark with no micro-batch before it (the
    Trainer zeroes gradients once before training) is no optimiser step."""
    micro, previous_kind = 0, ""
    start: float | None = None
    previous = 0.0
    out = Steady([], [], [], 0.0, marks[-1][1] if marks else 0.0)
    for kind, stamp in marks:
        if start is None:
            if kind == "micro":
                micro += 1
            elif previous_kind == "micro" and micro >= warm_micro:
                start = previous = out.start = stamp
            previous_kind = kind
            continue
        inside = window is None or (window[0] <= previous and stamp <= window[1])
        if kind == "micro":
            if inside:
                out.micro_s.append(stamp - previous)
                out.micro_index.append(micro)
            micro += 1
        elif previous_kind == "micro" and inside:
            out.step_s.append(stamp - previous)
        previous, previous_kind = stamp, kind
    if start is None:
        raise UserError(f"a training row ended within its warm-up ({micro} micro-batches, {warm_micro} of them "
                        "warm-up); raise --micro-batches.")
    return out


def overlap(cells: list[Steady]) -> tuple[float, float]:
    """The span in which every concurrent cell was in its steady state."""
    window = max(c.start for c in cells), min(c.end for c in cells)
    if window[0] >= window[1]:
        raise UserError("concurrent cells were never steady at the same time (one finished before another began); "
                        "raise --micro-batches.")
    return window


def warm_first(batches: list[list[int]], warm_batches: int, multiple: int, shape: Callable[[list[int]], Hashable] | None,
               repeats: int) -> tuple[list[list[int]], int]:
    """`batches` with the warm-up batches first, and how many they are: the first `warm_batches`,
    and, with `shape`, the first `repeats` of every shape (a compiled model compiles, and on a
    GPU captures a CUDA graph, at a shape's first calls), rounded up to whole optimiser steps
    (`multiple` micro-batches). Every batch still trains once; only the order changes."""
    chosen = set(range(min(warm_batches, len(batches))))
    if shape is not None:
        seen: Counter[Hashable] = Counter()
        for index, batch in enumerate(batches):
            key = shape(batch)
            if seen[key] < repeats:
                chosen.add(index)
                seen[key] += 1
    ordered = [batches[i] for i in sorted(chosen)] + [b for i, b in enumerate(batches) if i not in chosen]
    return ordered, min(len(batches), -(-len(chosen) // multiple) * multiple)


Seen = tuple[int, int, int, int]  # a collated batch: rows, real tokens, sum of squared lengths, padded tokens


class Counting:
    """A collate function that also records each batch's rows, real tokens, sum of squared
    lengths (for T) and padded size, read from its attention mask on the host: no device sync."""

    def __init__(self, collate: Callable[[list[Any]], Any], seen: list[Seen]):
        self.collate, self.seen = collate, seen

    def __call__(self, rows: list[Any]) -> Any:
        batch = self.collate(rows)
        mask = batch["attention_mask"]
        lengths = mask.sum(-1)
        self.seen.append((len(lengths), int(lengths.sum()), int((lengths * lengths).sum()), mask.numel()))
        return batch


class BenchFormat:
    """The task's format as `training.train` sees it, but with the bench's batch order
    (`warm_first`) and a counting collator; everything else is the format's own."""

    def __init__(self, fmt: formats.Format, seen: list[Seen],
                 order: Callable[[list[list[int]], list[int]], tuple[list[list[int]], int]]):
        self._fmt, self.seen, self.order = fmt, seen, order
        self.warm_micro = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fmt, name)

    def batches(self, features: Any, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        ordered, self.warm_micro = self.order(self._fmt.batches(features, lengths, batch_size, seed), lengths)
        return ordered

    def collator(self, features: Any, pad_token_id: int) -> Callable[[list[Any]], Any]:
        return Counting(self._fmt.collator(features, pad_token_id), self.seen)


def _after(owner: Any, name: str, then: Callable[[], None]) -> None:
    """Call `then` after every call of `owner.name` (an instance attribute over the method)."""
    method = getattr(owner, name)

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = method(*args, **kwargs)
        then()
        return out
    setattr(owner, name, wrapped)


def _mark_optimizer_steps(accelerator: Accelerator, timeline: Timeline) -> None:
    """A "step" mark after the zero_grad of the optimiser `training.train` prepares (it builds
    the optimiser itself, so the mark goes on through the accelerator's `prepare`)."""
    prepare = accelerator.prepare

    def prepare_marked(*objects: Any, **kwargs: Any) -> Any:
        prepared = prepare(*objects, **kwargs)
        for item in prepared if isinstance(prepared, tuple) else (prepared,):
            if isinstance(item, AcceleratedOptimizer):
                _after(item, "zero_grad", functools.partial(timeline.mark, "step"))
        return prepared
    accelerator.prepare = prepare_marked


@dataclass
class Raw:
    """What one cell saw of one training row."""

    run: RunSpec
    marks: list[tuple[str, float]]
    batches: list[Seen]  # per micro-batch, in order
    warm_micro: int
    called_at: float  # host clock when training was called (set-up inside it and warm-up follow)
    peak_memory_gb: float | None
    padded_tokens: int  # the tokens the model computed over the whole row, padding included
    cpu_marks: list[tuple[str, float]] | None = None  # `Timeline.read_cpu`

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Raw:
        return cls(RunSpec(**record["run"]), [tuple(m) for m in record["marks"]], [tuple(b) for b in record["batches"]],
                   record["warm_micro"], record["called_at"], record["peak_memory_gb"], record["padded_tokens"],
                   record["cpu_marks"] and [tuple(m) for m in record["cpu_marks"]])


def summarise(raws: list[Raw], shape: compute.Shape, peak_tflops: float | None) -> dict[str, Any]:
    """One row of `runs` from its cells (one, or K at once: then only their common steady span
    counts). tokens_per_s and mfu are a cell's (the mean cell), total_tokens_per_s all cells'."""
    run = raws[0].run
    cells = [steady(r.marks, r.warm_micro) for r in raws]
    if len(cells) > 1:
        window = overlap(cells)
        cells = [steady(r.marks, r.warm_micro, window) for r in raws]
    if not all(c.micro_s and c.step_s for c in cells):
        raise UserError(f"{run}: no whole micro-batch and optimiser step in the steady span; raise --micro-batches.")
    tokens = [sum(raw.batches[i][1] for i in c.micro_index) for raw, c in zip(raws, cells)]
    squares = sum(raw.batches[i][2] for raw, c in zip(raws, cells) for i in c.micro_index)
    rates = [t / c.seconds for t, c in zip(tokens, cells)]
    per_cell = statistics.mean(rates)
    micro = [s for c in cells for s in c.micro_s]
    peaks = [r.peak_memory_gb for r in raws if r.peak_memory_gb is not None]
    return {
        **asdict(run),
        "tokens_per_s": per_cell,
        "total_tokens_per_s": sum(rates),
        "mfu": mfu(shape.training_flops(per_cell, attended(sum(tokens), squares)), peak_tflops),
        "micro_batch_s": statistics.mean(micro),
        "optimizer_step_s": statistics.mean(s for c in cells for s in c.step_s),
        "tokens_per_micro_batch": sum(tokens) / len(micro),
        "peak_memory_gb": max(peaks) if peaks else None,
        "steady_micro_batches": len(micro),
        "cpu_tokens_per_s": cpu_rate(raws[0], tokens[0]) if len(raws) == 1 else None,
        "padding_fraction": statistics.mean(1 - sum(b[1] for b in r.batches) / r.padded_tokens for r in raws),
        "warmup_s": statistics.mean(c.start - r.called_at for r, c in zip(raws, cells)),
    }


def cpu_rate(raw: Raw, tokens: int) -> float | None:
    """A single cell's steady tokens per CPU second (on the CPU): without the time other
    processes of a shared machine held the core, which wall seconds include."""
    return None if raw.cpu_marks is None else tokens / steady(raw.cpu_marks, raw.warm_micro).seconds


def mfu(flops_per_s: float, peak_tflops: float | None) -> float | None:
    return flops_per_s / (peak_tflops * 1e12) if peak_tflops else None


# ---- the bench ----------------------------------------------------------------------------

@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fresh_process_state(spec: Spec, tf32: bool, compiled: bool = False) -> None:
    """Each measurement starts alike: no accelerate singletons, no compiled graphs of an earlier
    model (their cache entries would count against the recompile limit), an empty allocator."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    if compiled:
        torch._dynamo.reset()
    gc.collect()
    if spec.cuda:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_memory_gb(spec: Spec) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if spec.cuda else None


def _sibling(name: str) -> ModuleType:
    """A script beside this one, however this one was loaded (as a script, or by path in tests)."""
    if name not in sys.modules:
        found = importlib.util.spec_from_file_location(name, SCRIPT.with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(found)
        sys.modules[name] = module  # its dataclasses look their module up by name
        found.loader.exec_module(module)
    return sys.modules[name]


class Bench:
    """The model, data and methods every measurement of one spec shares."""

    def __init__(self, spec: Spec, workdir: Path, deadline: float | None = None):
        self.spec, self.workdir, self.deadline = spec, workdir, deadline
        self.device = torch.device(spec.device)
        model_cfg = model_config(spec.model)
        resolved = modeling.resolve(model_cfg, spec.cache_dir)
        self.shape = compute.shape(model_cfg, resolved)  # counted on the meta device
        # the tokenizer is builtin:tiny's for every model: XLM-R's is not on an offline machine (it pads and encodes)
        tiny_dir = modeling.resolve(model_config("tiny"), spec.cache_dir)
        self.tokenizer = modeling.load_tokenizer(tiny_dir)
        if spec.model == "tiny":
            self.cfg = XLMRobertaConfig.from_pretrained(resolved)
        else:
            self.cfg = compute.recorded_config(resolved)
            self.cfg.update(XLMR_CONFIG)
        self.fmt = task_format(spec.task)
        self.pad = self.cfg.pad_token_id

    @functools.cached_property
    def device_name(self) -> str:
        return torch.cuda.get_device_name() if self.spec.cuda else "cpu"

    @functools.cached_property
    def peak_tflops(self) -> float | None:
        return self.spec.peak_tflops or (peak_from_name(self.device_name) if self.spec.cuda else None)

    # -- models --

    def our_model(self) -> torch.nn.Module:
        torch.manual_seed(self.spec.seed)
        cfg = copy.deepcopy(self.cfg)
        cfg._attn_implementation = architectures.attention(cfg, self.spec.attention, self.spec.model)
        with self.device:
            return self.fmt.build(XLMRobertaModel(cfg, add_pooling_layer=False))

    def hf_model(self) -> torch.nn.Module:
        torch.manual_seed(self.spec.seed)
        cfg = copy.deepcopy(self.cfg)
        with self.device:
            if self.spec.task == "classification":
                cfg.num_labels = len(NLI_LABELS)
                return XLMRobertaForSequenceClassification(cfg)
            return XLMRobertaForQuestionAnswering(cfg)

    def accelerator(self) -> Accelerator:
        return pipeline.make_accelerator(SimpleNamespace(precision="auto", cpu=not self.spec.cuda, tracking="none"),
                                         self.workdir)

    def hf_trainer(self, method: str, train_dataset: datasets.Dataset | None, collate: Callable[[list[Any]], Any],
                   **extra: Any) -> Trainer:
        """The Trainer of `method`. `loss_is_scaled_for_ga = False`: these models' forwards take
        **kwargs, so the Trainer passes them `num_items_in_batch` and, taking the loss to be
        normalised over the whole accumulated batch already, skips dividing it by the
        accumulation; XLMRobertaFor* ignore it and return each micro-batch's mean, so the loss
        (and every gradient) came out `grad_accum` times too large: the ~4x loss hf-default logged
        at batch 8 x 4. Saying the loss is not scaled makes the Trainer divide, as it does for any
        model without loss kwargs."""
        tuned = method == "hf-tuned"
        on_gpu = tuned and self.spec.cuda
        args = TrainingArguments(
            output_dir=str(self.workdir / "hf"), use_cpu=not self.spec.cuda, seed=self.spec.seed,
            bf16=on_gpu, tf32=on_gpu or None, train_sampling_strategy="group_by_length" if tuned else "random",
            report_to="none", save_strategy="no", disable_tqdm=True, **extra,
        )
        trainer = Trainer(model=self.hf_model(), args=args, train_dataset=train_dataset, data_collator=collate,
                          processing_class=self.tokenizer)
        trainer.loss_is_scaled_for_ga = False
        return trainer

    # -- training rows --

    def examples(self, run: RunSpec) -> int:
        """Enough for the warm-up and `micro_batches` steady micro-batches (concurrent: at least
        CONCURRENT_MICRO_BATCHES; compiled: plus the warm-up batches of every bucket), in whole
        optimiser steps."""
        steady = max(self.spec.micro_batches, CONCURRENT_MICRO_BATCHES if run.concurrent > 1 else 0)
        steps = self.spec.warmup_steps + -(-steady // run.grad_accum)
        micro = steps * run.grad_accum
        if run.compiled:
            micro += self.spec.shape_repeats * -(-self.spec.max_length // self.spec.compile_bucket)
        return micro * run.batch_size

    def train_features(self, run: RunSpec) -> datasets.Dataset:
        features = synthetic_features(sample_lengths(self.examples(run), self.spec.task, self.spec.seed),
                                      self.spec.task, self.cfg, self.spec.seed)
        return pad_to_max_length(features, self.spec.max_length, self.pad) if run.method == "hf-default" else features

    def train(self, run: RunSpec, ready: Callable[[], None] = lambda: None) -> Raw:
        """One row in this process; `ready()` is called once all set-up before training is done."""
        features = self.train_features(run)
        _fresh_process_state(self.spec, tf32=run.method != "hf-default", compiled=run.compiled)
        return (self.train_ours if run.method == "ours" else self.train_hf)(run, features, ready)

    def train_ours(self, run: RunSpec, features: datasets.Dataset, ready: Callable[[], None]) -> Raw:
        spec = self.spec
        model, accelerator = self.our_model(), self.accelerator()
        timeline, seen = Timeline(spec.cuda, self.deadline), []
        _after(accelerator, "backward", functools.partial(timeline.mark, "micro"))
        _mark_optimizer_steps(accelerator, timeline)

        def order(batches: list[list[int]], lengths: list[int]) -> tuple[list[list[int]], int]:
            def shape(batch: list[int]) -> tuple[int, int]:  # what a compiled graph is specialised to
                return len(batch), bucket(max(lengths[i] for i in batch), spec.compile_bucket, spec.max_length)
            return warm_first(batches, spec.warmup_steps * run.grad_accum, run.grad_accum,
                              shape if run.compiled else None, spec.shape_repeats)

        fmt = BenchFormat(self.fmt, seen, order)
        cfg = config.TrainConfig(learning_rate=spec.learning_rate, epochs=1, batch_size=run.batch_size,
                                 grad_accum=run.grad_accum, max_length=spec.max_length, early_stop_patience=None,
                                 eval_examples=None, packing=run.packing, checkpoint_every_minutes=None)
        ready()
        called_at = timeline.now()
        stats = training.train(phase="bench", model=model, fmt=fmt, features=features, dev=None, cfg=cfg,
                               accelerator=accelerator, seed=spec.seed, pad_token_id=self.pad,
                               compile_bucket=spec.compile_bucket if run.compiled else None)
        # padded as computed: after bucket padding, and none in a packed row (the counted batches are before both)
        return Raw(run, timeline.read(), seen, fmt.warm_micro, called_at, _peak_memory_gb(spec), stats.padded_tokens,
                   timeline.read_cpu())

    def train_hf(self, run: RunSpec, features: datasets.Dataset, ready: Callable[[], None]) -> Raw:
        seen: list[Seen] = []
        collate = DataCollatorWithPadding(self.tokenizer) if run.method == "hf-tuned" else default_data_collator
        trainer = self.hf_trainer(
            run.method, features, Counting(collate, seen), per_device_train_batch_size=run.batch_size,
            gradient_accumulation_steps=run.grad_accum, learning_rate=self.spec.learning_rate, weight_decay=0.01,
            warmup_steps=0.1, num_train_epochs=1,
        )
        timeline = Timeline(self.spec.cuda, self.deadline)
        _after(trainer.accelerator, "backward", functools.partial(timeline.mark, "micro"))
        _after(trainer.model, "zero_grad", functools.partial(timeline.mark, "step"))  # after clip, step, scheduler
        ready()
        called_at = timeline.now()
        trainer.train()
        marks = timeline.read()
        if not any(kind == "step" for kind, _ in marks[1:]):
            raise RuntimeError("the Trainer's loop no longer calls model.zero_grad() after a step: update train_hf's marks")
        return Raw(run, marks, seen, self.spec.warmup_steps * run.grad_accum, called_at, _peak_memory_gb(self.spec),
                   sum(b[3] for b in seen), timeline.read_cpu())

    def rows(self, runs: list[RunSpec]) -> tuple[list[dict[str, Any]], list[RunSpec]]:
        """The summarised rows of one group (`groups`), and the rows the time budget cut off."""
        if runs[0].concurrent > 1:
            _fresh_process_state(self.spec, tf32=True)  # the last row's cached device memory back, for the cells
            by_cell = run_cells(self.spec, runs, self.workdir, self.deadline)
            done = min(len(cell) for cell in by_cell)
            return ([summarise([cell[i] for cell in by_cell], self.shape, self.peak_tflops) for i in range(done)],
                    runs[done:])
        raws = []
        for run in runs:
            try:
                raws.append(self.train(run))
            except OutOfTime:
                break
        return [summarise([raw], self.shape, self.peak_tflops) for raw in raws], runs[len(raws):]

    # -- inference --

    def eval_sets(self) -> dict[str, datasets.Dataset]:
        spec = self.spec
        return {lang: synthetic_features(sample_lengths(spec.eval_examples, spec.task, spec.seed + i), spec.task,
                                         self.cfg, spec.seed + i)
                for i, lang in enumerate((XNLI_LANGUAGES * 4)[:spec.eval_languages])}

    def evaluations(self) -> list[dict[str, Any]]:
        """Phase-3 inference of every method over the same sentences: a warm-up call on a few of
        them, then one timed call over all languages."""
        sets = self.eval_sets()
        padded = {lang: pad_to_max_length(f, self.spec.max_length, self.pad) for lang, f in sets.items()}
        lengths = np.concatenate([feature_lengths(f) for f in sets.values()])
        tokens, squares = int(lengths.sum()), int((lengths.astype(np.int64) ** 2).sum())
        out = []
        for method in METHODS:
            _fresh_process_state(self.spec, tf32=method != "hf-default")
            predict = self.eval_ours() if method == "ours" else self.eval_hf(method)
            inputs = padded if method == "hf-default" else sets
            first = next(iter(inputs.values()))
            predict({"warm-up": first.select(range(min(128, len(first))))})
            timeline = Timeline(self.spec.cuda)
            start = timeline.now()
            predict(inputs)
            seconds = timeline.now() - start
            out.append({"method": method, "batch_size": self.spec.eval_batch_size if method != "hf-default" else 8,
                        "sentences_per_s": len(lengths) / seconds, "tokens_per_s": tokens / seconds,
                        "mfu": mfu(self.shape.forward_flops(tokens / seconds, attended(tokens, squares)), self.peak_tflops),
                        "peak_memory_gb": _peak_memory_gb(self.spec)})
            del predict  # the next method's peak memory is its own
        return out

    def eval_ours(self) -> Callable[[dict[str, datasets.Dataset]], None]:
        """As phase 3 predicts: one bf16 copy of the model on a GPU (`evaluation.inference_model`)."""
        dtype = torch.bfloat16 if config.precision(SimpleNamespace(precision="auto", cpu=not self.spec.cuda)) == "bf16" else None
        model, dtype = evaluation.inference_model(self.our_model(), dtype)
        batching = evaluation.EvalBatching(sentences=self.spec.eval_batch_size)

        def predict(sets: dict[str, datasets.Dataset]) -> None:
            for features in sets.values():
                evaluation.predict_logits(model, features, self.fmt, batching, self.device, self.pad, dtype)
        return predict

    def eval_hf(self, method: str) -> Callable[[dict[str, datasets.Dataset]], None]:
        tuned = method == "hf-tuned"
        trainer = self.hf_trainer(method, None, DataCollatorWithPadding(self.tokenizer) if tuned else default_data_collator,
                                  per_device_eval_batch_size=self.spec.eval_batch_size if tuned else 8)

        def predict(sets: dict[str, datasets.Dataset]) -> None:
            for features in sets.values():
                trainer.predict(features)
        return predict

    # -- a checkpoint, start-up, preparation --

    def checkpoint_cost(self) -> tuple[float, int]:
        """One full state save as the loop saves it (weights, AdamW's moments after a step, RNG),
        timed after an untimed first save: the second replaces the first, as every later save
        of a run does."""
        _fresh_process_state(self.spec, tf32=True)
        accelerator, model = self.accelerator(), self.our_model()
        model, optimizer = accelerator.prepare(model, torch.optim.AdamW(model.parameters(), lr=self.spec.learning_rate,
                                                                        fused=True))
        features = synthetic_features(sample_lengths(4, self.spec.task, self.spec.seed), self.spec.task, self.cfg,
                                      self.spec.seed)
        rows = self.fmt.collator(features, self.pad)([features[i] for i in range(len(features))])
        batch = {name: tensor.to(self.device) for name, tensor in rows.items()}
        accelerator.backward(self.fmt.loss(model(**batch), batch, accelerator))
        optimizer.step()  # AdamW's moments exist from the first step on
        save = functools.partial(checkpoint.save, accelerator, self.workdir / "checkpoint", training.TrainStats(),
                                 None, False, "bench")
        save()
        timeline = Timeline(self.spec.cuda)
        start = timeline.now()
        written = save()
        return timeline.now() - start, written

    def startup(self) -> dict[str, float]:
        """`bench_startup.py` in a fresh Python on a model folder saved as phase 1 saves one."""
        folder = self.workdir / "startup_model"
        modeling.save(self.our_model(), self.tokenizer, folder, self.fmt, with_head=False, identity="bench")
        gc.collect()
        job = json.dumps({"folder": str(folder), "spec": asdict(self.spec), "workdir": str(self.workdir)})
        done = subprocess.run([sys.executable, str(STARTUP_SCRIPT), job], capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"bench_startup.py failed:\n{done.stderr[-4000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def prep_rate(self) -> float:
        """Examples/s of the classification format's `encode` (through `feature_cache.encode`, so
        large sets tokenize in processes as in a run) on MNLI-like pairs of the smoke corpus's
        words (`bench_prep.Words`), after a small untimed call."""
        words = _sibling("bench_prep").Words(self.spec.seed)
        n = self.spec.prep_examples
        examples = datasets.Dataset.from_dict({"text_a": words.texts(n, 22), "text_b": words.texts(n, 11),
                                               "label": words.rng.integers(0, len(NLI_LABELS), n).tolist()})
        fmt = task_format("classification")
        small = feature_cache.Examples(examples.select(range(min(100, n))))
        feature_cache.encode(fmt, small, self.tokenizer, LENGTHS["classification"][2], None)
        start = time.perf_counter()
        feature_cache.encode(fmt, feature_cache.Examples(examples), self.tokenizer, LENGTHS["classification"][2], None)
        return n / (time.perf_counter() - start)


# ---- concurrent cells -------------------------------------------------------------------

def barrier(folder: Path, name: str, index: int, parties: int, deadline: float | None = None,
            timeout_s: float = BARRIER_TIMEOUT_S) -> None:
    """Wait until all `parties` cells have arrived at `name` (a file each in `folder`). Past the
    time budget's `deadline` the others may have stopped in the row before: OutOfTime."""
    (folder / f"{name}.{index}").touch()
    give_up = time.monotonic() + timeout_s
    while sum(1 for _ in folder.glob(f"{name}.*")) < parties:
        if deadline is not None and time.monotonic() > deadline:
            raise OutOfTime(name)
        if time.monotonic() > give_up:
            raise RuntimeError(f"cell {index}: the other cells never reached {name}")
        time.sleep(0.005)


def run_cells(spec: Spec, runs: list[RunSpec], workdir: Path, deadline: float | None) -> list[list[Raw]]:
    """Each row of `runs` trained by K cell processes at once (K = the rows' `concurrent`), each
    its own model on the same device; every cell's Raw of every row it finished (by `deadline`,
    `time.monotonic()`'s clock, which every process of the machine shares)."""
    parties = runs[0].concurrent
    folder = workdir / f"cells-{parties}"
    folder.mkdir()
    cells = []
    for index in range(parties):
        job = folder / f"job-{index}.json"
        job.write_text(json.dumps({"spec": asdict(spec), "runs": [asdict(r) for r in runs], "index": index,
                                   "parties": parties, "folder": str(folder), "workdir": str(workdir),
                                   "deadline": deadline}))
        log = (folder / f"log-{index}.txt").open("w")
        cells.append((subprocess.Popen([sys.executable, str(SCRIPT), "--cell", str(job)], stdout=log,
                                       stderr=subprocess.STDOUT), log, index))
    failed = []
    for process, log, index in cells:
        if process.wait():
            failed.append(index)
        log.close()
    if failed:
        tail = (folder / f"log-{failed[0]}.txt").read_text()[-4000:]
        raise RuntimeError(f"concurrent cell(s) {failed} of {parties} failed:\n{tail}")
    return [[Raw.from_json(r) for r in json.loads((folder / f"raw-{index}.json").read_text())] for index in range(parties)]


def cell_main(job_path: Path) -> int:
    """One concurrent cell (`--cell JOB`): train each row after the barrier, write what it saw
    of the rows it finished."""
    datasets.disable_progress_bars()
    job = json.loads(job_path.read_text())
    spec, folder, index, deadline = Spec(**job["spec"]), Path(job["folder"]), job["index"], job["deadline"]
    raws = []
    with _threads(spec.threads):
        workdir = Path(job["workdir"]) / f"cell-{index}"
        workdir.mkdir()
        bench = Bench(spec, workdir, deadline)
        for i, run in enumerate(job["runs"]):
            ready = functools.partial(barrier, folder, f"row{i}", index, job["parties"], deadline)
            try:
                raws.append(asdict(bench.train(RunSpec(**run), ready)))
            except OutOfTime:
                break
    (folder / f"raw-{index}.json").write_text(json.dumps(raws))
    return 0


def startup_main(imports_s: float, arg: str) -> int:
    """`bench_startup.py`'s work once its imports are timed: what a cell does before training,
    step by step (tokenizer, model from the saved folder, accelerator, AdamW and `prepare`,
    which moves the model to the device), printed as one JSON line."""
    job = json.loads(arg)
    spec, folder = Spec(**job["spec"]), job["folder"]
    steps = {"imports_s": imports_s}
    with _threads(spec.threads):
        def timed(name: str, call: Callable[[], Any]) -> Any:
            start = time.perf_counter()
            out = call()
            if spec.cuda:
                torch.cuda.synchronize()
            steps[name] = time.perf_counter() - start
            return out

        fmt = task_format(spec.task)
        timed("tokenizer_s", lambda: modeling.load_tokenizer(folder))
        model = timed("model_load_s", lambda: modeling.load(folder, fmt, with_head=False, attention=spec.attention))
        accelerator = timed("accelerator_s", lambda: pipeline.make_accelerator(
            SimpleNamespace(precision="auto", cpu=not spec.cuda, tracking="none"), Path(job["workdir"])))
        timed("prepare_s", lambda: accelerator.prepare(model, torch.optim.AdamW(model.parameters(), fused=True)))
    print(json.dumps(steps))
    return 0


# ---- the suite --------------------------------------------------------------------------

def header(bench: Bench) -> dict[str, Any]:
    spec, shape = bench.spec, bench.shape
    return {
        "model": spec.model, "device": bench.device_name, "peak_tflops": bench.peak_tflops,
        "parameters": {"non_embedding": shape.parameters, "layers": shape.layers, "hidden": shape.hidden,
                       "total": shape.total_parameters},
        "max_length": spec.max_length,
        "mean_length": float(sample_lengths(20_000, spec.task, spec.seed).mean()),
        "task": spec.task, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),  # others' work on a shared machine slows every row it overlaps
        "spec": asdict(spec), "command": sys.argv, "workdir": str(bench.workdir), "notes": notes(spec),
    }


def notes(spec: Spec) -> dict[str, str]:
    """What the numbers are, where the file alone would not say."""
    return {
        "timing": "steady state only: set-up, the first warmup_steps optimiser steps and, compiled, the first "
                  "shape_repeats batches of every shape (ordered first) excluded; "
                  + ("CUDA events, stamped by the device" if spec.cuda else
                     "perf_counter on the CPU; cpu_tokens_per_s: per second of this process's CPU time (single-cell "
                     "rows), which leaves out the time other processes held the core on a shared machine (not "
                     "their contention for caches and memory)"),
        "mfu": "FLOPs of the real (unpadded) tokens, 6N + 12LHT each, over the device's dense bf16 peak (none "
               "where the peak is unknown); a concurrent row's is one cell's",
        "micro_batch_s": "from the previous mark to the end of a backward: fetching and collating the batch, "
                         "forward, loss, backward (and the loop's bookkeeping)",
        "optimizer_step_s": "from the end of a step's last backward to the end of zero_grad: ours clip, learning "
                            "rate, fused AdamW step, zero_grad; the Trainer's clip, step, scheduler, zero_grad",
        "hf-default": "the Trainer's defaults (fp32 without TF32, padded to max_length, random order) but at the "
                      "row's batch and accumulation instead of its batch of 8, so all methods train at the same "
                      "effective batch; with loss_is_scaled_for_ga=False, so that its loss is divided by the "
                      "accumulation (the Trainer skipped that for these models: 4x the loss at 8 x 4)",
        "concurrent": "K processes on one device at once, each training its own model; only the span all K "
                      "were steady counts; tokens_per_s and mfu per cell, total_tokens_per_s all K",
        "eval": "ours: evaluation.predict_logits on phase 3's model (a bf16 copy on a GPU), batches of "
                "eval_batch_size sentences; hf: Trainer.predict; one timed call over every language after a "
                "warm-up call; mfu: forward FLOPs 2N + 4LHT per real token",
        "checkpoint": "checkpoint.save of the model and fused AdamW after one step (no best.pt); the second of "
                      "two saves, which replaces the first",
        "startup_s": "a fresh Python: imports of xfer_scale.cli and xfer_scale.pipeline, the tokenizer, the model "
                     "loaded from a saved folder, the accelerator, AdamW and prepare (to the device); Hydra's "
                     "composition, data preparation and the phase-1 cache check are not counted",
        "prep_examples_per_s": "the classification format's encode through feature_cache.encode on MNLI-like "
                               "pairs; builtin:tiny's tokenizer (XLM-R's is not on an offline machine)",
    }


def run_benchmark(spec: Spec, workdir: Path, out: Path | None = None) -> dict[str, Any]:
    """The suite (or, without `spec.suite`, the three methods at one shape); with `out`, the
    file is rewritten after every part, so a run cut short leaves what it measured."""
    check(spec)
    started = time.monotonic()
    deadline = None if spec.time_budget_s is None else started + spec.time_budget_s
    with _threads(spec.threads):
        bench = Bench(spec, workdir, deadline)
        result = {"suite": SUITE_VERSION} if spec.suite else {}
        result |= {**header(bench), "complete": False}

        def save() -> None:
            if out is not None:
                write_text(out, json.dumps(result, indent=1) + "\n")

        if spec.suite:
            result["prep_examples_per_s"] = bench.prep_rate()
            save()
            result["startup"] = bench.startup()
            result["startup_s"] = sum(result["startup"].values())
            save()
            result["checkpoint_save_s"], result["checkpoint_bytes"] = bench.checkpoint_cost()
            save()
        if spec.suite or spec.eval:
            result["eval"] = bench.evaluations()
            save()
        result["runs"], result["skipped"] = [], []
        for group in groups(suite_runs(spec) if spec.suite else single_runs(spec)):
            done, cut = bench.rows(group) if deadline is None or time.monotonic() < deadline else ([], group)
            result["runs"] += done
            result["skipped"] += [asdict(run) for run in cut]
            save()
        result["complete"] = not result["skipped"]
        result["wall_s"] = time.monotonic() - started
        result["load_average_end"] = os.getloadavg()
        save()
    return result


def check(spec: Spec) -> None:
    if spec.cuda and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible; use --device cpu or run on a GPU machine.")
    if spec.micro_batches < 1 or spec.warmup_steps < 1:
        raise UserError("--micro-batches and --warmup-steps must be at least 1.")
    if not spec.suite and spec.packing and spec.compiled:
        raise UserError("--packing and --compiled: a packed batch does not compile (training refuses both).")


def parse_args(argv: list[str] | None) -> tuple[Spec, Path | None, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="store_true", help="the whole suite `xfer-scale plan --bench` reads")
    parser.add_argument("--quick", action="store_true", help="a few batches of everything: checks the suite runs, "
                                                             "its numbers mean little")
    parser.add_argument("--model", choices=MODELS, default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--task", choices=list(LENGTHS), default="classification")
    parser.add_argument("--micro-batches", type=int, default=64, help="steady micro-batches timed per training row")
    parser.add_argument("--warmup-steps", type=int, default=3, help="optimiser steps left out at the start of a row")
    parser.add_argument("--shape-repeats", type=int, default=3, help="compiled rows: warm-up batches of every shape")
    parser.add_argument("--compile-bucket", type=int, default=SUITE_COMPILE_BUCKET,
                        help="compiled rows: lengths padded to multiples of this (model.compile_bucket; the "
                             f"pipeline's default is {config.ModelConfig.compile_bucket}, which compiles twice "
                             "as many shapes)")
    parser.add_argument("--concurrent", default=None, help="cells a device, comma-separated "
                                                           "(default 1,2 on the CPU, 1,2,4 on a GPU)")
    parser.add_argument("--eval-languages", type=int, default=5, help="test sets of --eval-examples sentences each")
    parser.add_argument("--eval-examples", type=int, default=1000)
    parser.add_argument("--eval-batch-size", type=int, default=64, help="ours and hf-tuned (the pipeline's eval.batch_size)")
    parser.add_argument("--prep-examples", type=int, default=20_000)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (1 keeps timings stable on a busy machine); default torch's own")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the device's dense bf16 peak, for MFU; default from its name (H100 SXM/H200 989, "
                             "H100 PCIe 756, A100 312), else no MFU")
    parser.add_argument("--attention", choices=list(config.ATTENTIONS), default="sdpa",
                        help="ours: the attention implementation (model.attention); the Trainer keeps sdpa")
    parser.add_argument("--cache-dir", default="outputs/cache", help="where the tiny model is built")
    parser.add_argument("--time-budget-s", type=float, default=None,
                        help="cut off the training rows not finished this many seconds after the start (listed "
                             "in `skipped`); the parts before them always run")
    parser.add_argument("--json", type=Path, help="write the results here (rewritten after every part)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="a folder on the disk runs write to (outputs/): the checkpoint and the start-up's "
                             "model folder are written in a temporary folder inside it; default the system's temp")
    single = parser.add_argument_group("without --suite: the three methods at one shape")
    single.add_argument("--batch-size", type=int, default=32)
    single.add_argument("--grad-accum", type=int, default=1)
    single.add_argument("--packing", action="store_true", help="ours: packed batches (train.packing)")
    single.add_argument("--compiled", action="store_true", help="ours: compiled (model.compile)")
    single.add_argument("--eval", action="store_true", help="also time inference")
    args = parser.parse_args(argv)
    concurrent = args.concurrent or ("1,2,4" if args.device == "cuda" else "1,2")
    spec = Spec(model=args.model, device=args.device, task=args.task, micro_batches=args.micro_batches,
                warmup_steps=args.warmup_steps, shape_repeats=args.shape_repeats, compile_bucket=args.compile_bucket,
                concurrent=sorted({int(k) for k in concurrent.split(",")}), eval_languages=args.eval_languages,
                eval_examples=args.eval_examples, eval_batch_size=args.eval_batch_size,
                prep_examples=args.prep_examples, learning_rate=args.learning_rate, seed=args.seed,
                threads=args.threads, peak_tflops=args.peak_tflops, attention=args.attention,
                cache_dir=args.cache_dir, time_budget_s=args.time_budget_s, suite=args.suite,
                batch_size=args.batch_size, grad_accum=args.grad_accum, packing=args.packing,
                compiled=args.compiled, eval=args.eval)
    return (quick(spec) if args.quick else spec), args.json, args.workdir


def quick(spec: Spec) -> Spec:
    """A few batches of everything (tests, and a check before a long run)."""
    return Spec(**{**asdict(spec), "micro_batches": 4, "warmup_steps": 1, "shape_repeats": 1, "eval_languages": 2,
                   "eval_examples": 16, "prep_examples": 200})


def main(argv: list[str] | None = None) -> int:
    datasets.disable_progress_bars()
    if argv is None and sys.argv[1:2] == ["--cell"]:
        return cell_main(Path(sys.argv[2]))
    spec, json_path, parent = parse_args(argv)
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=parent) as workdir:
            result = run_benchmark(spec, Path(workdir), json_path)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(result))
    return 0


def table(result: dict[str, Any]) -> str:
    """The rows as text, for the console."""
    lines = ["method      batch  packed compiled cells  tokens/s   total/s    micro-batch ms  step ms  MFU    "
             "per CPU s"]
    for row in result["runs"]:
        lines.append(f"{row['method']:<11} {row['batch_size']:>2}x{row['grad_accum']:<3} {row['packing']!s:<6} "
                     f"{row['compiled']!s:<8} {row['concurrent']:>5}  {row['tokens_per_s']:>9,.0f} "
                     f"{row['total_tokens_per_s']:>9,.0f}  {row['micro_batch_s'] * 1e3:>14.2f} "
                     f"{row['optimizer_step_s'] * 1e3:>8.2f}  {_percent(row['mfu']):<6} "
                     f"{'-' if row['cpu_tokens_per_s'] is None else format(row['cpu_tokens_per_s'], ',.0f')}")
    for row in result.get("eval", []):
        lines.append(f"eval {row['method']:<11} {row['sentences_per_s']:>9,.0f} sentences/s "
                     f"{row['tokens_per_s']:>10,.0f} tokens/s  MFU {_percent(row['mfu'])}")
    for key in ("startup_s", "checkpoint_save_s", "checkpoint_bytes", "prep_examples_per_s", "skipped", "wall_s"):
        if key in result:
            lines.append(f"{key}: {result[key]}")
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


if __name__ == "__main__":
    sys.exit(main())
