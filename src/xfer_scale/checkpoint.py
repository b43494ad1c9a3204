"""Mid-phase checkpoints, so that a killed or preempted job continues where it stopped.

A checkpoint is accelerate's `save_state` (model, optimiser, scheduler, every RNG) plus the
loop's own position and counters (`loop.json`), the best weights so far (`best.pt`) and the
identity of the configuration that trains (`loop.json`'s `identity`): resuming another
configuration's checkpoint would silently mix two experiments. It replaces the previous one
by renames, so a crash while saving leaves the previous one whole.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from xfer_scale.atomic import previous, replace_dir
from xfer_scale.errors import UserError

LOOP_FILE = "loop.json"
IDENTITY_KEY = "identity"
BEST_FILE = "best.pt"


def save(accelerator: Accelerator, directory: Path, loop: Any, best_state: dict[str, torch.Tensor] | None,
         best_changed: bool, identity: str) -> None:
    """Every rank calls this (accelerate saves each rank's RNG state)."""
    tmp = directory.with_name(directory.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    if accelerator.is_main_process:
        previous_best = directory / BEST_FILE
        if best_state is not None and (best_changed or not previous_best.exists()):
            torch.save(best_state, tmp / BEST_FILE)
        elif previous_best.exists():
            os.link(previous_best, tmp / BEST_FILE)  # unchanged: no second copy of the weights
        (tmp / LOOP_FILE).write_text(json.dumps({**asdict(loop), IDENTITY_KEY: identity}))
        replace_dir(tmp, directory)
    accelerator.wait_for_everyone()


def load(accelerator: Accelerator, directory: Path, loop_type: type,
         identity: str) -> tuple[Any, dict[str, torch.Tensor] | None] | None:
    """The saved loop state and best weights, with model/optimiser/RNG restored; None if absent.
    A checkpoint of another configuration (`identity`) stops the run before anything changes."""
    if not (directory / LOOP_FILE).exists():
        old = previous(directory)  # a crash between the two renames
        if not (old / LOOP_FILE).exists():
            return None
        directory = old
    saved = json.loads((directory / LOOP_FILE).read_text())
    if saved.get(IDENTITY_KEY) != identity:
        raise UserError(
            f"{directory} holds a training checkpoint of another configuration ({saved.get(IDENTITY_KEY)}; this "
            f"is {identity}); choose another hydra.run.dir (or hydra.sweep.dir), or remove that folder."
        )
    accelerator.load_state(str(directory))
    loop = loop_type(**{f.name: saved[f.name] for f in fields(loop_type) if f.name in saved})
    best = directory / BEST_FILE
    return loop, torch.load(best, map_location="cpu", weights_only=True) if best.exists() else None


def remove(directory: Path) -> None:
    for path in (directory, previous(directory), directory.with_name(directory.name + ".tmp")):
        shutil.rmtree(path, ignore_errors=True)
