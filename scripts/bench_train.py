"""Training (and, with --eval, zero-shot inference) speed: our loop against the HF Trainer.

Three methods see the same synthetic examples, the same model (random init from the config,
so the cost is the real one) and the same effective batch and learning rate, in one process:

    ours        `xfer_scale.training.train` called as the pipeline calls it (length-grouped
                batches, dynamic padding, bf16 autocast and TF32 on a GPU; with --packing,
                packed batches, best with --attention flash_attention_2); with --eval,
                `evaluation.predict_logits` over every language, as phase 3 runs it
    hf-default  the `Trainer` as the transformers example scripts run it by default: every
                feature padded to max length, fp32, batch 8 (accumulating to our effective batch)
    hf-tuned    the `Trainer` with bf16 and TF32 (on a GPU), `DataCollatorWithPadding` and
                length-grouped sampling, at our batch size

Lengths (tokens, specials included) are log-normal, clipped to [5, max_length]:
classification mu 3.56, sigma 0.5 (mean ~40, p99 ~113, ~0.5% cut at 128: MNLI
premise+hypothesis as the issue describes it; no MNLI copy was at hand to fit);
qa mu 5.13, sigma 0.38, fitted to XQuAD-en question+context (whitespace words x 1.3 pieces
+ 4 specials; mean ~183, ~1.8% cut at 384; real pipelines would split those into windows).

Throughput counts non-padding tokens (and, for --eval, sentences) per second, measured by one
forward pre-hook on each model, so every method is counted the same way. Each method runs a
warm-up pass first (not timed); `--repeats` interleaves the methods and reports medians.
On CUDA: bf16 autocast, TF32, synchronised timers, peak memory, MFU (training FLOPs per real
token = 6N + 12*L*H*T with N non-embedding parameters and T = sum(len^2)/sum(len)).

    python scripts/bench_train.py --model tiny --device cpu --json bench.json
    python scripts/bench_train.py --model xlmr-large --device cuda --examples 20000 --json bench.json
    python scripts/bench_train.py --eval --model xlmr-large --device cuda --json bench_eval.json
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import datasets
import numpy as np
import torch
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf
from torch.optim import optimizer as optimizer_hooks
from transformers import (DataCollatorWithPadding, Trainer, TrainingArguments, XLMRobertaConfig,
                          XLMRobertaForQuestionAnswering, XLMRobertaForSequenceClassification,
                          XLMRobertaModel, XLMRobertaTokenizer, default_data_collator)

from xfer_scale import config, evaluation, formats, modeling, pipeline, tiny, training
from xfer_scale.errors import UserError
from xfer_scale.formats.base import feature_lengths

METHODS = ("ours", "hf-default", "hf-tuned")
PREFIX = {"ours": "", "hf-default": "baseline_", "hf-tuned": "tuned_"}
HF_DEFAULT_BATCH = 8  # TrainingArguments' per-device batch size, train and eval
LENGTHS = {  # task: (log-normal mu, sigma, max_length)
    "classification": (3.56, 0.5, 128),
    "qa": (5.13, 0.38, 384),
}
MIN_LENGTH = 5
FORMAT_OF_TASK = {"classification": "classification", "qa": "span_qa"}
NLI_LABELS = ["entailment", "neutral", "contradiction"]
XNLI_LANGUAGES = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
XLMR_SHAPES = {
    "xlmr-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "xlmr-large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
}


@dataclass
class Spec:
    """One benchmark setting; every method runs under the same one."""

    model: str = "tiny"
    device: str = "cpu"
    task: str = "classification"
    examples: int = 1024
    batch_size: int = 32
    grad_accum: int = 1
    learning_rate: float = 1e-5
    repeats: int = 1
    seed: int = 1
    eval: bool = False
    languages: list[str] = field(default_factory=lambda: list(XNLI_LANGUAGES))
    eval_examples: int = 500
    eval_batch_size: int = 64
    peak_tflops: float | None = None
    threads: int | None = None  # torch CPU threads; 1 keeps timings steady on a busy machine
    packing: bool = False  # ours only: `train.packing`
    attention: str = "sdpa"  # ours only: `model.attention`
    cache_dir: str = "outputs/cache"

    @property
    def max_length(self) -> int:
        return LENGTHS[self.task][2]

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"


@dataclass
class Run:
    """One timed call of one method, as the forward probe and the timers saw it."""

    method: str
    seconds: float
    cpu_seconds: float  # this process's CPU time: steadier than wall time on a shared CPU
    rows: int
    tokens: int
    padded_tokens: int
    optimizer_seconds: float
    peak_memory_gb: float | None


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


def padding_fraction(tokens: int, padded_tokens: int) -> float:
    return 1.0 - tokens / padded_tokens if padded_tokens else 0.0


def flops_per_token(non_embedding_params: int, cfg: XLMRobertaConfig, lengths: np.ndarray) -> float:
    """Training FLOPs per real token: 6N for the weights, 12*L*H*T for attention over T keys."""
    attended = float((lengths.astype(float) ** 2).sum() / lengths.sum())
    return 6 * non_embedding_params + 12 * cfg.num_hidden_layers * cfg.hidden_size * attended


# ---- models -----------------------------------------------------------------------------

def encoder_config(name: str, cache_dir: str) -> tuple[XLMRobertaConfig, Path]:
    """The architecture to random-init, and the tiny model's folder (its tokenizer pads for the
    HF collator: padding needs only XLM-R's pad id, which every size shares)."""
    shape = OmegaConf.load(resources.files("xfer_scale.conf") / "model" / "tiny.yaml").tiny
    tiny_dir = tiny.ensure(Path(cache_dir), **shape)
    cfg = XLMRobertaConfig.from_pretrained(tiny_dir)
    if name != "tiny":
        cfg = XLMRobertaConfig(vocab_size=250002, max_position_embeddings=514, type_vocab_size=1,
                               layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                               **XLMR_SHAPES[name])
    return cfg, tiny_dir


