"""The model a format builds on the encoder: the encoder plus the format's own part.

Every format's model keeps the encoder as its `encoder` attribute and nothing of it anywhere
else, so phases hand the encoder on (`save_pretrained`) and everything else in the state dict
is the format's part: what a checkpoint calls its head (`head_state`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xfer_scale import architectures, packing

ENCODER_PREFIX = "encoder."


class TaskModel(nn.Module):
    """An encoder with a head over its last hidden states: the model of most formats."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head
        #: segment ids reach the encoder only where it embeds them (BERT); a tokenizer may give
        #: them to a model that has none (DeBERTa-v3), or none at all (XLM-R)
        self.reads_token_types = architectures.uses_token_types(encoder.config)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None,
               cu_seq_lens: torch.Tensor | None = None, max_length: int | None = None,
               unpack_index: torch.Tensor | None = None, min_length: int | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Last hidden states in the input's shape. Inputs may have dimensions before the
        sequence besides the batch (multiple choice: batch x choices x tokens): the encoder
        sees flat sequences. A packed batch (see `packing`) carries `position_ids`,
        `cu_seq_lens`, `max_length`, `min_length` and `unpack_index`, and comes out laid out
        as unpacked."""
        shape = attention_mask.shape
        token_types = token_type_ids if self.reads_token_types else None
        if unpack_index is not None:
            hidden = packing.encode(self.encoder, input_ids, position_ids, cu_seq_lens, max_length, unpack_index,
                                    min_length, token_types)
        else:
            flat = None if token_types is None else token_types.reshape(-1, shape[-1])
            hidden = self.encoder(input_ids=input_ids.reshape(-1, shape[-1]),
                                  attention_mask=attention_mask.reshape(-1, shape[-1]),
                                  **({} if flat is None else {"token_type_ids": flat})).last_hidden_state
        return hidden.reshape(*shape, hidden.shape[-1])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None = None,
                cu_seq_lens: torch.Tensor | None = None, max_length: int | None = None,
                unpack_index: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                min_length: int | None = None, token_type_ids: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        hidden = self.encode(input_ids, attention_mask, position_ids, cu_seq_lens, max_length, unpack_index, min_length,
                             token_type_ids)
        return apply_head(self.head, hidden, labels)


def apply_head(head: nn.Module, hidden: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """A head's output for the hidden states. A head that says it `reads_labels` gets the
    training labels too (None when predicting): an MLM head then scores only the masked
    positions, whose logits over a 250k vocabulary would otherwise dominate memory."""
    return head(hidden, labels) if getattr(head, "reads_labels", False) else head(hidden)


def head_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights of a model's state dict that are not the encoder's, by their names in the model."""
    return {name: tensor for name, tensor in state.items() if not name.startswith(ENCODER_PREFIX)}


def encoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The encoder's weights of a model's state dict, by their names in the encoder."""
    return {name[len(ENCODER_PREFIX):]: tensor for name, tensor in state.items() if name.startswith(ENCODER_PREFIX)}


def load_head_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a saved head into a freshly built model; every head weight must be there."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.startswith(ENCODER_PREFIX)]
    if missing or unexpected:
        raise ValueError(f"the saved head does not fit the model: missing {missing}, unexpected {unexpected}")
