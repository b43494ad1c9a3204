"""Whole weights of a model that accelerate's FSDP may have sharded over the processes.

A model too large to train on one GPU (XLM-R XL) is trained sharded: `accelerate launch
--config_file conf/accelerate/fsdp_bf16.yaml` makes accelerate shard every encoder layer's
weights, gradients and AdamW states over the processes (FSDP2, torch's `fully_shard`). The
sharding is accelerate's and torch's; what the tool adds is the three places that need whole
weights: the best weights of checkpoint selection (kept in host memory and in a checkpoint's
`best.pt`), restoring them at the end of a phase, and the model a phase saves for the next
(a folder of full weights that `from_pretrained` loads, sharded or not). torch's distributed
state-dict API gathers them (`full_state`: on the main process only, in host memory, so that a
3.5B model is not copied once per process) and scatters them back (`load_full_state`: the main
process's copy is broadcast into every shard).

An unsharded model (one process, or data parallel) takes the plain path: a host copy of its
state dict, on every process.
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate.utils import DistributedType
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, set_model_state_dict

from xfer_scale.errors import UserError

#: the FSDP version whose full state dicts `load_full_state` can broadcast into the shards
FSDP_VERSION = 2


def sharded(accelerator: Any) -> bool:
    """Whether the run trains under FSDP; refuses FSDP1, whose state dicts `load_full_state` cannot scatter."""
    if accelerator.distributed_type != DistributedType.FSDP:
        return False
    version = accelerator.state.fsdp_plugin.fsdp_version
    if version != FSDP_VERSION:
        raise UserError(f"the accelerate config asks for FSDP version {version}; xfer-scale trains sharded with "
                        f"FSDP {FSDP_VERSION} (fsdp_version: {FSDP_VERSION}, as conf/accelerate/fsdp_bf16.yaml has it).")
    return True


def full_state(model: nn.Module, is_sharded: bool) -> dict[str, torch.Tensor]:
    """The whole state dict in host memory, a copy that later training leaves alone. Sharded:
    every process must call it; the main process gets the weights, the others {}."""
    if not is_sharded:
        return {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_full_state(model: nn.Module, state: dict[str, torch.Tensor], is_sharded: bool) -> None:
    """Load what `full_state` returned. Sharded: every process must call it; the main process's
    `state` is scattered into every process's shards (the others' may be {})."""
    if not is_sharded:
        model.load_state_dict(state)
        return
    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
