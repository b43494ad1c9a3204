"""What the MLM control costs: phase-1 speed with and without MLM mixed in, and the memory an
MLM step over XLM-R's 250,002-word vocabulary takes.

`--speed`: phase 1 of the smoke experiment (MNLI, tiny model, CPU) trained by `training.train`,
as the pipeline trains it, with `intermediate.mlm.ratio` 0 and the ratios given; tokens/s
counts every real token of every batch (task and MLM), median of interleaved repeats.

`--memory`: one training step (forward, backward, AdamW) on a batch of 32 x 256 tokens of an
XLM-R-shaped model, random init: XLM-R Large's vocabulary (250,002) and width (1024), one
layer (the LM head is what is measured), in a fresh process each, peak resident memory:
the task head alone, MLM with our head (logits of the masked positions only), and MLM with
logits at every position (what `AutoModelForMaskedLM` computes).

    python scripts/bench_mlm.py --speed --ratios 0.5 --repeats 3 --threads 1
    python scripts/bench_mlm.py --memory
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def speed(ratios: list[float], repeats: int, cache: str) -> dict[str, dict[str, float]]:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, GradientState
    from hydra import compose, initialize_config_module

    from xfer_scale import config, controls, modeling, training
    from xfer_scale.formats.base import Amount, Loader

    config.setup()
    runs: dict[str, list[tuple[int, float]]] = {str(ratio): [] for ratio in [0.0, *ratios]}
    for _ in range(repeats):
        for ratio in runs:
            with initialize_config_module("xfer_scale.conf", version_base=None):
                cfg = compose("config", overrides=["experiment=smoke", "intermediate=mnli", f"cache.dir={cache}",
                                                   f"intermediate.mlm.ratio={ratio}"])
            inter = cfg.intermediate
            path = modeling.resolve(cfg.model, cfg.cache.dir)
            tokenizer = modeling.load_tokenizer(path)
            fmt = controls.intermediate_format(inter)
            examples = fmt.training_set(Loader(cfg.data.root), Amount(1.0, None, 1)).examples
            features = fmt.encode(examples, tokenizer, inter.train.max_length)
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
            model = modeling.load(path, fmt, with_head=False)
            start = time.perf_counter()
            stats = training.train(phase="bench", model=model, fmt=fmt, features=features, dev=None, cfg=inter.train,
                                   accelerator=Accelerator(cpu=True), seed=1, pad_token_id=tokenizer.pad_token_id)
            runs[ratio].append((stats.tokens, time.perf_counter() - start))
    return {ratio: {"tokens": values[0][0], "seconds": statistics.median(s for _, s in values),
                    "tokens_per_s": statistics.median(t / s for t, s in values)} for ratio, values in runs.items()}


def memory_step(variant: str) -> dict[str, float]:
    """One training step of `variant` (task, mlm, mlm_full_logits); the peak RSS of this process."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from xfer_scale.formats.classification import ClassificationHead
    from xfer_scale.formats.mlm import TiedLMHead
    from xfer_scale.formats.model import TaskModel

    torch.manual_seed(0)
    shape = XLMRobertaConfig(vocab_size=250_002, hidden_size=1024, num_hidden_layers=1, num_attention_heads=16,
                             intermediate_size=4096, max_position_embeddings=514, type_vocab_size=1)
    encoder = XLMRobertaModel(shape, add_pooling_layer=False)
    if variant == "task":
        model, labels = TaskModel(encoder, ClassificationHead(1024, 3)), torch.randint(0, 3, (32,))
    else:
        model = TaskModel(encoder, TiedLMHead(encoder.get_input_embeddings(), 1024, shape.layer_norm_eps))
        labels = torch.where(torch.rand(32, 256) < 0.15, torch.randint(4, 250_002, (32, 256)), -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch = {"input_ids": torch.randint(4, 250_002, (32, 256)), "attention_mask": torch.ones(32, 256, dtype=torch.long)}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    logits = model(**batch, labels=None if variant == "mlm_full_logits" else labels)
    if variant == "mlm_full_logits":
        logits = logits.reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1)
    elif variant == "mlm":
        labels = labels[labels != -100]
    torch.nn.functional.cross_entropy(logits.float(), labels, ignore_index=-100).backward()
    optimizer.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_rss_gib": peak / 2**20, "before_step_gib": before / 2**20, "logits_shape": list(logits.shape)}


def memory() -> dict[str, dict[str, float]]:
    """Each variant in its own process: a peak is a process's high-water mark."""
    out = {}
    for variant in ("task", "mlm", "mlm_full_logits"):
        done = subprocess.run([sys.executable, __file__, "--memory-step", variant], capture_output=True, text=True)
        failed = {"returncode": done.returncode, "error": done.stderr.strip()[-300:]}  # -9: killed, out of memory
        out[variant] = json.loads(done.stdout) if done.returncode == 0 else failed
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-step", choices=["task", "mlm", "mlm_full_logits"], help=argparse.SUPPRESS)
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache", default="outputs/cache")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_step:
        print(json.dumps(memory_step(args.memory_step)))
        return
    result = {}
    if args.speed:
        result["speed"] = speed(args.ratios, args.repeats, args.cache)
    if args.memory:
        result["memory"] = memory()
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
