"""Sentence and sentence-pair classification (NLI, paraphrase): one label per example."""

from __future__ import annotations

from typing import Any

import datasets
import torch
from torch import nn

from xfer_scale.fields import CLASS, TEXT, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, register


class ClassificationHead(nn.Module):
    """XLM-R's own head: dense + tanh on the first token (<s>), then the output layer."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.dropout(hidden[:, 0])
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out(x)


@register("classification")
class Classification(Format):
    fields = {"text_a": Field(TEXT), "text_b": Field(TEXT, required=False), "label": Field(CLASS, stratifies=True)}

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            pair = batch["text_b"] if "text_b" in batch else None
            out = tokenizer(batch["text_a"], pair, truncation=True, max_length=max_length)
            out["labels"] = batch["label"]
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def head(self, hidden_size: int, dropout: float) -> nn.Module:
        return ClassificationHead(hidden_size, self.num_labels, dropout)

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        ids = torch.stack(logits).argmax(-1).tolist()
        by_example = dict(zip(features["example_index"], ids))
        names = self.names_of(examples)
        return [names[by_example[i]] for i in range(len(examples))]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        names = self.names_of(examples)
        return [names[i] for i in examples["label"]]
