"""The encoder with a task head, and moving the encoder between phases.

Phase 1 saves only the encoder (`save_pretrained`) with its tokenizer; phase 2 loads it and
puts a fresh head of the target's format on top, as the paper does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from xfer_scale import packing, tiny
from xfer_scale.errors import UserError
from xfer_scale.formats import Format

HEAD_FILE = "head.pt"


class TaskModel(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, task: int | None = None,
                position_ids: torch.Tensor | None = None, cu_seq_lens: torch.Tensor | None = None,
                max_length: int | None = None, unpack_index: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """Inputs may have dimensions before the sequence besides the batch (multiple choice:
        batch x choices x tokens): the encoder sees flat sequences, the head the input's shape.
        `task` picks one of several heads (multi-task training). A packed batch (see
        `packing`) carries `position_ids`, `cu_seq_lens`, `max_length` and `unpack_index`;
        its head input is the same."""
        head = self.head if task is None else list(self.head.values())[task]
        if getattr(head, "reads_all_layers", False):  # retrieval: pools an inner layer over real tokens
            outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            return head(outputs.hidden_states, attention_mask)
        shape = attention_mask.shape
        if unpack_index is not None:
            hidden = packing.encode(self.encoder, input_ids, position_ids, cu_seq_lens, max_length, unpack_index)
        else:
            hidden = self.encoder(input_ids=input_ids.reshape(-1, shape[-1]),
                                  attention_mask=attention_mask.reshape(-1, shape[-1])).last_hidden_state
        return head(hidden.reshape(*shape, hidden.shape[-1]))


def resolve(model_cfg: Any, cache_dir: str) -> str:
    """A hub id or directory `from_pretrained` understands; builds `builtin:tiny` on first use."""
    if model_cfg.path == "builtin:tiny":
        return str(tiny.ensure(Path(cache_dir), **dict(model_cfg.tiny)))
    return model_cfg.path


def _cannot_load(path: str, error: Exception) -> UserError:
    return UserError(
        f"cannot load the model {path!r}: {type(error).__name__}: {str(error).splitlines()[0]} "
        "Check model.path (a hub id or a directory with config.json); offline, run `xfer-scale prepare` "
        "first where the hub is reachable, then set HF_HUB_OFFLINE=1."
    )


def load_tokenizer(path: str, revision: str | None = None) -> Any:
    try:
        return AutoTokenizer.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as error:
        raise _cannot_load(path, error) from error


def attn_implementation(attention: str) -> str:
    """transformers' name for `model.attention`: `sdpa` is SDPA that also keeps packed
    sequences apart (`packing.SDPA`)."""
    return packing.SDPA if attention == "sdpa" else attention


def load_encoder(path: str, revision: str | None = None, attention: str = "sdpa") -> nn.Module:
    """The bare encoder; the pooler and any old head in the checkpoint are dropped on purpose."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised/unused weights" report is expected here
    try:
        return AutoModel.from_pretrained(path, revision=revision, add_pooling_layer=False,
                                         attn_implementation=attn_implementation(attention))
    except ImportError as error:  # e.g. flash_attention_2 without the flash-attn package
        raise UserError(f"model.attention={attention}: {str(error).splitlines()[0]} "
                        "Install what it names, or use model.attention=sdpa.") from error
    except (OSError, ValueError) as error:
        raise _cannot_load(path, error) from error
    finally:
        hf_logging.set_verbosity(verbosity)


def build(path: str, fmt: Format, revision: str | None = None, attention: str = "sdpa") -> TaskModel:
    encoder = load_encoder(path, revision, attention)
    model = TaskModel(encoder, fmt.head(encoder.config.hidden_size))
    head_file = Path(path) / HEAD_FILE
    if fmt.trains and head_file.exists():  # a phase-2 checkpoint of the same format: keep its trained head
        model.head.load_state_dict(torch.load(head_file, map_location="cpu", weights_only=True))
    if hasattr(model.head, "prune"):  # a head that reads an inner layer needs no layer above it
        model.head.prune(encoder)
    return model


def save(model: TaskModel, tokenizer: Any, out: Path, with_head: bool) -> None:
    model.encoder.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if with_head:
        torch.save(model.head.state_dict(), out / HEAD_FILE)
