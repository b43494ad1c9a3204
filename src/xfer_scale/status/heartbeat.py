"""`<run folder>/heartbeat.json`: the phase a run is in, its step, and when it last said so.

The run rewrites the file whole (an atomic rename, so a reader on a shared file system never
sees half of it) when a phase starts and ends, every `training.HEARTBEAT_EVERY_S` seconds
while it trains, and once per language and split it evaluates. A file that stops being
rewritten means the run stopped progressing: killed, hung, or out of its SLURM time; `status`
calls such a cell stalled. Writing it never stops a run: a heartbeat that cannot be written
(a full disk, a file-system hiccup) is logged and skipped.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from xfer_scale.atomic import write_text
from xfer_scale.errors import UserError

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "heartbeat.json"


class Heartbeat:
    """Writes the heartbeat of the run in `run_dir`; with None (a run's other processes, which
    share the main process's folder) it writes nothing."""

    def __init__(self, run_dir: Path | None):
        self.file = run_dir / HEARTBEAT_FILE if run_dir is not None else None

    def __call__(self, phase: str, step: int = 0, total_steps: int = 0) -> None:
        if self.file is None:
            return
        beat = {"phase": phase, "step": step, "total_steps": total_steps,
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "pid": os.getpid(), "host": platform.node()}
        try:
            write_text(self.file, json.dumps(beat) + "\n")
        except (OSError, UserError) as error:
            log.warning("could not write the heartbeat %s (%s); the run goes on", self.file, error)

    def of(self, phase: str) -> Callable[[int, int], None]:
        """The `(step, total_steps)` callback a training loop calls during `phase`."""
        return partial(self, phase)


def read(cell: Path) -> dict[str, Any] | None:
    """The cell's last heartbeat with its `time` as a datetime, or None if it has written none
    (or it cannot be read just now)."""
    try:
        beat = json.loads((cell / HEARTBEAT_FILE).read_text())
        beat["time"] = datetime.fromisoformat(beat["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return beat
