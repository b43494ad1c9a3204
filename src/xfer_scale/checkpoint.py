"""Mid-phase checkpoints, so that a killed or preempted job continues where it stopped.

A checkpoint is accelerate's `save_state` (model, optimiser, scheduler, every RNG) plus the
loop's own position and counters (`loop.json`), the best weights so far (`best.pt`) and the
identity of the configuration that trains (`loop.json`'s `identity`): resuming another
configuration's checkpoint would silently mix two experiments. It replaces the previous one
by renames, so a crash while saving leaves the previous one whole; `loop.json` also lists the
files and their sizes, so that a checkpoint damaged later is set aside instead of crashing
accelerate's `load_state` halfway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from xfer_scale.atomic import damage, inventory, previous, replace_dir, writing
from xfer_scale.errors import UserError

log = logging.getLogger(__name__)

LOOP_FILE = "loop.json"
IDENTITY_KEY = "identity"
FILES_KEY = "files"
BEST_FILE = "best.pt"


def _tmp(directory: Path) -> Path:
    return directory.with_name(directory.name + ".tmp")


def save(accelerator: Accelerator, directory: Path, loop: Any, best_state: dict[str, torch.Tensor] | None,
         best_changed: bool, identity: str) -> int:
    """Every rank calls this (accelerate saves each rank's RNG state). `loop.json`, written last,
    lists every file with its size, so that `load` can tell a whole checkpoint from a damaged one.
    Returns the bytes written (on the main process, all ranks' files; 0 on the others): an
    unchanged `best.pt` is a hard link, not written again."""
    tmp = _tmp(directory)
    written = 0
    with writing(directory) as cleanup:
        if accelerator.is_main_process:
            cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()  # every rank's files are in before they are listed
        if accelerator.is_main_process:
            previous_best = directory / BEST_FILE
            linked = 0
            if best_state is not None and (best_changed or not previous_best.exists()):
                torch.save(best_state, tmp / BEST_FILE)
            elif previous_best.exists():
                os.link(previous_best, tmp / BEST_FILE)  # unchanged: no second copy of the weights
                linked = previous_best.stat().st_size
            files = inventory(tmp, hashed=False)
            record = {**asdict(loop), IDENTITY_KEY: identity, FILES_KEY: files}
            (tmp / LOOP_FILE).write_text(json.dumps(record))
            written = sum(file["size"] for file in files.values()) - linked + (tmp / LOOP_FILE).stat().st_size
            replace_dir(tmp, directory)
    accelerator.wait_for_everyone()
    return written


def _read(found: Path) -> dict[str, Any]:
    """`loop.json`'s record; empty when it is missing or unreadable."""
    try:
        return json.loads((found / LOOP_FILE).read_text())
    except (OSError, ValueError):
        return {}


def load(accelerator: Accelerator, directory: Path, loop_type: type,
         identity: str) -> tuple[Any, dict[str, torch.Tensor] | None] | None:
    """The saved loop state and best weights, with model/optimiser/RNG restored; None if absent.
    A checkpoint of another configuration (`identity`) stops the run before anything changes;
    an incomplete one (a file gone or cut short, or no file list: an older version's) is
    removed with a warning, and training starts afresh."""
    # previous(directory): a crash between replace_dir's two renames left the old one whole there
    found = next((d for d in (directory, previous(directory)) if (d / LOOP_FILE).exists()), directory)
    if not found.exists():
        return None
    saved = _read(found)
    if IDENTITY_KEY in saved and saved[IDENTITY_KEY] != identity:
        raise UserError(
            f"{found} holds a training checkpoint of another configuration ({saved[IDENTITY_KEY]}; this "
            f"is {identity}); choose another hydra.run.dir (or hydra.sweep.dir), or remove that folder."
        )
    problem = damage(found, saved[FILES_KEY]) if FILES_KEY in saved else f"no {LOOP_FILE} listing its files"
    if problem is not None:
        if accelerator.is_main_process:
            log.warning("%s is an incomplete training checkpoint (%s); removed, training starts afresh", found, problem)
        accelerator.wait_for_everyone()  # every process has looked before it goes
        if accelerator.is_main_process:
            remove(directory)
        return None
    accelerator.load_state(str(found))
    loop = loop_type(**{f.name: saved[f.name] for f in fields(loop_type) if f.name in saved})
    best = found / BEST_FILE
    return loop, torch.load(best, map_location="cpu", weights_only=True) if best.exists() else None


def remove(directory: Path) -> None:
    """Each folder is renamed away before it is deleted: a kill while deleting leaves no half
    checkpoint for `load` to find, only a `.trash` folder that the next removal clears."""
    for path in (directory, previous(directory), _tmp(directory)):
        trash = path.with_name(path.name + ".trash")
        shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
