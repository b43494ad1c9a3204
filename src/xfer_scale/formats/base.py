"""The format interface and the pieces every format shares (padding, the metric call)."""

from __future__ import annotations

from typing import Any

import datasets
import torch
from torch import nn

from xfer_scale import metrics

IGNORE_INDEX = -100
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX}


class Format:
    """One kind of task. Subclasses fill in the five steps below."""

    #: the metric family of `metrics.compute`, and which of its values selects checkpoints
    metric_family = "accuracy"
    selection_metric = "accuracy"
    #: retrieval formats evaluate the encoder as it is: no target training phase
    trains = True
    #: the columns a feature carries into the model (`labels` only where it is trained)
    model_inputs = ("input_ids", "attention_mask", "labels")

    def __init__(self, task: Any):
        self.task = task
        self.num_labels = len(task.label_names)

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        """Model features, one or more per example, each with `example_index`."""
        raise NotImplementedError

    def head(self, hidden_size: int) -> nn.Module:
        """Maps encoder hidden states (batch, length, hidden) to logits."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), batch["labels"].reshape(-1), ignore_index=IGNORE_INDEX
        )

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset) -> list[Any]:
        """One prediction per example, in the examples' order.

        `logits` holds one tensor per feature, in the features' order, without padding.
        """
        raise NotImplementedError

    def references(self, examples: datasets.Dataset) -> list[Any]:
        raise NotImplementedError

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        return metrics.compute(self.metric_family, predictions, self.references(examples), language=language)


def pad_batch(features: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding: every list-valued column to the longest in the batch."""
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], list):
            width = max(len(v) for v in values)
            pad = pad_token_id if key == "input_ids" else PAD_VALUES.get(key, 0)
            values = [v + [pad] * (width - len(v)) for v in values]
        batch[key] = torch.tensor(values)
    return batch
