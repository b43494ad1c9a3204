"""Data preparation and evaluation speed: what a cell spends turning release files into
features, against the raw tokenizer on the same texts; and zero-shot evaluation against the
model's forward passes alone.

Synthetic data in the release formats is written to a temporary data root (words drawn from
the bundled smoke corpus, lengths log-normal around the real sets' means), and prepared as the
pipeline prepares it (`feature_cache.load_split`, then `feature_cache.encode`):

    xnli-train   phase 2 of target=xnli: GLUE's MNLI `train.tsv` (12 columns, parses included)
    xquad-train  phase 2 of target=xquad: SQuAD v1.1 JSON, 5 questions a paragraph, windows of 384
    panx-eval    phase 3 of target=panx: dev and test of each language (`lang:token<TAB>tag`)
    xnli-eval    phase 3 of target=xnli: dev and test, every language in one XNLI-1.0 TSV each

Each cell is a fresh process on one features cache, as cells of a sweep are: `first` fills the
empty cache, `later` reads it, `uncached` runs with `cache.features=false` (the memoised file
reads and parallel tokenization still on). Raw is `tokenizer(texts)` in batches of 1,000 on the
same texts, single-threaded (TOKENIZERS_PARALLELISM=false), cut at the format's max_length,
SQuAD as one (question, context) pair cut at 384 (its windows are the format's own work). Evaluation: `evaluation.evaluate` (batching, forward, predict and seqeval score) on
PAN-X English test against the forward passes alone over the same padded batches, the tiny
model on the CPU, per 10,000 sentences.

The tokenizer is `builtin:tiny`'s (a 1,000-piece unigram model: XLM-R's 250k-piece one is not
reachable offline), so absolute times are lower than XLM-R's; the ratios are the measure.

    python scripts/bench_prep.py --json bench_prep.json            # about a minute on 2 cores
    python scripts/bench_prep.py --full --json bench_prep_full.json  # real sizes: MNLI 392,702 pairs, ...
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from xfer_scale import config, data, evaluation, feature_cache, formats, modeling, tiny
from xfer_scale.formats.batching import feature_lengths

SCRIPT = Path(__file__).resolve()
WORKLOADS = ("xnli-train", "xquad-train", "panx-eval", "xnli-eval")
CELLS = ("first", "later", "uncached")
NLI_LABELS = ("entailment", "neutral", "contradiction")
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
RAW_BATCH = 1000
FULL = {"pairs": 392_702, "questions": 87_599, "panx_languages": 48, "panx_sentences": 10_000,
        "xnli_languages": 15, "xnli_dev": 2_490, "xnli_test": 5_010}


@dataclass
class Spec:
    """Sizes of the synthetic sets (the defaults are a tenth or less of the real ones)."""

    pairs: int = 40_000  # MNLI training pairs
    questions: int = 8_000  # SQuAD training questions
    panx_languages: int = 48
    panx_sentences: int = 400  # a language's dev, and its test
    xnli_languages: int = 15
    xnli_dev: int = 250  # pairs a language
    xnli_test: int = 500
    eval_batch_size: int = 64
    repeats: int = 3  # evaluation timings, interleaved, median
    threads: int = 1  # torch threads for evaluation: more make timings jumpy on a busy machine
    seed: int = 1
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    #: each cell in a fresh process, as in a sweep; False: in this one (quicker to start, but a
    #: later cell then finds this process's memos warm, so only its counts mean anything)
    processes: bool = True
    cache_dir: str = "outputs/cache"  # where the tiny model is built


# ---- synthetic data in the release formats ----------------------------------------------

class Words:
    """Random sentences over the smoke corpus's words."""

    def __init__(self, seed: int):
        text = (resources.files("xfer_scale") / "smoke_data" / "corpus.txt").read_text(encoding="utf-8")
        self.vocabulary = np.array(sorted({w.strip(".,") for w in text.split()} - {""}))
        self.rng = np.random.default_rng(seed)

    def lengths(self, n: int, mean: float) -> np.ndarray:
        return np.maximum(1, np.rint(self.rng.lognormal(np.log(mean) - 0.08, 0.4, n))).astype(int)

    def sentences(self, n: int, mean: float) -> list[list[str]]:
        lengths = self.lengths(n, mean)
        flat = self.vocabulary[self.rng.integers(0, len(self.vocabulary), lengths.sum())].tolist()
        ends = np.cumsum(lengths)
        return [flat[end - length:end] for end, length in zip(ends, lengths)]

    def texts(self, n: int, mean: float) -> list[str]:
        return [" ".join(words) + "." for words in self.sentences(n, mean)]


