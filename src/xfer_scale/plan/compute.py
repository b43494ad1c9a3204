"""FLOPs of a token, the planned model's size, and the throughput that turns FLOPs into time
where no benchmark suite times the recipe (`plan.timing`).

Per real token, with N the encoder's non-embedding parameters, L its layers, H its hidden size
and T the length-weighted mean sequence length (the keys a token attends over):

    training (forward + backward)  6 N + 12 L H T
    forward only (selection, zero-shot evaluation)  2 N + 4 L H T

6N is the usual weight count (Kaplan et al. 2020); attention's QK^T and AV cost 2 H T each
per token and layer forward, three times that in training: the formula
scripts/bench_train.py uses for MFU, so its measured tokens/s convert to FLOP/s exactly.
Padding is not counted (length-grouped batches leave little of it).

FLOPs alone only bound the time from below: at the paper's batch of 4 a GPU is launch-bound
(time goes per micro-batch and per optimiser step, not per FLOP), and evaluation, data
preparation, checkpoints and start-up cost time too. Without a throughput, `flop_bound`
converts FLOPs at ASSUMED_MFU of ASSUMED_PEAK_TFLOPS and says it is a lower bound.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any

import torch
from omegaconf import DictConfig
from transformers import AutoConfig, AutoModel, AutoTokenizer

from xfer_scale import architectures, modeling
from xfer_scale.errors import UserError

#: the FLOP-only lower bound's device: an H100 SXM's dense bf16 peak, at a utilisation that
#: large-batch training reaches (the paper's batch-4 recipe reaches a few percent)
ASSUMED_PEAK_TFLOPS = 989.0
ASSUMED_MFU = 0.4

#: the published config.json fields that size a model, for hub ids whose config is not on this
#: machine: one JSON file per hub id ("/" as "--"), of the hub's main revision. XLM-R's and XLM-R
#: XL's are their config.json's; mDeBERTa-v3's has its config.json's sizes (hidden 768, 12 layers
#: and heads, 251,000 tokens) and the DeBERTa-v3 family's attention settings, and counts as its
#: model card says (86M backbone, about 190M embedding parameters). Glot500's could not be
#: checked, so it has none: `prepare` fetches it.
RECORDED_CONFIGS = "model_configs"


def recorded_config(path: str) -> Any:
    """The recorded config of hub id `path` (RECORDED_CONFIGS), or None."""
    found = resources.files("xfer_scale") / RECORDED_CONFIGS / f"{path.replace('/', '--')}.json"
    if not found.is_file():
        return None
    fields = json.loads(found.read_text())
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


@dataclass
class Shape:
    """What the FLOPs of the planned encoder depend on."""

    name: str
    parameters: int  # non-embedding: the encoder without its embeddings (and without a pooler)
    layers: int
    hidden: int
    how: str
    total_parameters: int  # with the embeddings: what the weights, gradients and AdamW states hold

    def training_flops(self, tokens: float, attended: float) -> float:
        return tokens * (6 * self.parameters + 12 * self.layers * self.hidden * attended)

    def forward_flops(self, tokens: float, attended: float) -> float:
        return tokens * (2 * self.parameters + 4 * self.layers * self.hidden * attended)


def _local_config(path: str, revision: str | None) -> tuple[Any, str] | None:
    try:
        return AutoConfig.from_pretrained(path, revision=revision, local_files_only=True), "its config.json"
    except (OSError, ValueError):
        recorded = recorded_config(path)
        return None if recorded is None else (recorded, f"its recorded config.json, {RECORDED_CONFIGS}/")


def shape(model_cfg: DictConfig, resolved: str) -> Shape:
    """The planned encoder's shape, counted on the meta device (no weights are loaded)."""
    found = _local_config(resolved, model_cfg.revision)
    if found is None:
        raise UserError(f"model {model_cfg.path}: its config.json is not on this machine, so its size is unknown; "
                        "run `xfer-scale prepare` with these overrides first (where the hub is reachable).")
    encoder_config, how = found
    architectures.check_servable(encoder_config, model_cfg.path)
    with torch.device("meta"):
        encoder = AutoModel.from_config(encoder_config)
    counted = [(name, p.numel()) for name, p in encoder.named_parameters() if not name.startswith("pooler.")]
    parameters = sum(count for name, count in counted if not name.startswith("embeddings."))
    return Shape(model_cfg.name, parameters, encoder_config.num_hidden_layers, encoder_config.hidden_size, how,
                 sum(count for _, count in counted))


def tokenizer(model_cfg: DictConfig, resolved: str) -> Any:
    """The model's tokenizer if it is on this machine (`builtin:tiny` is built), else None."""
    if model_cfg.path == "builtin:tiny":
        return modeling.load_tokenizer(resolved)
    try:
        return AutoTokenizer.from_pretrained(resolved, revision=model_cfg.revision, local_files_only=True)
    except (OSError, ValueError):
        return None


@dataclass
class Throughput:
    """Training tokens per second, and the FLOPs of such a token where they are known (None: the
    user's figure, taken as the planned model's at each phase's own lengths). `lower_bound`:
    assumed, not measured, and FLOPs only (`flop_bound`)."""

    tokens_per_s: float
    flops_per_token: float | None
    how: str
    lower_bound: bool = False

    def seconds(self, flops: float, equivalent_tokens: float) -> float:
        """Time for work of `flops`, which is `equivalent_tokens` training tokens of the planned model."""
        if self.flops_per_token is None:
            return equivalent_tokens / self.tokens_per_s
        return flops / (self.tokens_per_s * self.flops_per_token)


def flop_bound() -> Throughput:
    """FLOPs at ASSUMED_MFU of ASSUMED_PEAK_TFLOPS: a FLOP-only lower bound (tokens of one FLOP)."""
    return Throughput(ASSUMED_MFU * ASSUMED_PEAK_TFLOPS * 1e12, 1.0,
                      f"FLOP-only lower bound, FLOPs at {ASSUMED_MFU:.0%} MFU of {ASSUMED_PEAK_TFLOPS:,.0f} TFLOP/s "
                      "(an H100's bf16 peak); launch-bound micro-batches, optimiser steps, evaluation, data, "
                      "checkpoints and start-up not counted", lower_bound=True)


def user_rate(tokens_per_s: float) -> Throughput:
    """The user's training tokens per second of the planned model."""
    if not math.isfinite(tokens_per_s) or tokens_per_s <= 0:
        raise UserError(f"--tokens-per-second {tokens_per_s:g}: give the planned model's measured training "
                        "tokens per second, a number > 0 (or --bench FILE from scripts/bench_train.py --suite).")
    return Throughput(tokens_per_s, None, f"--tokens-per-second {tokens_per_s:,.0f} (FLOP-proportional)")
