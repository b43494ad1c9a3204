"""Features to batches, shared by every format, by training and by evaluation: each feature's
length, length-grouped batches, and dynamic padding."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

#: the label of a position that no loss counts (padding, special tokens, later subwords)
IGNORE_INDEX = -100
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX}


def feature_lengths(features: datasets.Dataset) -> np.ndarray:
    """`len(input_ids)` of every feature, computed in Arrow: iterating the column in Python
    costs about 20 us a row, seconds for a large training set. A multiple-choice feature
    (choices x tokens) counts its longest choice, the width it pads to."""
    column = features.with_format("arrow")["input_ids"]
    if not pa.types.is_list(column.type.value_type):
        return pc.list_value_length(column).to_numpy()
    column = column.combine_chunks()  # parent indices count from the start of a chunk
    lengths = np.zeros(len(column), dtype=np.int64)
    np.maximum.at(lengths, pc.list_parent_indices(column).to_numpy(),
                  pc.list_value_length(pc.list_flatten(column)).to_numpy())
    return lengths


def _nested(value: list) -> bool:
    return bool(value) and isinstance(value[0], list)


def _sequences(value: list) -> list[list]:
    """The innermost lists, in order (a multiple-choice feature: one per choice)."""
    return [s for v in value for s in _sequences(v)] if _nested(value) else [value]


def _outer_shape(value: list) -> tuple[int, ...]:
    return (len(value), *_outer_shape(value[0])) if _nested(value) else ()


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, group: int = 50) -> list[list[int]]:
    """Shuffle, sort each window of `group` batches by length, cut into batches, shuffle those.

    Randomness stays (every epoch differs, and batch order is random) while each batch holds
    sequences of similar length, so dynamic padding wastes little compute.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(-lengths_arr[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class Collate:
    """Rows of the model's input columns -> one padded batch (picklable for loader workers)."""

    def __init__(self, columns: list[str], pad_token_id: int):
        self.columns = columns
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_batch([{c: r[c] for c in self.columns} for r in rows], self.pad_token_id)


def pad_value(column: str, pad_token_id: int) -> int:
    """What a column's sequences are padded with: the pad token for `input_ids`, PAD_VALUES' for
    masks and labels, else 0."""
    return pad_token_id if column == "input_ids" else PAD_VALUES.get(column, 0)


def pad_batch(features: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding: every list-valued column to the longest in the batch. A column of
    lists of sequences (multiple choice: choices x tokens) pads every sequence to one width.

    List-valued columns hold integers (ids, masks, labels, positions). Copying the rows into
    one preallocated array is about ten times faster than `torch.tensor` on padded lists,
    and this runs on the host for every batch of training and inference.
    """
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if not isinstance(values[0], list):
            batch[key] = torch.tensor(values)
            continue
        sequences = [s for v in values for s in _sequences(v)]
        pad = pad_value(key, pad_token_id)
        padded = np.full((len(sequences), max(map(len, sequences))), pad, dtype=np.int64)
        for row, sequence in zip(padded, sequences):
            row[: len(sequence)] = sequence
        batch[key] = torch.from_numpy(padded.reshape(len(values), *_outer_shape(values[0]), padded.shape[1]))
    return batch