def _tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join("\t".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")


def write_mnli(root: Path, words: Words, n: int) -> None:
    """GLUE's MNLI train.tsv: premise ~22 words, hypothesis ~11, parses beside the sentences."""
    header = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
              "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"]
    labels = words.rng.integers(0, 3, n)
    rows = [[str(i), str(i), f"{i}e", "synthetic", f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b,
             NLI_LABELS[label], NLI_LABELS[label]]
            for i, (a, b, label) in enumerate(zip(words.texts(n, 22), words.texts(n, 11), labels))]
    _tsv(root / "mnli" / "train.tsv", header, rows)


def write_xnli(root: Path, words: Words, languages: list[str], per_language: dict[str, int]) -> None:
    """XNLI-1.0's xnli.dev.tsv and xnli.test.tsv: every language in one file."""
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
              "label1", "label2", "label3", "label4", "label5"]
    for split, n in per_language.items():
        rows = []
        for lang in languages:
            labels = words.rng.integers(0, 3, n)
            for i, (a, b, label) in enumerate(zip(words.texts(n, 20), words.texts(n, 10), labels)):
                name = NLI_LABELS[label]
                rows.append([lang, name, f"( {a} )", f"( {b} )", f"(ROOT {a})", f"(ROOT {b})", a, b, str(i),
                             f"{i}{lang}", "synthetic", *[name] * 5])
        _tsv(root / "xnli" / f"xnli.{split}.tsv", header, rows)