def our_model(cfg: XLMRobertaConfig, fmt: formats.Format, seed: int, attention: str = "sdpa") -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = copy.deepcopy(cfg)
    cfg._attn_implementation = modeling.attn_implementation(attention)
    return fmt.build(XLMRobertaModel(cfg, add_pooling_layer=False))


def hf_model(cfg: XLMRobertaConfig, task: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    cfg = copy.deepcopy(cfg)
    if task == "classification":
        cfg.num_labels = len(NLI_LABELS)
        return XLMRobertaForSequenceClassification(cfg)
    return XLMRobertaForQuestionAnswering(cfg)


def non_embedding_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ".embeddings." not in n)


# ---- probes -----------------------------------------------------------------------------

class TokenProbe:
    """Counts the rows, real tokens and computed (padded) tokens of every forward call: a
    packed batch computes its `input_ids`, one padded row per sequence in `attention_mask`.

    The real count stays on the device (no host sync per step) and is read once at the end.
    """

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.rows = 0
        self.padded = 0
        self.real = torch.zeros((), dtype=torch.long, device=device)
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, _module: torch.nn.Module, _args: tuple, kwargs: dict[str, Any]) -> None:
        mask = kwargs["attention_mask"]
        self.rows += mask.shape[0]
        self.padded += kwargs["input_ids"].numel()
        self.real += mask.sum()

    def close(self) -> int:
        self.handle.remove()
        return int(self.real.item())


class StepTimer:
    """Time inside `optimizer.step()` (outermost call only), by CUDA events on a GPU: no syncs."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.depth = 0
        self.spans: list[tuple[Any, Any]] = []
        self.start: Any = None

    def _now(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def _pre(self, *_: Any) -> None:
        self.depth += 1
        if self.depth == 1:
            self.start = self._now()

    def _post(self, *_: Any) -> None:
        if self.depth == 1:
            self.spans.append((self.start, self._now()))
        self.depth -= 1

    def __enter__(self) -> StepTimer:
        self.handles = [optimizer_hooks.register_optimizer_step_pre_hook(self._pre),
                        optimizer_hooks.register_optimizer_step_post_hook(self._post)]
        return self

    def __exit__(self, *_: Any) -> None:
        for handle in self.handles:
            handle.remove()

    def seconds(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return sum(start.elapsed_time(end) for start, end in self.spans) / 1000
        return sum(end - start for start, end in self.spans)


def _sync(spec: Spec) -> None:
    if spec.cuda:
        torch.cuda.synchronize()


def _fresh_process_state(spec: Spec, tf32: bool) -> None:
    """Each method starts from the same state: no accelerate singletons, an empty allocator."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    gc.collect()
    gc.freeze()  # the harness's own objects stay out of every collection the methods trigger
    if spec.cuda:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ---- methods ----------------------------------------------------------------------------
