"""SIGTERM and SIGINT as a request to stop where the run can resume, not as a lost job.

SLURM sends SIGTERM on a time-out or preemption (then SIGKILL after its KillWait, 30 s by
default), and Ctrl-C is SIGINT. Python's defaults end a run with exit 143 and no word, or a
KeyboardInterrupt wherever it lands. During a run (`raising`) either signal becomes
`Interrupted`: one line and exit 130, and re-running resumes from what was finished (cached
phase 1, a saved target model, results). During a training phase (`Deferred`) the signal is
only recorded: the loop finishes its optimiser step, saves a checkpoint at that step and then
stops, so the next attempt continues from there. A second SIGINT stops at once.

Under Hydra's submitit launcher SLURM also sends SIGUSR2 `signal_delay_s` before the time
limit, and submitit's handler requeues the job (Hydra's launcher can be checkpointed) and
exits. During training that signal is recorded too, and once the checkpoint is saved
submitit's handler is called (`pass_on`): the requeued job resumes from that step, not from
the last checkpoint by the clock. Outside training submitit's handler is left alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from xfer_scale.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: what a training phase also turns into a checkpoint first: submitit's warning before the time limit
TRAINING_SIGNALS = (*SIGNALS, signal.SIGUSR2)


def _installed(handler: Any, numbers: tuple[int, ...],
               previous: dict[int, Any] | None = None) -> contextlib.AbstractContextManager[None]:
    """`handler` for `numbers` while the context lasts, then the previous ones (kept in
    `previous` meanwhile); nothing where signals cannot be handled (a thread other than the main one)."""
    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()
    kept = {} if previous is None else previous

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        kept.update({number: signal.signal(number, handler) for number in numbers})
        try:
            yield
        finally:
            for number, old in kept.items():
                signal.signal(number, old)
            kept.clear()

    return scope()


def _name(number: int) -> str:
    return signal.Signals(number).name


def raising() -> contextlib.AbstractContextManager[None]:
    """Either signal raises `Interrupted` where the run is."""

    def handler(number: int, frame: Any) -> None:
        raise Interrupted(f"stopped by {_name(number)}")

    return _installed(handler, SIGNALS)


class Deferred:
    """A signal is recorded (`received`) for the training loop to act on between steps."""

    def __init__(self) -> None:
        self.number: int | None = None
        self.previous: dict[int, Any] = {}

    @property
    def received(self) -> str | None:
        return None if self.number is None else _name(self.number)

    def _handle(self, number: int, frame: Any) -> None:
        if self.number is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the step may be stuck; stop now
        self.number = number

    def installed(self) -> contextlib.AbstractContextManager[None]:
        return _installed(self._handle, TRAINING_SIGNALS, self.previous)

    def pass_on(self) -> None:
        """Once the checkpoint is saved, a SIGUSR2 goes to the handler it would have reached
        (submitit's, which requeues the job and exits); without one it is a stop like SIGTERM."""
        handler = self.previous.get(self.number) if self.number == signal.SIGUSR2 else None
        if callable(handler):
            handler(self.number, None)
