"""Token tagging (POS, NER): a label per word, predicted at the word's first subword."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import torch
from torch import nn

from xfer_scale.formats.base import IGNORE_INDEX, Format, encode_indexed, register


class TaggingHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))


@register("tagging")
class Tagging(Format):
    metric_family = "seqeval"
    selection_metric = "f1"

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            labels = []
            for row, tags in enumerate(batch["tags"]):
                previous = None
                row_labels = []
                for word in out.word_ids(row):
                    first_subword = word is not None and word != previous
                    row_labels.append((tags[word] if tags else 0) if first_subword else IGNORE_INDEX)
                    previous = word
                labels.append(row_labels)
            out["labels"] = labels
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def head(self, hidden_size: int) -> nn.Module:
        return TaggingHead(hidden_size, self.num_labels)

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                calibration: Any = None) -> list[Any]:
        """Words cut off by max_length get the first label name (XTREME scores every word).

        Columns are read whole and label names from a plain list: row-by-row `datasets` reads
        and omegaconf list lookups per token cost seconds on a PAN-X language's 10k sentences.
        """
        names = list(self.task.label_names)
        predicted: dict[int, list[str]] = {}
        for index, labels, feature_logits in zip(features["example_index"], features["labels"], logits):
            first_subword = np.asarray(labels) != IGNORE_INDEX
            predicted[index] = [names[p] for p in feature_logits.argmax(-1).numpy()[first_subword]]
        out = []
        for i, tokens in enumerate(examples["tokens"]):
            words = predicted[i]
            out.append(words + [names[0]] * (len(tokens) - len(words)))
        return out

    def references(self, examples: datasets.Dataset) -> list[Any]:
        names = list(self.task.label_names)
        return [[names[t] for t in tags] for tags in examples["tags"]]