# Each prepares (untimed) a model and a zero-argument call that does the timed work.

Prepared = tuple[torch.nn.Module, Callable[[], None]]


class Bench:
    def __init__(self, spec: Spec, workdir: Path):
        self.spec = spec
        self.workdir = workdir
        self.cfg, tiny_dir = encoder_config(spec.model, spec.cache_dir)
        self.tokenizer = XLMRobertaTokenizer.from_pretrained(tiny_dir)
        classification = spec.task == "classification"
        task = config.TaskConfig(name="bench", format=FORMAT_OF_TASK[spec.task], metric="accuracy" if classification else "squad",
                                 label_names=NLI_LABELS if classification else [])
        self.fmt = formats.get(OmegaConf.structured(task))
        self.device = torch.device(spec.device)

    def hf_args(self, tuned: bool, **extra: Any) -> TrainingArguments:
        spec = self.spec
        gpu_tuned = tuned and spec.cuda
        return TrainingArguments(
            output_dir=str(self.workdir / "hf"), use_cpu=not spec.cuda, seed=spec.seed,
            bf16=gpu_tuned, tf32=gpu_tuned or None,
            train_sampling_strategy="group_by_length" if tuned else "random",
            report_to="none", save_strategy="no", disable_tqdm=True, **extra,
        )

    def hf_trainer(self, tuned: bool, train_dataset: datasets.Dataset | None, **extra: Any) -> Trainer:
        model = hf_model(self.cfg, self.spec.task, self.spec.seed).to(self.device)
        collator = DataCollatorWithPadding(self.tokenizer) if tuned else default_data_collator
        return Trainer(model=model, args=self.hf_args(tuned, **extra), train_dataset=train_dataset,
                       data_collator=collator, processing_class=self.tokenizer)

    def prepare(self, method: str, sets: dict[str, datasets.Dataset]) -> Prepared:
        if self.spec.eval:
            return self.eval_ours(sets) if method == "ours" else self.eval_hf(sets, tuned=method == "hf-tuned")
        (features,) = sets.values()
        return self.train_ours(features) if method == "ours" else self.train_hf(features, tuned=method == "hf-tuned")

    def train_ours(self, features: datasets.Dataset) -> Prepared:
        spec = self.spec
        model = our_model(self.cfg, self.fmt, spec.seed, spec.attention).to(self.device)
        accelerator = pipeline.make_accelerator(SimpleNamespace(precision="auto", cpu=not spec.cuda, tracking="none"),
                                                self.workdir)
        train_cfg = config.TrainConfig(
            learning_rate=spec.learning_rate, epochs=1, batch_size=spec.batch_size, grad_accum=spec.grad_accum,
            max_length=spec.max_length, early_stop_patience=None, eval_examples=None, packing=spec.packing,
        )

        def call() -> None:
            training.train(phase="bench", model=model, fmt=self.fmt, features=features, dev=None, cfg=train_cfg,
                           accelerator=accelerator, seed=spec.seed, pad_token_id=self.cfg.pad_token_id)
        return model, call

    def train_hf(self, features: datasets.Dataset, tuned: bool) -> Prepared:
        spec = self.spec
        batch = spec.batch_size if tuned else HF_DEFAULT_BATCH
        trainer = self.hf_trainer(
            tuned, features, per_device_train_batch_size=batch, gradient_accumulation_steps=spec.effective_batch // batch,
            learning_rate=spec.learning_rate, weight_decay=0.01, warmup_steps=0.1, num_train_epochs=1,
        )
        return trainer.model, trainer.train

    def eval_ours(self, sets: dict[str, datasets.Dataset]) -> Prepared:
        spec = self.spec
        model = our_model(self.cfg, self.fmt, spec.seed, spec.attention).to(self.device)
        on_gpu = config.precision(SimpleNamespace(precision="auto", cpu=not spec.cuda)) == "bf16"

        def call() -> None:
            for features in sets.values():
                evaluation.predict_logits(model, features, self.fmt, spec.eval_batch_size, self.device,
                                          self.cfg.pad_token_id, torch.bfloat16 if on_gpu else None)
        return model, call

    def eval_hf(self, sets: dict[str, datasets.Dataset], tuned: bool) -> Prepared:
        trainer = self.hf_trainer(tuned, None, per_device_eval_batch_size=self.spec.eval_batch_size if tuned else HF_DEFAULT_BATCH)

        def call() -> None:
            for features in sets.values():
                trainer.predict(features)
        return trainer.model, call

    def measure(self, method: str, sets: dict[str, datasets.Dataset]) -> Run:
        spec = self.spec
        _fresh_process_state(spec, tf32=method != "hf-default")
        model, call = self.prepare(method, sets)
        probe = TokenProbe(model, self.device)
        with StepTimer(spec.cuda) as steps:
            _sync(spec)
            start, cpu_start = time.perf_counter(), time.process_time()
            call()
            _sync(spec)
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        tokens = probe.close()
        peak = torch.cuda.max_memory_allocated() / 2**30 if spec.cuda else None
        return Run(method, seconds, cpu_seconds, probe.rows, tokens, probe.padded, steps.seconds(), peak)


