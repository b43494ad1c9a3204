"""SIGTERM and SIGINT as a request to stop where the run can resume, not as a lost job.

SLURM sends SIGTERM on a time-out or preemption (then SIGKILL after its KillWait, 30 s by
default), and Ctrl-C is SIGINT. Python's defaults end a run with exit 143 and no word, or a
KeyboardInterrupt wherever it lands. During a run (`raising`) either signal becomes
`Interrupted`: one line and exit 130, and re-running resumes from what was finished (cached
phase 1, a saved target model, results). During a training phase (`Deferred`) the signal is
only recorded: the loop finishes its optimiser step, saves a checkpoint at that step and then
stops, so the next attempt continues from there. A second SIGINT stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from xfer_scale.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _installed(handler: Any) -> contextlib.AbstractContextManager[None]:
    """`handler` for SIGNALS while the context lasts, then the previous ones; nothing where
    signals cannot be handled (a thread other than the main one)."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        previous = {number: signal.signal(number, handler) for number in SIGNALS}
        try:
            yield
        finally:
            for number, old in previous.items():
                signal.signal(number, old)

    return scope()


def _name(number: int) -> str:
    return signal.Signals(number).name


def raising() -> contextlib.AbstractContextManager[None]:
    """Either signal raises `Interrupted` where the run is."""

    def handler(number: int, frame: Any) -> None:
        raise Interrupted(f"stopped by {_name(number)}")

    return _installed(handler)


class Deferred:
    """Either signal is recorded (`received`) for the training loop to act on between steps."""

    def __init__(self) -> None:
        self.received: str | None = None

    def _handle(self, number: int, frame: Any) -> None:
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the step may be stuck; stop now
        self.received = _name(number)

    def installed(self) -> contextlib.AbstractContextManager[None]:
        return _installed(self._handle)
