"""Padding-free training batches: a batch's sequences laid end to end in one row.

The collator packs a padded batch; `TaskModel` runs the encoder on the packed row, keeping
attention within each sequence, and lays the hidden states back out as the padded batch
had them. Heads, losses and labels therefore see exactly what they see unpacked (each
sequence pools its own <s>, QA's start/end softmax stays per sequence), while the encoder
computes no padding token.

Attention within each sequence comes from the attention implementation:
`flash_attention_2` finds the sequences from the position ids restarting (varlen kernels,
no compute across sequences); `sdpa` and `eager` get a block-diagonal mask over the whole
row, which is correct but computes (and masks) attention between all of a batch's tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: the columns a packed batch adds: where each token sits in its sequence, and, for every
#: (sequence, position) of the padded batch, the packed token there (padding: one past the end)
PACKED_COLUMNS = ("position_ids", "unpack_index")


def pack(batch: dict[str, Any]) -> dict[str, Any]:
    """A padded batch (right padding) -> the same batch with `input_ids` packed into (1, tokens)."""
    mask = batch["attention_mask"].reshape(-1, batch["attention_mask"].shape[-1]).bool()
    lengths = mask.sum(1)
    tokens = int(lengths.sum())
    starts = torch.cumsum(lengths, 0) - lengths
    positions = torch.arange(mask.shape[1]).expand_as(mask)
    unpack_index = torch.where(mask, starts[:, None] + positions, tokens)
    return {
        **batch,
        "input_ids": batch["input_ids"].reshape(mask.shape)[mask][None],
        "position_ids": positions[mask][None],
        "unpack_index": unpack_index,
    }


class PackedCollate:
    """Wraps a format's collator (picklable for loader workers)."""

    def __init__(self, collate: Callable[[list[Any]], dict[str, Any]]):
        self.collate = collate

    def __call__(self, rows: list[Any]) -> dict[str, Any]:
        return pack(self.collate(rows))


def encode(encoder: torch.nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor,
           unpack_index: torch.Tensor) -> torch.Tensor:
    """Hidden states of a packed batch, laid out as (sequences, padded length, hidden).

    Position ids count from each sequence's start, offset as the encoder numbers positions
    (XLM-R/RoBERTa: from padding_idx + 1 = 2, as its own padded batches do). Padding
    positions get zeros: no head reads them where a loss or prediction counts.
    """
    offset = getattr(encoder.embeddings, "padding_idx", -1) + 1
    if encoder.config._attn_implementation == "flash_attention_2":
        attention = None  # transformers cuts the row at every position restart
    else:
        sequence = torch.cumsum(position_ids[0] == 0, 0)
        attention = (sequence[:, None] == sequence[None, :])[None, None]
    hidden = encoder(input_ids=input_ids, position_ids=position_ids + offset,
                     attention_mask=attention).last_hidden_state[0]
    return torch.cat([hidden, hidden.new_zeros(1, hidden.shape[-1])])[unpack_index]