def data_sets(spec: Spec, cfg: XLMRobertaConfig) -> dict[str, datasets.Dataset]:
    """Training: one English set of `examples`; --eval: `eval_examples` for every language."""
    if not spec.eval:
        return {"en": synthetic_features(sample_lengths(spec.examples, spec.task, spec.seed), spec.task, cfg, spec.seed)}
    return {lang: synthetic_features(sample_lengths(spec.eval_examples, spec.task, spec.seed + i), spec.task, cfg, spec.seed + i)
            for i, lang in enumerate(spec.languages)}


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_benchmark(spec: Spec, workdir: Path) -> dict[str, Any]:
    """Warm up each method, then time them interleaved `spec.repeats` times; the JSON summary."""
    check(spec)
    with _threads(spec.threads):
        return _run(spec, workdir)


def _run(spec: Spec, workdir: Path) -> dict[str, Any]:
    bench = Bench(spec, workdir)
    sets = data_sets(spec, bench.cfg)
    padded = {lang: pad_to_max_length(f, spec.max_length, bench.cfg.pad_token_id) for lang, f in sets.items()}
    inputs = {"ours": sets, "hf-default": padded, "hf-tuned": sets}
    warm_rows = 128 if spec.eval else 2 * spec.effective_batch
    for method in METHODS:  # the first language's first rows: kernels, allocator and caches warm
        lang, features = next(iter(inputs[method].items()))
        bench.measure(method, {lang: features.select(range(min(warm_rows, len(features))))})
    runs = [bench.measure(method, inputs[method]) for _ in range(spec.repeats) for method in METHODS]
    lengths = np.concatenate([feature_lengths(f) for f in sets.values()])
    return summarise(spec, runs, None if spec.eval else flops_per_token(
        non_embedding_params(our_model(bench.cfg, bench.fmt, spec.seed)), bench.cfg, lengths))


def check(spec: Spec) -> None:
    if spec.cuda and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible; use --device cpu or run on a GPU machine.")
    if spec.effective_batch % HF_DEFAULT_BATCH:
        raise UserError(f"the effective batch ({spec.batch_size} x {spec.grad_accum}) must be a multiple of "
                        f"{HF_DEFAULT_BATCH}, the HF default batch that accumulates to it; change --batch-size.")
    if not spec.eval and (spec.examples < spec.effective_batch or spec.examples % spec.effective_batch):
        raise UserError(f"--examples {spec.examples}: use a multiple of the effective batch "
                        f"({spec.effective_batch}), so every method trains on every example once.")


