"""The phase-1 cache: one trained encoder per phase-1 identity, shared by every run and sweep.

An entry is `cache.dir/intermediate/<task>-<amount>-<identity hash>/`, written whole by one
directory rename, so a reader never sees half of one. Its `manifest.json`, written last, gives
every file's size and sha256: an entry is complete only while its files match it. One that does
not (a deleted, truncated or overwritten file, or an entry of a version without manifests) is
moved aside to `<entry>.damaged-<UTC time>` with a warning and retrained: training on damaged
weights would fail much later with a misleading message, or not at all.

Jobs that need the same entry take its file lock: the first trains, the others wait and
reuse. Only the main process of a job locks (its other processes would wait forever while it
trains) and tells them what it found; a killed job's flock dies with it, and the next job
continues from the entry's training checkpoint. A cache the job may not write to (a read-only
mount, another account's folder) is used without the lock when its entry is complete.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from filelock import FileLock
from omegaconf import DictConfig

from xfer_scale import identity
from xfer_scale.atomic import atomic_dir, damage, inventory, move_aside, write_text
from xfer_scale.errors import UserError

log = logging.getLogger(__name__)

META_FILE = "meta.json"
SUBSAMPLE_FILE = "subsample.json"
MANIFEST_FILE = "manifest.json"
#: errnos of a lock file that cannot be created or opened for writing
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def entry_path(cfg: DictConfig, world_size: int) -> Path:
    return Path(cfg.cache.dir) / "intermediate" / identity.phase1_key(cfg, world_size)


def checkpoint_dir(entry: Path) -> Path:
    """Where the training of `entry` keeps its mid-phase checkpoints."""
    return entry.with_name(entry.name + ".checkpoint")


def entry_damage(entry: Path) -> str | None:
    """What is wrong with the existing `entry` (a phase-1 or a features cache entry: both hold a
    META_FILE listed in a MANIFEST_FILE), or None when its manifest verifies."""
    try:
        files = json.loads((entry / MANIFEST_FILE).read_text())["files"]
    except FileNotFoundError:
        return f"no {MANIFEST_FILE} (written by an older version, or cut short)"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{MANIFEST_FILE} is unreadable ({type(error).__name__})"
    if META_FILE not in files:
        return f"{MANIFEST_FILE} does not list {META_FILE}"
    return damage(entry, files)


def _meta(entry: Path) -> dict[str, Any]:
    return json.loads((entry / META_FILE).read_text())


def read_meta(entry: Path) -> dict[str, Any] | None:
    """The complete entry's record, or None: there is none, or it was damaged and is now moved
    aside, so that the caller retrains it. Call it holding the entry's lock."""
    if not entry.exists():
        return None
    problem = entry_damage(entry)
    if problem is None:
        return _meta(entry)
    aside = move_aside(entry)
    log.warning("phase-1 cache entry %s is damaged: %s; moved to %s, phase 1 will be retrained", entry, problem, aside.name)
    return None


def _read_only(entry: Path, error: OSError) -> dict[str, Any] | UserError:
    """The record of a complete entry in a cache we may not write to (nobody there replaces it,
    so no lock is needed), or the error that stops the job: it could neither use nor train it."""
    problem = entry_damage(entry) if entry.exists() else "it does not exist"
    if problem is None:
        return _meta(entry)
    return UserError(
        f"the phase-1 cache {entry.parent} is not writable ({error.strerror}: {error.filename}) and its entry "
        f"{entry.name} cannot be used ({problem}); make that folder writable, or set cache.dir to a writable folder."
    )


def _look(entry: Path, held: contextlib.ExitStack) -> dict[str, Any] | UserError | None:
    """The main process's part of `claim`: lock, clear what killed writes of this entry left,
    and read."""
    try:
        held.enter_context(FileLock(str(entry) + ".lock"))
    except OSError as error:
        if error.errno not in UNWRITABLE:
            raise
        return _read_only(entry, error)
    for leftover in entry.parent.glob(f".{glob.escape(entry.name)}.*.tmp"):  # atomic_dir's, of a killed write
        shutil.rmtree(leftover, ignore_errors=True)
    return read_meta(entry)


@contextlib.contextmanager
def claim(entry: Path, accelerator: Accelerator) -> Iterator[dict[str, Any] | None]:
    """Hold `entry`'s lock while the caller trains it; yields its record if it is already complete.
    The main process decides and broadcasts the result, an error included, so that every
    process raises it rather than wait for the others."""
    with contextlib.ExitStack() as held:
        found = _look(entry, held) if accelerator.is_main_process else None
        found = broadcast_object_list([found])[0]
        if isinstance(found, UserError):
            raise found
        yield found


def write(entry: Path, save_model: Any, meta: dict[str, Any], subsample: dict[str, Any]) -> None:
    """The entry, whole: `save_model(folder)` writes the encoder, then the records, and last the
    manifest of every file's size and hash."""
    with atomic_dir(entry) as tmp:
        save_model(tmp)
        write_text(tmp / SUBSAMPLE_FILE, json.dumps(subsample) + "\n")
        write_text(tmp / META_FILE, json.dumps(meta, indent=1) + "\n")
        write_text(tmp / MANIFEST_FILE, json.dumps({"files": inventory(tmp, hashed=True)}, indent=1) + "\n")
