"""The phase-1 cache: one trained encoder per phase-1 identity, shared by every run and sweep.

An entry is `cache.dir/intermediate/<task>-<amount>-<identity hash>/`, written whole by one
directory rename (`meta.json` inside says it is complete), so a reader never sees half of
one. Jobs that need the same entry take its file lock: the first trains, the others wait and
reuse. Only the main process of a job locks (its other processes would wait forever while it
trains) and tells them what it found; a killed job's flock dies with it, and the next job
continues from the entry's training checkpoint.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from filelock import FileLock
from omegaconf import DictConfig

from xfer_scale import identity
from xfer_scale.atomic import atomic_dir, write_text

META_FILE = "meta.json"
SUBSAMPLE_FILE = "subsample.json"


def entry_path(cfg: DictConfig, world_size: int) -> Path:
    return Path(cfg.cache.dir) / "intermediate" / identity.phase1_key(cfg, world_size)


def checkpoint_dir(entry: Path) -> Path:
    """Where the training of `entry` keeps its mid-phase checkpoints."""
    return entry.with_name(entry.name + ".checkpoint")


def read_meta(entry: Path) -> dict[str, Any] | None:
    """The complete entry's record, or None when there is no complete entry."""
    meta = entry / META_FILE
    return json.loads(meta.read_text()) if meta.is_file() else None


@contextlib.contextmanager
def claim(entry: Path, accelerator: Accelerator) -> Iterator[dict[str, Any] | None]:
    """Hold `entry`'s lock while the caller trains it; yields its record if it is already complete."""
    lock = FileLock(str(entry) + ".lock") if accelerator.is_main_process else contextlib.nullcontext()
    with lock:
        yield broadcast_object_list([read_meta(entry)])[0]


def write(entry: Path, save_model: Any, meta: dict[str, Any], subsample: dict[str, Any]) -> None:
    """The entry, whole: `save_model(folder)` writes the encoder, then the records, `meta` last."""
    with atomic_dir(entry) as tmp:
        save_model(tmp)
        write_text(tmp / SUBSAMPLE_FILE, json.dumps(subsample) + "\n")
        write_text(tmp / META_FILE, json.dumps(meta, indent=1) + "\n")