def summarise(spec: Spec, runs: list[Run], train_flops_per_token: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mode": "eval" if spec.eval else "train", "device": spec.device, "model": spec.model, "task": spec.task,
        "max_length": spec.max_length, "length_distribution": dict(zip(("lognormal_mu", "lognormal_sigma"), LENGTHS[spec.task][:2])),
        "flops_per_token": train_flops_per_token,
        "peak_tflops": spec.peak_tflops,
        "spec": asdict(spec),
        "runs": [asdict(r) for r in runs],
    }
    for method in METHODS:
        mine = [r for r in runs if r.method == method]
        seconds = statistics.median(r.seconds for r in mine)
        first = mine[0]
        p = PREFIX[method]
        out[f"{p}seconds"] = seconds
        out[f"{p}cpu_seconds"] = statistics.median(r.cpu_seconds for r in mine)
        out[f"{p}tokens"] = first.tokens
        out[f"{p}sentences"] = first.rows
        out[f"{p}tokens_per_s"] = first.tokens / seconds
        out[f"{p}sentences_per_s"] = first.rows / seconds
        out[f"{p}padding_fraction"] = padding_fraction(first.tokens, first.padded_tokens)
        out[f"{p}peak_memory_gb"] = max((r.peak_memory_gb for r in mine), default=None) if spec.cuda else None
        if not spec.eval:
            out[f"{p}optimizer_step_share"] = statistics.median(r.optimizer_seconds / r.seconds for r in mine)
            out[f"{p}mfu"] = (train_flops_per_token * out[f"{p}tokens_per_s"] / (spec.peak_tflops * 1e12)
                              if spec.peak_tflops and train_flops_per_token else None)
    rate = "sentences_per_s" if spec.eval else "tokens_per_s"
    out["speedup"] = out[rate] / out[f"baseline_{rate}"]
    out["speedup_vs_tuned"] = out[rate] / out[f"tuned_{rate}"]
    return out


def parse_args(argv: list[str] | None) -> tuple[Spec, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["tiny", *XLMR_SHAPES], default="tiny")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--task", choices=list(LENGTHS), default="classification")
    parser.add_argument("--examples", type=int, default=1024, help="training examples (a multiple of the effective batch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per method, interleaved; medians are reported")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--eval", action="store_true", help="benchmark zero-shot inference instead of training")
    parser.add_argument("--languages", nargs="+", default=XNLI_LANGUAGES, help="--eval: one test set per language")
    parser.add_argument("--eval-examples", type=int, default=500, help="--eval: sentences per language")
    parser.add_argument("--eval-batch-size", type=int, default=64, help="ours and hf-tuned (the pipeline's eval.batch_size)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="for MFU; default 790 (bf16, H100/H200) on CUDA")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (1 keeps timings stable on a busy machine); default torch's own")
    parser.add_argument("--packing", action="store_true", help="ours: train on packed batches (train.packing)")
    parser.add_argument("--attention", choices=list(config.ATTENTIONS), default="sdpa",
                        help="ours: the attention implementation (model.attention); the Trainer keeps sdpa")
    parser.add_argument("--cache-dir", default="outputs/cache", help="where the tiny model is built")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    peak = args.peak_tflops if args.peak_tflops is not None else (790.0 if args.device == "cuda" else None)
    spec = Spec(model=args.model, device=args.device, task=args.task, examples=args.examples,
                batch_size=args.batch_size, grad_accum=args.grad_accum, learning_rate=args.learning_rate,
                repeats=args.repeats, seed=args.seed, eval=args.eval, languages=args.languages,
                eval_examples=args.eval_examples, eval_batch_size=args.eval_batch_size, peak_tflops=peak,
                threads=args.threads, packing=args.packing, attention=args.attention, cache_dir=args.cache_dir)
    return spec, args.json


def main(argv: list[str] | None = None) -> int:
    datasets.disable_progress_bars()
    spec, json_path = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            result = run_benchmark(spec, Path(workdir))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    keys = ["device", "speedup", "speedup_vs_tuned"] + [
        f"{PREFIX[m]}{k}" for m in METHODS for k in ("sentences_per_s" if spec.eval else "tokens_per_s", "padding_fraction")]
    print(json.dumps({k: result[k] for k in keys}, indent=1))
    if json_path:
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
