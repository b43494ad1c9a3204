"""How many examples one (task, split, language) read holds, and how many tokens they make.

Where the run would read local files (`data.root`, `<task>.data_dir`), the split is read as
the run reads it (`data.load_split`), and a seeded sample of it is encoded by the task's own
format with the model's tokenizer, when the tokenizer is on this machine: that gives the
features per example (question-answering windows), the tokens per feature and the lengths.
Nothing is downloaded: a hub split's size comes from the task YAML's `recorded_sizes` (the task
owns its facts), and lengths that could not be measured from
RECORDED_TOKENS, or else `max_length` (an upper bound, flagged).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from xfer_scale import data, formats

#: mean tokens per feature (XLM-R pieces, specials included) by format, where nothing could be
#: tokenized: the log-normal fits of scripts/bench_train.py (MNLI pairs; XQuAD-en question+context)
RECORDED_TOKENS = {"classification": 40.0, "span_qa": 183.0}
SAMPLE = 1000  # examples tokenized per split: the mean length to about 1-2%
SAMPLE_SEED = 0


@dataclass
class Size:
    """One read: `examples` (None: unknown), and per example its features and tokens.
    `attended` is the length-weighted mean sequence length, sum(len^2)/sum(len): the keys a
    token attends over on average. `how` says where each number came from."""

    examples: int | None
    features_per_example: float
    tokens_per_feature: float
    attended: float
    how: str

    @property
    def length_bound(self) -> bool:
        """Whether the lengths are `max_length`, an upper bound, for want of anything better."""
        return "max_length" in self.how


def is_local(task: DictConfig, split: str, language: str, data_root: str | None) -> bool:
    """Whether every part of the split is read from local files (so reading it downloads nothing)."""
    parts = data.split_parts(task, split, language)
    return all(data.part_base(task, part, data_root) is not None for part in parts)


def _sequences(features: Any) -> list[int]:
    """The token count of every sequence the features hold (a multiple-choice feature holds
    one per choice)."""
    lengths = []
    for mask in features["attention_mask"]:
        rows = mask if mask and isinstance(mask[0], list) else [mask]
        lengths += [int(sum(row)) for row in rows]
    return lengths


def _measured(task: DictConfig, rows: Any, tokenizer: Any, max_length: int) -> tuple[float, float, float]:
    """(features per example, tokens per feature, attended length) of a seeded sample of `rows`."""
    picked = np.random.default_rng(SAMPLE_SEED).permutation(len(rows))[:SAMPLE]
    sample = rows.select(sorted(picked.tolist()))
    features = formats.get(task).encode(sample, tokenizer, max_length)
    lengths = np.asarray(_sequences(features), dtype=float)
    return len(features) / len(sample), lengths.sum() / len(features), float((lengths ** 2).sum() / lengths.sum())


class Sizes:
    """Measures reads once each: a sweep's cells share most of theirs."""

    def __init__(self, data_root: str | None, tokenizer: Any, hashes: Path | None):
        self.data_root = data_root
        self.tokenizer = tokenizer
        self.hashes = hashes  # where local files' content hashes are remembered (`file_hashes`)
        self.known: dict[str, Size] = {}

    def of(self, task: DictConfig, split: str, language: str, max_length: int) -> Size:
        local = is_local(task, split, language, self.data_root)
        files = data.local_fingerprint(task, split, language, self.data_root, self.hashes) if local else None
        key = json.dumps([task.name, split, language, max_length, files])
        if key not in self.known:
            self.known[key] = self._measure(task, split, language, max_length, local)
        return self.known[key]

    def _measure(self, task: DictConfig, split: str, language: str, max_length: int, local: bool) -> Size:
        if local:
            rows = data.load_split(task, split, language, self.data_root)
            if self.tokenizer is not None:
                return Size(len(rows), *_measured(task, rows, self.tokenizer, max_length), "local files, tokenized")
            examples, how = len(rows), "local files"
        else:
            examples, how = (task.get("recorded_sizes") or {}).get(split), "recorded size"
        if task.format not in RECORDED_TOKENS:
            return Size(examples, 1.0, float(max_length), float(max_length), f"{how}, max_length as length")
        tokens = min(RECORDED_TOKENS[task.format], float(max_length))
        return Size(examples, 1.0, tokens, tokens, f"{how}, recorded length")
