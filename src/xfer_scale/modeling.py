"""Loading and saving models between phases: the encoder, and the format's model around it.

Phase 1 saves only the encoder (`save_pretrained`) with its tokenizer; phase 2 loads it and
lets the target's format build a fresh head on top, as the paper does. A folder says in its
manifest what it holds (encoder only, or a head for which format and labels) and which run
made it, so a trained head is loaded only where one was asked for and is known to fit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from xfer_scale import architectures, tiny
from xfer_scale.errors import UserError
from xfer_scale.formats import Format
from xfer_scale.formats import model as model_head

HEAD_FILE = "head.safetensors"
#: what a saved model folder holds, written last: without it a folder is an encoder alone
MANIFEST_FILE = "model.json"


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


def load_config(path: str, revision: str | None = None) -> Any:
    """The model's config, refused (exit 2) where the tool cannot serve its architecture."""
    try:
        config = AutoConfig.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as error:
        raise _cannot_load(path, error) from error
    architectures.check_servable(config, path)
    return config


def load_encoder(path: str, revision: str | None = None, attention: str = "sdpa") -> nn.Module:
    """The bare encoder of any architecture `architectures` can serve; the pooler (where the
    class has one) and any old head in the checkpoint are dropped on purpose."""
    config = load_config(path, revision)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised/unused weights" report is expected here
    try:
        return AutoModel.from_pretrained(path, revision=revision, config=config,
                                         attn_implementation=architectures.attention(config, attention, path),
                                         **architectures.encoder_kwargs(config))
    except ImportError as error:  # e.g. flash_attention_2 without the flash-attn package
        raise UserError(f"model.attention={attention}: {str(error).splitlines()[0]} "
                        "Install what it names, or use model.attention=sdpa.") from error
    except (OSError, ValueError) as error:
        raise _cannot_load(path, error) from error
    finally:
        hf_logging.set_verbosity(verbosity)


def read_manifest(path: str) -> dict[str, Any] | None:
    """What a folder this project saved holds; None for any other model folder or hub id."""
    manifest = Path(path) / MANIFEST_FILE
    return json.loads(manifest.read_text()) if manifest.is_file() else None


def load(path: str, fmt: Format, *, with_head: bool, revision: str | None = None, attention: str = "sdpa") -> nn.Module:
    """The format's model on the encoder at `path`: a fresh head, or (`with_head`) the trained
    head the folder's manifest says it holds for this format and label set."""
    model = fmt.build(load_encoder(path, revision, attention))
    if not with_head:
        return model
    manifest = read_manifest(path) or {}
    holds = manifest.get("head")
    wanted = {"format": fmt.name, "label_names": list(fmt.label_names)}
    if holds != wanted:
        what = f"a {holds['format']} head over labels {holds['label_names']}" if holds else "no trained head"
        raise UserError(
            f"{path} holds {what}, not a {fmt.name} head over {wanted['label_names']} for {fmt.task.name}; "
            f"give the target_model/ folder of a run of a task with these labels."
        )
    model_head.load_head_state(model, load_file(str(Path(path) / HEAD_FILE)))
    return model


def save(model: nn.Module, tokenizer: Any, out: Path, fmt: Format, with_head: bool, identity: str,
         trained_by: dict[str, Any] | None = None, state: dict[str, torch.Tensor] | None = None) -> None:
    """The encoder and tokenizer, with the format's head if asked, then the manifest: what the
    folder holds, the identity of the run that made it and, for a target model, `trained_by`:
    that run's intermediate training, which a run evaluating the folder reports as its own.
    `state`: the model's whole state dict where `model` holds only a shard of it (FSDP,
    `sharding.full_state`); the folder always holds full weights, whatever the next phase runs on."""
    state = model.state_dict() if state is None else state
    model.encoder.save_pretrained(out, state_dict=model_head.encoder_state(state))
    tokenizer.save_pretrained(out)
    manifest: dict[str, Any] = {"identity": identity, "head": None}
    if trained_by is not None:
        manifest["trained_by"] = trained_by
    if with_head:
        save_file({k: v.contiguous() for k, v in model_head.head_state(state).items()}, str(out / HEAD_FILE))
        manifest["head"] = {"format": fmt.name, "label_names": list(fmt.label_names)}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
