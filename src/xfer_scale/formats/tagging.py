"""Token tagging (POS, NER): a label per word, predicted at the word's first subword."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn

from xfer_scale.fields import CLASS_SEQUENCE, TEXTS, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, register
from xfer_scale.formats.batching import IGNORE_INDEX
from xfer_scale.prediction_kinds import TAG_SEQUENCES


class TaggingHead(nn.Module):
    def __init__(self, hidden_size: int, num_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, num_labels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))


@register("tagging")
class Tagging(Format):
    produces = (TAG_SEQUENCES,)
    metric_family = "seqeval"
    fields = {"tokens": Field(TEXTS), "tags": Field(CLASS_SEQUENCE)}

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, Any]:
            out = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
            # as `out.word_ids(row)` (which tells a slow tokenizer it has none), in half the time
            word_ids = ([encoding.word_ids for encoding in out.encodings] if out.is_fast
                        else [out.word_ids(row) for row in range(len(batch["tokens"]))])
            out["labels"] = first_subword_labels(word_ids, batch["tags"])
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def head(self, hidden_size: int, dropout: float) -> nn.Module:
        return TaggingHead(hidden_size, self.num_labels, dropout)

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        """Words cut off by max_length get the first label name (XTREME scores every word).

        Every feature's logits are argmaxed at once and the columns read whole as Arrow: per
        feature (and per token) in Python, a PAN-X language's 10k sentences took 0.4 s.
        """
        names = np.array(list(self.names_of(examples)), dtype=object)
        labels = features.with_format("arrow")["labels"]
        first_subword = pc.list_flatten(labels).to_numpy() != IGNORE_INDEX
        ids = torch.cat(logits).argmax(-1).numpy() if logits else np.zeros(0, dtype=np.int64)
        # words predicted up to the end of each feature: where its words end in the flat list
        ends = np.concatenate([[0], np.cumsum(first_subword)])[np.cumsum(_row_lengths(labels))]
        predicted = np.split(names[ids[first_subword]], ends[:-1])
        cut = dict(zip(features.with_format("arrow")["example_index"].to_pylist(), predicted, strict=True))
        lengths = _row_lengths(examples.with_format("arrow")["tokens"])
        return [[*cut[i], *[names[0]] * (n - len(cut[i]))] for i, n in enumerate(lengths.tolist())]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        names = np.array(list(self.names_of(examples)), dtype=object)
        tags = examples.with_format("arrow")["tags"]
        gold = names[pc.list_flatten(tags).to_numpy()]
        return [row.tolist() for row in np.split(gold, np.cumsum(_row_lengths(tags))[:-1])]


def first_subword_labels(word_ids: list[list[int | None]], tags: list[list[int]]) -> pa.ListArray:
    """Each feature's labels: at a word's first subword the word's tag (0 in a row without
    tags: a label-less test file), elsewhere (later subwords, special tokens) IGNORE_INDEX.

    `word_ids`: each feature's word of each token (None: a special token); `tags`: each
    example's label ids. Computed over the whole batch at once, in Arrow and numpy rather than
    per token in Python.
    """
    words, tags = pa.array(word_ids, type=pa.list_(pa.int64())), pa.array(tags, type=pa.list_(pa.int64()))
    word = pc.fill_null(words.values, -1).to_numpy()
    row = pc.list_parent_indices(words).to_numpy()
    row_start = np.concatenate([[True], row[1:] != row[:-1]])
    first = np.flatnonzero((word >= 0) & (row_start | (word != np.concatenate([[-1], word[:-1]]))))
    row, word = row[first], word[first]
    tag_offsets = tags.offsets.to_numpy()
    tag_count = np.diff(tag_offsets)[row]
    tagged = tag_count > 0
    if (word[tagged] >= tag_count[tagged]).any():
        raise IndexError("a tagging example has fewer tags than words")
    labels = np.full(len(words.values), IGNORE_INDEX, dtype=np.int64)
    labels[first] = 0
    labels[first[tagged]] = tags.values.to_numpy()[tag_offsets[row[tagged]] + word[tagged]]
    return pa.ListArray.from_arrays(words.offsets, labels)


def _row_lengths(column: pa.ChunkedArray) -> np.ndarray:
    """Lengths of a list column's rows (offsets would be off for a sliced table)."""
    return pc.list_value_length(column).to_numpy()
