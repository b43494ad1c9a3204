"""Batches padded to a few lengths, so that a compiled model compiles a few shapes, not one per length.

`torch.compile` specialises a graph to its input shapes (with CUDA graphs, `reduce-overhead`,
a shape is also a captured graph in memory). Length-grouped batches come in every length
from a few tokens to `max_length`; rounded up to multiples of `multiple` they come in
max_length / multiple lengths. The padding is masked (attention mask 0, labels ignored,
positions at XLM-R's padding index), so the numbers are those of the unpadded batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from xfer_scale.formats.batching import pad_value


def bucket(length: int, multiple: int, limit: int) -> int:
    """`length` rounded up to a multiple of `multiple`, but not past `limit` (the phase's
    max_length, where that is no multiple) unless the batch is already longer."""
    return max(length, min(-(-length // multiple) * multiple, limit))


class BucketPad:
    """A collate function whose token-level columns (every tensor of 2 or more dimensions whose
    last one is the batch's length) are padded on to `bucket`'s length. Picklable, for loader workers."""

    def __init__(self, collate: Callable[[list[Any]], dict[str, torch.Tensor]], multiple: int, limit: int,
                 pad_token_id: int):
        self.collate, self.multiple, self.limit, self.pad_token_id = collate, multiple, limit, pad_token_id

    def __call__(self, rows: list[Any]) -> dict[str, torch.Tensor]:
        batch = self.collate(rows)
        length = batch["input_ids"].shape[-1]
        extra = bucket(length, self.multiple, self.limit) - length
        if not extra:
            return batch
        return {name: F.pad(tensor, (0, extra), value=pad_value(name, self.pad_token_id))
                if tensor.dim() >= 2 and tensor.shape[-1] == length else tensor
                for name, tensor in batch.items()}
