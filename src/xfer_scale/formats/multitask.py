"""Several intermediate tasks at once: the paper's multi-task configuration.

Each task keeps its own format and head on the shared encoder. Every batch comes from one
task (that task's own length-grouped batches), and the batches of all tasks are shuffled
together each epoch, so tasks are sampled in proportion to their size; `format_options.shares`
(task name -> share of the batches) mixes a task in at a fixed rate instead. Only the
encoder leaves phase 1, so the heads need no dev selection: training runs its epochs or steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import datasets
import numpy as np
import torch
from torch import nn

from xfer_scale import data
from xfer_scale.errors import UserError
from xfer_scale.formats.base import Amount, Format, Loader, TrainingSet, check_options, get, register
from xfer_scale.formats.model import TaskModel, apply_head


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


class MultiTaskModel(TaskModel):
    """One encoder, one head per task (by task name); a batch's `task` number picks the head."""

    #: a batch trains one task's head and leaves the others' weights without gradients, which
    #: data-parallel training must then look for (`training.train`), at a little cost every step
    leaves_weights_unused = True

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: int = 0,
                position_ids: torch.Tensor | None = None, cu_seq_lens: torch.Tensor | None = None,
                max_length: int | None = None, unpack_index: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, min_length: int | None = None, **_: Any) -> torch.Tensor:
        head = list(self.head.values())[task]
        hidden = self.encode(input_ids, attention_mask, position_ids, cu_seq_lens, max_length, unpack_index, min_length)
        return apply_head(head, hidden, labels)


@register("multitask")
class MultiTask(Format):
    roles = ("intermediate",)
    produces = ()  # nothing to score: no dev split

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        if not task.get("tasks"):
            raise UserError(f"task {task.name}: a multitask config lists its tasks under `tasks`.")
        self.parts = {name: get(sub, device) for name, sub in task.tasks.items()}
        if any(isinstance(part, MultiTask) or not part.trains for part in self.parts.values()):
            raise UserError(f"task {task.name}: its tasks must be single trainable tasks (no multitask, no retrieval).")
        check_options(task, ["shares"])
        self.shares = {str(name): share for name, share in (task.format_options.get("shares") or {}).items()}
        sized = [name for name in self.parts if name not in self.shares]
        if (set(self.shares) - set(self.parts) or not sized or sum(self.shares.values()) >= 1
                or not all(isinstance(share, float) and 0 < share < 1 for share in self.shares.values())):
            raise UserError(
                f"task {task.name}: format_options.shares={self.shares} must give some of its tasks "
                f"({', '.join(self.parts)}) a share of the batches in (0, 1), summing to less than 1, "
                "and leave at least one task sampled by its size."
            )

    def training_tasks(self) -> list[Any]:
        return [part.task for part in self.parts.values()]

    def training_set(self, load: Loader, amount: Amount | None) -> TrainingSet:
        """Every task cut by the same fraction (`examples` becomes that share of the tasks'
        total), which keeps sampling proportional to size."""
        fulls = {name: load(part.task, "train") for name, part in self.parts.items()}
        total = sum(len(full) for full in fulls.values())
        if amount is None:
            return TrainingSet(TaskMix(fulls), total)
        if amount.examples is not None and amount.examples > total:
            raise UserError(f"intermediate.examples={amount.examples} exceeds the {total} training examples of "
                            f"{self.task.name}; use at most {total}, or intermediate.fraction.")
        fraction = amount.examples / total if amount.examples is not None else amount.fraction
        picked = {name: data.subsample(full, fraction, None, amount.seed, self.parts[name].task)
                  for name, full in fulls.items()}
        return TrainingSet(TaskMix({name: subset for name, (subset, _) in picked.items()}), total,
                           {name: chosen for name, (_, chosen) in picked.items()})

    def trained_on(self, examples: TaskMix) -> MultiTask:
        """Each task over the label names its own training examples carry."""
        parts = {name: part.trained_on(examples.parts[name]) for name, part in self.parts.items()}
        if all(parts[name] is part for name, part in self.parts.items()):
            return self
        learnt = copy.copy(self)
        learnt.parts = parts
        return learnt

    def encode(self, examples: TaskMix, tokenizer: Any, max_length: int) -> MixedFeatures:
        return MixedFeatures([fmt.encode(examples.parts[name], tokenizer, max_length) for name, fmt in self.parts.items()])

    def build(self, encoder: nn.Module) -> MultiTaskModel:
        """Each task's own head, as its format builds it; a part whose model is not a head
        over the encoder's hidden states cannot share the encoder this way."""
        heads = {}
        for name, part in self.parts.items():
            model = part.build(encoder)
            if not isinstance(model, TaskModel):
                raise UserError(f"task {self.task.name}: {name} ({part.name}) has no head to put on a shared encoder.")
            heads[name] = model.head
        return MultiTaskModel(encoder, nn.ModuleDict(heads))

    def loss(self, logits: torch.Tensor, batch: dict[str, Any], accelerator: Any) -> torch.Tensor:
        return list(self.parts.values())[batch["task"]].loss(logits, batch, accelerator)

    def lengths(self, features: MixedFeatures) -> list[int]:
        return [n for fmt, part in zip(self.parts.values(), features.parts) for n in fmt.lengths(part)]

    def batches(self, features: MixedFeatures, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        """Every task's own batches, shuffled together; a task with a share contributes that
        share of the epoch's batches instead, its first ones in this epoch's order (cycled if
        it has fewer), so a large corpus can be mixed in at a chosen rate."""
        own = []
        for number, (fmt, part) in enumerate(zip(self.parts.values(), features.parts)):
            start, end = features.offsets[number], features.offsets[number + 1]
            own.append([[int(start) + i for i in batch]
                        for batch in fmt.batches(part, lengths[start:end], batch_size, seed + number)])
        sized = sum(len(batches) for name, batches in zip(self.parts, own) if name not in self.shares)
        epoch = sized / (1 - sum(self.shares.values()))
        out: list[list[int]] = []
        for name, batches in zip(self.parts, own):
            if name in self.shares:
                batches = [batches[i % len(batches)] for i in range(round(self.shares[name] * epoch))]
            out += batches
        return [out[i] for i in np.random.default_rng(seed).permutation(len(out))]

    def collator(self, features: MixedFeatures, pad_token_id: int) -> MixedCollate:
        return MixedCollate([fmt.collator(part, pad_token_id) for fmt, part in zip(self.parts.values(), features.parts)])
