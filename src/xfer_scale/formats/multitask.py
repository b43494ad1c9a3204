"""Several intermediate tasks at once: the paper's multi-task configuration.

Each task keeps its own format and head on the shared encoder. Every batch comes from one
task (that task's own length-grouped batches), and the batches of all tasks are shuffled
together each epoch, so tasks are sampled in proportion to their size. Only the encoder
leaves phase 1, so the heads need no dev selection: training runs its epochs or steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import datasets
import numpy as np
import torch
from torch import nn

from xfer_scale.errors import UserError
from xfer_scale.formats.base import Format


@dataclass
class TaskMix:
    """The (subsampled) training examples of each task, by task name."""

    parts: dict[str, datasets.Dataset]

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts.values())


class MixedFeatures(torch.utils.data.Dataset):
    """The tasks' features behind one index space; item i is (task number, feature row)."""

    def __init__(self, parts: list[datasets.Dataset]):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(part) for part in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> tuple[int, dict[str, Any]]:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return part, self.parts[part][int(index - self.offsets[part])]


class MixedCollate:
    """Pads a one-task batch with that task's collator and says which task it is."""

    def __init__(self, collates: list[Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]]):
        self.collates = collates

    def __call__(self, rows: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        part = rows[0][0]
        batch: dict[str, Any] = self.collates[part]([row for _, row in rows])
        batch["task"] = part  # a plain int: choosing the head costs no device sync
        return batch


class MultiTask(Format):
    def __init__(self, task: Any):
        super().__init__(task)
        from xfer_scale.formats import get  # the registry imports this module

        if not task.get("tasks"):
            raise UserError(f"task {task.name}: a multitask config lists its tasks under `tasks`.")
        self.parts = {name: get(sub) for name, sub in task.tasks.items()}
        if any(isinstance(part, MultiTask) or not part.trains for part in self.parts.values()):
            raise UserError(f"task {task.name}: its tasks must be single trainable tasks (no multitask, no retrieval).")

    def encode(self, examples: TaskMix, tokenizer: Any, max_length: int) -> MixedFeatures:
        return MixedFeatures([fmt.encode(examples.parts[name], tokenizer, max_length) for name, fmt in self.parts.items()])

    def head(self, hidden_size: int) -> nn.Module:
        return nn.ModuleDict({name: fmt.head(hidden_size) for name, fmt in self.parts.items()})

    def loss(self, logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        return list(self.parts.values())[batch["task"]].loss(logits, batch)

    def lengths(self, features: MixedFeatures) -> list[int]:
        return [n for fmt, part in zip(self.parts.values(), features.parts) for n in fmt.lengths(part)]

    def batches(self, features: MixedFeatures, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        out: list[list[int]] = []
        for number, (fmt, part) in enumerate(zip(self.parts.values(), features.parts)):
            start, end = features.offsets[number], features.offsets[number + 1]
            out += [[int(start) + i for i in batch]
                    for batch in fmt.batches(part, lengths[start:end], batch_size, seed + number)]
        return [out[i] for i in np.random.default_rng(seed).permutation(len(out))]

    def collator(self, features: MixedFeatures, pad_token_id: int) -> MixedCollate:
        return MixedCollate([fmt.collator(part, pad_token_id) for fmt, part in zip(self.parts.values(), features.parts)])