def write_squad(root: Path, words: Words, questions: int) -> None:
    """SQuAD v1.1's train-v1.1.json: paragraphs of ~120 words, 5 questions each, answers at
    their character offsets."""
    paragraphs = []
    for p in range((questions + 4) // 5):
        context_words = words.sentences(1, 120)[0] + ["end"]
        context = " ".join(context_words)
        starts = np.cumsum([0] + [len(w) + 1 for w in context_words[:-1]])
        qas = []
        for q in range(min(5, questions - 5 * p)):
            first = int(words.rng.integers(0, len(context_words) - 3))
            span = int(words.rng.integers(1, 4))
            text = " ".join(context_words[first:first + span])
            qas.append({"answers": [{"answer_start": int(starts[first]), "text": text}],
                        "question": " ".join(words.sentences(1, 10)[0]) + "?", "id": f"q{p}-{q}"})
        paragraphs.append({"context": context, "qas": qas})
    folder = root / "squad_v1"
    folder.mkdir(parents=True, exist_ok=True)
    articles = [{"title": f"synthetic {i}", "paragraphs": paragraphs[i:i + 20]} for i in range(0, len(paragraphs), 20)]
    (folder / "train-v1.1.json").write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")


def write_panx(root: Path, words: Words, languages: list[str], sentences: int) -> None:
    """XTREME's PAN-X files, `<lang>-dev` and `<lang>-test`: `lang:token<TAB>tag` lines, a blank line
    between sentences of ~9 tokens."""
    folder = root / "panx"
    folder.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        for split in ("dev", "test"):
            blocks = []
            for tokens in words.sentences(sentences, 9):
                tags = words.rng.integers(0, len(PANX_TAGS), len(tokens))
                blocks.append("\n".join(f"{lang}:{token}\t{PANX_TAGS[tag]}" for token, tag in zip(tokens, tags)))
            (folder / f"{lang}-{split}").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def compose_cfg(target: str, root: Path, cache: Path, features: bool = True) -> DictConfig:
    config.setup()
    GlobalHydra.instance().clear()  # a run earlier in this process leaves Hydra initialised
    with initialize_config_module(config_module="xfer_scale.conf", version_base=None):
        return compose(config_name="config", overrides=[
            "model=tiny", f"target={target}", "benchmark=xtreme-r", f"data.root={root}", f"cache.dir={cache}",
            f"cache.features={str(features).lower()}"])


def reads(spec: Spec, workload: str, cfg: DictConfig) -> list[tuple[str, str]]:
    """(split, language) of a workload, in the order the pipeline reads them."""
    if workload.endswith("-train"):
        return [("train", "en")]
    count = spec.panx_languages if workload == "panx-eval" else spec.xnli_languages
    return [(split, lang) for lang in languages(cfg, count) for split in ("dev", "test")]


def languages(cfg: DictConfig, count: int) -> list[str]:
    """The first `count` of the target's XTREME-R languages, English first (evaluation reads it)."""
    codes = list(cfg.target.benchmark_languages["xtreme-r"])
    return (["en"] + [code for code in codes if code != "en"])[:count]


def write_data(spec: Spec, root: Path) -> None:
    words = Words(spec.seed)
    if "xnli-train" in spec.workloads:
        write_mnli(root, words, spec.pairs)
    if "xquad-train" in spec.workloads:
        write_squad(root, words, spec.questions)
    if "panx-eval" in spec.workloads:
        write_panx(root, words, languages(compose_cfg("panx", root, root), spec.panx_languages), spec.panx_sentences)
    if "xnli-eval" in spec.workloads:
        write_xnli(root, words, languages(compose_cfg("xnli", root, root), spec.xnli_languages),
                   {"dev": spec.xnli_dev, "test": spec.xnli_test})


def tokenizer(spec: Spec) -> Any:
    shape = OmegaConf.load(resources.files("xfer_scale.conf") / "model" / "tiny.yaml").tiny
    return modeling.load_tokenizer(str(tiny.ensure(Path(spec.cache_dir), **shape)))


# ---- one cell (a fresh process) ---------------------------------------------------------

def cell(spec: Spec, root: Path, cache: Path, features: bool) -> dict[str, dict[str, Any]]:
    """Seconds to prepare each workload as a cell does, and what it prepared."""
    datasets.disable_progress_bars()
    tok = tokenizer(spec)
    key = feature_cache.tokenizer_identity(tok)  # once, as a run computes it where it loads the tokenizer
    out = {}
    for workload in spec.workloads:
        cfg = compose_cfg(workload.split("-")[0], root, cache, features)
        fmt = formats.get(cfg.target)
        before = _entries(cache)
        start = time.perf_counter()
        examples = rows = 0
        for split, lang in reads(spec, workload, cfg):
            loaded = feature_cache.load_split(cfg, cfg.target, split, lang)
            examples += len(loaded.dataset)
            rows += len(feature_cache.encode(fmt, loaded, tok, cfg.target.train.max_length, key))
        out[workload] = {"seconds": time.perf_counter() - start, "examples": examples, "features": rows,
                         "entries_built": len(_entries(cache) - before), "max_length": cfg.target.train.max_length}
    return out


def _entries(cache: Path) -> set[str]:
    folder = cache / feature_cache.FOLDER
    return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")} if folder.is_dir() else set()


def run_cell(spec: Spec, root: Path, cache: Path, features: bool) -> dict[str, dict[str, Any]]:
    """`cell` in a fresh Python, as a sweep's next cell would start."""
    env = {k: v for k, v in os.environ.items() if k != "TOKENIZERS_PARALLELISM"}
    args = json.dumps({"spec": asdict(spec), "root": str(root), "cache": str(cache), "features": features})
    done = subprocess.run([sys.executable, str(SCRIPT), "--cell", args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the benchmark cell failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the raw tokenizer, and evaluation ---------------------------------------------------

def raw_inputs(workload: str, examples: datasets.Dataset) -> tuple[list[Any], list[Any] | None, dict[str, Any]]:
    """What the raw tokenizer is given for a workload's examples: texts, pair texts, options."""
    if workload.startswith("xquad"):
        return examples["question"], examples["context"], {"truncation": "only_second", "max_length": 384}
    if workload.startswith("panx"):
        return examples["tokens"], None, {"is_split_into_words": True, "truncation": True, "max_length": 256}
    return examples["text_a"], examples["text_b"], {"truncation": True, "max_length": 256}


def raw_seconds(spec: Spec, workload: str, root: Path, tok: Any) -> float:
    """`tokenizer(texts)` over the workload's examples (read untimed), single-threaded."""
    cfg = compose_cfg(workload.split("-")[0], root, root, features=False)
    parts = [raw_inputs(workload, data.load_split(cfg.target, split, lang, str(root))) for split, lang in reads(spec, workload, cfg)]
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        start = time.perf_counter()
        for texts, pairs, options in parts:
            for i in range(0, len(texts), RAW_BATCH):
                tok(texts[i:i + RAW_BATCH], pairs[i:i + RAW_BATCH] if pairs is not None else None, **options)
        return time.perf_counter() - start
    finally:
        del os.environ["TOKENIZERS_PARALLELISM"]


def evaluation_seconds(spec: Spec, root: Path, cache: Path, tok: Any) -> dict[str, Any]:
    """`evaluation.evaluate` on PAN-X English test against the forward passes alone, median of
    `repeats` interleaved, per 10,000 sentences; `host` is what evaluation adds to the forward
    passes (batching, copying logits out, predicting, scoring), which does not shrink with a
    cheaper model, so the tiny model's ratio is an upper bound of a large model's."""
    cfg = compose_cfg("panx", root, cache)
    fmt = formats.get(cfg.target)
    loaded = feature_cache.load_split(cfg, cfg.target, "test", "en")
    features = feature_cache.encode(fmt, loaded, tok, cfg.target.train.max_length, feature_cache.tokenizer_identity(tok))
    examples = loaded.dataset
    shape = OmegaConf.load(resources.files("xfer_scale.conf") / "model" / "tiny.yaml").tiny
    torch.manual_seed(spec.seed)
    model = modeling.load(str(tiny.ensure(Path(spec.cache_dir), **shape)), fmt, with_head=False).eval()
    device = torch.device("cpu")
    order = np.argsort(-feature_lengths(features), kind="stable").tolist()
    batches = [{k: v for k, v in batch.items() if k != "labels"}
               for _, batch in evaluation.model_batches(features, fmt, order, spec.eval_batch_size, tok.pad_token_id)]

    def forward() -> None:
        with torch.inference_mode():
            for batch in batches:
                model(**batch)

    def evaluate() -> None:
        evaluation.evaluate(model, fmt, examples, features, "en", spec.eval_batch_size, device, tok.pad_token_id)

    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        runs = [(_timed(forward), _timed(evaluate)) for _ in range(spec.repeats)]
    finally:
        torch.set_num_threads(threads)
    per_10k = 10_000 / len(examples)
    forward_s, evaluate_s = (statistics.median(column) * per_10k for column in zip(*runs))
    return {"sentences": len(examples), "batches": len(batches), "threads": spec.threads,
            "evaluate_s_per_10k": evaluate_s, "forward_s_per_10k": forward_s, "host_s_per_10k": evaluate_s - forward_s,
            "evaluate_over_forward": evaluate_s / forward_s}


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


# ---- the benchmark ----------------------------------------------------------------------

def run_benchmark(spec: Spec, workdir: Path) -> dict[str, Any]:
    root, cache = workdir / "data", workdir / "cache"
    write_data(spec, root)
    run = run_cell if spec.processes else cell
    cells = {name: run(spec, root, cache if name != "uncached" else workdir / "uncached", name != "uncached")
             for name in CELLS}
    tok = tokenizer(spec)
    out: dict[str, Any] = {"spec": asdict(spec), "cpus": len(os.sched_getaffinity(0)), "workloads": {}}
    for workload in spec.workloads:
        raw = raw_seconds(spec, workload, root, tok)
        first, later, uncached = (cells[name][workload] for name in CELLS)
        out["workloads"][workload] = {
            "examples": first["examples"], "features": first["features"], "max_length": first["max_length"],
            "raw_s": raw, "first_s": first["seconds"], "later_s": later["seconds"], "uncached_s": uncached["seconds"],
            "first_over_raw": first["seconds"] / raw, "later_over_raw": later["seconds"] / raw,
            "uncached_over_raw": uncached["seconds"] / raw, "first_over_later": first["seconds"] / later["seconds"],
            "entries_built": {name: cells[name][workload]["entries_built"] for name in CELLS},
            "features_by_cell": {name: cells[name][workload]["features"] for name in CELLS},
        }
    if "panx-eval" in spec.workloads:
        out["evaluation"] = evaluation_seconds(spec, root, cache, tok)
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"{'workload':<12} {'examples':>9} {'raw s':>8} {'first s':>8} {'later s':>8} {'uncached s':>10} "
             f"{'first/raw':>9} {'later/raw':>9} {'first/later':>11}"]
    for name, w in result["workloads"].items():
        lines.append(f"{name:<12} {w['examples']:>9} {w['raw_s']:>8.2f} {w['first_s']:>8.2f} {w['later_s']:>8.2f} "
                     f"{w['uncached_s']:>10.2f} {w['first_over_raw']:>9.2f} {w['later_over_raw']:>9.3f} "
                     f"{w['first_over_later']:>11.1f}")
    if "evaluation" in result:
        e = result["evaluation"]
        lines.append(f"evaluation (PAN-X en, {e['sentences']} sentences, {e['threads']} thread): "
                     f"{e['evaluate_s_per_10k']:.2f} s per 10k against forward {e['forward_s_per_10k']:.2f} s "
                     f"({e['evaluate_over_forward']:.2f}x; host {e['host_s_per_10k']:.2f} s)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[Spec, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help=f"the real sizes: {FULL}")
    defaults = Spec()
    for name in ("pairs", "questions", "panx_languages", "panx_sentences", "xnli_languages", "xnli_dev", "xnli_test",
                 "eval_batch_size", "repeats", "threads", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--cache-dir", default=defaults.cache_dir, help="where the tiny model is built")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    sizes = {name: getattr(args, name) for name in ("pairs", "questions", "panx_languages", "panx_sentences",
                                                     "xnli_languages", "xnli_dev", "xnli_test")}
    spec = Spec(**{**sizes, **(FULL if args.full else {})}, eval_batch_size=args.eval_batch_size,
                repeats=args.repeats, threads=args.threads, seed=args.seed, workloads=args.workloads,
                cache_dir=args.cache_dir)
    return spec, args.json


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--cell"]:  # one cell, in its own process (`run_cell`)
        job = json.loads(argv[1])
        print(json.dumps(cell(Spec(**job["spec"]), Path(job["root"]), Path(job["cache"]), job["features"])))
        return 0
    datasets.disable_progress_bars()
    spec, json_path = parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        result = run_benchmark(spec, Path(workdir))
    print(json.dumps({name: {k: w[k] for k in ("first_over_raw", "later_over_raw", "first_over_later")}
                      for name, w in result["workloads"].items()} | {"evaluation": result.get("evaluation")}, indent=1))
    print(table(result))
    if json_path:
        json_path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
