"""Padding-free training batches: a batch's sequences laid end to end in one row.

The collator packs a padded batch; `formats.model.TaskModel` runs the encoder on the packed row and lays
the hidden states back out as the padded batch had them. Heads, losses and labels therefore
see exactly what they see unpacked (each sequence pools its own <s>, QA's start/end softmax
stays per sequence), while the encoder computes no padding token.

Attention stays within each sequence through the sequence boundaries (`cu_seq_lens`, as
flash attention's varlen kernels take them), which the encoder passes to its attention
function: `flash_attention_2` reads them itself; for `sdpa` this module registers `SDPA`,
transformers' SDPA for padded batches and, for packed ones, SDPA over nested (jagged)
tensors, which on a GPU runs the flash/memory-efficient varlen kernels (dropout included)
and needs no extra package.

The shortest and longest sequence lengths travel with the batch as plain ints, counted on
the host when the collator packs it: a jagged tensor that lacks them reads them off its
device-side offsets with `.item()`, a host sync for each of query, key and value in every
layer (some 72 a forward pass of XLM-R Large), each stalling the queue of GPU work.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

#: the attention implementation `model.attention=sdpa` loads
SDPA = "xfer_sdpa"
#: the implementations that read `cu_seq_lens`: any other would attend across a packed row
KEEP_SEQUENCES_APART = (SDPA, "flash_attention_2")


def pack(batch: dict[str, Any]) -> dict[str, Any]:
    """A padded batch (right padding) -> the same batch with `input_ids` packed into (1, tokens).

    `token_type_ids`, where the batch has them, are packed as the tokens are. Added:
    `position_ids` (each token's place in its sequence), `cu_seq_lens` (where each
    sequence starts, and the total), `max_length` and `min_length` (the longest and shortest
    sequence, plain ints: no device sync to read them) and `unpack_index`: for each
    (sequence, position) of the padded batch, the packed token there, padding pointing one
    past the end.
    """
    mask = batch["attention_mask"].reshape(-1, batch["attention_mask"].shape[-1]).bool()
    lengths = mask.sum(1)
    cu_seq_lens = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])
    positions = torch.arange(mask.shape[1]).expand_as(mask)
    tokens = {key: batch[key].reshape(mask.shape)[mask][None] for key in ("input_ids", "token_type_ids") if key in batch}
    return {
        **batch,
        **tokens,
        "position_ids": positions[mask][None],
        "cu_seq_lens": cu_seq_lens.to(torch.int32),
        "max_length": int(lengths.max()),
        "min_length": int(lengths.min()),
        "unpack_index": torch.where(mask, cu_seq_lens[:-1, None] + positions, cu_seq_lens[-1]),
    }


class PackedCollate:
    """Wraps a format's collator (picklable for loader workers)."""

    def __init__(self, collate: Callable[[list[Any]], dict[str, Any]]):
        self.collate = collate

    def __call__(self, rows: list[Any]) -> dict[str, Any]:
        return pack(self.collate(rows))


def encode(encoder: torch.nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor,
           cu_seq_lens: torch.Tensor, max_length: int, unpack_index: torch.Tensor,
           min_length: int | None = None, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Hidden states of a packed batch, laid out as (sequences, padded length, hidden).

    Position ids count from each sequence's start, offset as the encoder numbers positions
    (XLM-R/RoBERTa: from padding_idx + 1 = 2, as its own padded batches do). Padding
    positions get zeros: no head reads them where a loss or prediction counts. `min_length`
    reaches `sdpa` (flash attention's own kernels need no minimum and ignore it).
    """
    if encoder.config._attn_implementation not in KEEP_SEQUENCES_APART:
        raise ValueError(f"a packed batch needs attention that reads sequence boundaries ({', '.join(KEEP_SEQUENCES_APART)}), "
                         f"not {encoder.config._attn_implementation!r}: load the encoder with modeling.load_encoder "
                         "(an architecture whose attention reads none is refused `train.packing` before training)")
    offset = getattr(encoder.embeddings, "padding_idx", -1) + 1
    segments = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    hidden = encoder(input_ids=input_ids, position_ids=position_ids + offset, **segments, cu_seq_lens_q=cu_seq_lens,
                     cu_seq_lens_k=cu_seq_lens, max_length_q=max_length, max_length_k=max_length,
                     min_length_q=min_length).last_hidden_state[0]
    return torch.cat([hidden, hidden.new_zeros(1, hidden.shape[-1])])[unpack_index]


def sdpa(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
         attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
         cu_seq_lens_q: torch.Tensor | None = None, max_length_q: int | None = None,
         min_length_q: int | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Transformers' SDPA; on a packed row (1, heads, tokens, head size), one jagged batch of
    the row's sequences instead, so no attention crosses a sequence boundary. The jagged
    tensors are given the batch's length bounds, which the GPU kernels' checks read: a bound
    left out is computed with a host sync (see the module's docstring)."""
    if cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)

    def jagged(states: torch.Tensor) -> torch.Tensor:  # -> (sequences, heads, ragged tokens, head size)
        return torch.nested.nested_tensor_from_jagged(
            states[0].transpose(0, 1), cu_seq_lens_q, min_seqlen=min_length_q, max_seqlen=max_length_q).transpose(1, 2)

    with warnings.catch_warnings():
        # torch's CPU fallback for jagged SDPA builds a prototype-layout nested tensor internally
        # and says so on every call; the jagged layout used here is the supported one
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype stage")
        output = torch.nn.functional.scaled_dot_product_attention(
            jagged(query), jagged(key), jagged(value), dropout_p=dropout, scale=scaling)
    return output.transpose(1, 2).values()[None], None  # (1, tokens, heads, head size), as sdpa returns

AttentionInterface.register(SDPA, sdpa)
AttentionMaskInterface.register(SDPA, sdpa_mask)
