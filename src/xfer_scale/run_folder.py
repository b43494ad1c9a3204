"""A run folder belongs to one configuration, and to one process at a time.

Re-running the same command in a folder resumes. Another configuration's work there (its
results, its trained target model, its training checkpoint) is never adopted nor overwritten:
the check reads the folder before anything in it is written, Hydra's own `.hydra/` files
included (the CLI writes those once the folder is claimed). A folder where another
configuration left nothing that took compute (it failed early) is taken over.

One process holds a folder at a time through a file lock beside which it notes its pid,
host and start time. A second process started into the same folder waits, saying who holds
it, and then finds the run complete (two identical sweeps into one folder train each cell
once). The lock is an flock: it dies with its process, so a killed job's folder is free.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from xfer_scale.errors import UserError

log = logging.getLogger(__name__)

RECORD_FILE = "run.json"
#: why a run failed, `{"message", "user_error"}`: written by the CLI, read by the sweep summary and `status`
FAILURE_FILE = "failure.json"
RESULTS_FILE = "results.parquet"  # results.RESULTS_FILE, without importing pandas here
LOCK_FILE = ".run.lock"
HOLDER_FILE = ".run.holder"
#: what a configuration's run leaves that took compute, by the file that says it is there
WORK = {"results": RESULTS_FILE, "a trained target model": "target_model/model.json",
        "a training checkpoint": "checkpoints/target/loop.json"}


class ForeignFolder(UserError):
    """The folder holds another configuration's work; nothing in it was changed."""


def read_record(run_dir: Path) -> dict[str, Any] | None:
    """`run.json` of the run that last claimed `run_dir`; None where there is none (or, read
    by `status` while a run writes it elsewhere, none whole yet)."""
    try:
        return json.loads((run_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None


def recorded_run(run_dir: Path) -> str | None:
    """The run id of the configuration that last claimed `run_dir`, if any."""
    return (read_record(run_dir) or {}).get("run_id")


def finished(run_dir: Path, run_id: str | None = None) -> bool:
    """Whether `run_dir` holds a complete run (of `run_id`, if given): its record says
    finished and its results are there, whole (a damaged results file is work to redo: the
    run re-evaluates phase 3, with phases 1 and 2 reused)."""
    record = read_record(run_dir) or {}
    return ("finished" in record and results_damage(run_dir) is None
            and (run_id is None or record.get("run_id") == run_id))


def results_damage(run_dir: Path) -> str | None:
    """What is wrong with the run's results file (missing, empty, cut short), or None. Parquet
    keeps its schema and row counts in a footer at the end: reading it is cheap and a file cut
    anywhere has none."""
    import pyarrow.parquet as pq  # only where a folder is checked: the CLI starts without

    try:
        pq.read_metadata(run_dir / RESULTS_FILE)
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        return f"not a whole parquet file ({error})"
    return None


def check(run_dir: Path, run_id: str) -> None:
    """Refuse a folder holding another configuration's work; reads, never writes."""
    other = recorded_run(run_dir)
    if other is None or other == run_id:
        return
    work = [what for what, marker in WORK.items() if (run_dir / marker).exists()]
    if work:
        raise ForeignFolder(
            f"{run_dir} holds {' and '.join(work)} of another configuration (run {other}; this is run {run_id}); "
            "nothing there was changed. Choose another hydra.run.dir (or hydra.sweep.dir), or move that folder away."
        )


def _holder(run_dir: Path) -> str:
    try:
        holder = json.loads((run_dir / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return "another process"
    return f"pid {holder['pid']} on {holder['host']} (since {holder['since']})"


@contextlib.contextmanager
def held(run_dir: Path, run_id: str, main_process: bool = True) -> Iterator[None]:
    """Claim `run_dir` for `run_id` for the duration. Only the main process of a job locks
    (its other processes follow it); every process checks."""
    check(run_dir, run_id)
    if not main_process:
        yield
        return
    lock = FileLock(str(run_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.warning("%s is in use by %s; waiting for it to finish", run_dir, _holder(run_dir))
        lock.acquire()
    try:
        (run_dir / HOLDER_FILE).write_text(json.dumps({
            "pid": os.getpid(), "host": platform.node(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}) + "\n")
        check(run_dir, run_id)  # the holder we waited for may have been another configuration
        yield
    finally:
        (run_dir / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
