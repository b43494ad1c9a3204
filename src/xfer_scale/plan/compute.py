"""FLOPs of a token, the planned model's size, and the throughput that turns FLOPs into time.

Per real token, with N the encoder's non-embedding parameters, L its layers, H its hidden size
and T the length-weighted mean sequence length (the keys a token attends over):

    training (forward + backward)  6 N + 12 L H T
    forward only (selection, zero-shot evaluation)  2 N + 4 L H T

6N is the usual weight count (Kaplan et al. 2020); attention's QK^T and AV cost 2 H T each
per token and layer forward, three times that in training: the formula
scripts/bench_train.py uses for MFU, so its measured tokens/s convert to FLOP/s exactly.
Padding is not counted (length-grouped batches leave little of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from transformers import AutoConfig, AutoModel, AutoTokenizer, XLMRobertaConfig

from xfer_scale import modeling
from xfer_scale.errors import UserError

#: XLM-R's published config.json shapes, for when the model's config is not on this machine
RECORDED_SHAPES = {
    "FacebookAI/xlm-roberta-large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                     "intermediate_size": 4096, "vocab_size": 250002, "max_position_embeddings": 514},
    "FacebookAI/xlm-roberta-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                    "intermediate_size": 3072, "vocab_size": 250002, "max_position_embeddings": 514},
}


@dataclass
class Shape:
    """What the FLOPs of the planned encoder depend on."""

    name: str
    parameters: int  # non-embedding: the encoder without its embeddings (and without a pooler)
    layers: int
    hidden: int
    how: str

    def training_flops(self, tokens: float, attended: float) -> float:
        return tokens * (6 * self.parameters + 12 * self.layers * self.hidden * attended)

    def forward_flops(self, tokens: float, attended: float) -> float:
        return tokens * (2 * self.parameters + 4 * self.layers * self.hidden * attended)


def _local_config(path: str, revision: str | None) -> tuple[Any, str] | None:
    try:
        return AutoConfig.from_pretrained(path, revision=revision, local_files_only=True), "its config.json"
    except (OSError, ValueError):
        if path in RECORDED_SHAPES:
            return XLMRobertaConfig(**RECORDED_SHAPES[path]), "XLM-R's recorded shape"
        return None


def shape(model_cfg: DictConfig, resolved: str) -> Shape:
    """The planned encoder's shape, counted on the meta device (no weights are loaded)."""
    found = _local_config(resolved, model_cfg.revision)
    if found is None:
        raise UserError(f"model {model_cfg.path}: its config.json is not on this machine, so its size is unknown; "
                        "run `xfer-scale prepare` with these overrides first (where the hub is reachable).")
    encoder_config, how = found
    with torch.device("meta"):
        encoder = AutoModel.from_config(encoder_config)
    parameters = sum(p.numel() for name, p in encoder.named_parameters()
                     if not name.startswith(("embeddings.", "pooler.")))
    return Shape(model_cfg.name, parameters, encoder_config.num_hidden_layers, encoder_config.hidden_size, how)


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
    """Training tokens per second, and the FLOPs of such a token where a benchmark measured it
    (None: the user's figure, taken as the planned model's at each phase's own lengths)."""

    tokens_per_s: float
    flops_per_token: float | None
    how: str

    def seconds(self, flops: float, equivalent_tokens: float) -> float:
        """Time for work of `flops`, which is `equivalent_tokens` training tokens of the planned model."""
        if self.flops_per_token is None:
            return equivalent_tokens / self.tokens_per_s
        return flops / (self.tokens_per_s * self.flops_per_token)


def from_bench(path: Path) -> Throughput:
    """Our loop's training tokens/s that `scripts/bench_train.py --json` recorded."""
    try:
        bench = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"--bench {path}: cannot read it ({error}).") from None
    if bench.get("mode") != "train" or not bench.get("tokens_per_s") or not bench.get("flops_per_token"):
        raise UserError(f"--bench {path}: not a training benchmark of scripts/bench_train.py --json (it needs mode "
                        "'train', tokens_per_s and flops_per_token); run it without --eval.")
    return Throughput(bench["tokens_per_s"], bench["flops_per_token"],
                      f"{path}: {bench['tokens_per_s']:,.0f} tokens/s of {bench.get('model')} on {bench.get('device')}")
