"""Device slots: which GPU each of the cells a sweep runs at once on one machine uses.

Hydra's joblib launcher (`hydra/launcher=joblib hydra.launcher.n_jobs=K`) runs K cells at
once, each in a worker process of the launching machine. A cell of an XLM-R Large recipe
needs about 12 GB, so several fit one GPU; without slots every cell would open `cuda:0`.
Each job therefore claims one of K slots, a file lock
`<sweep dir>/.device_slots/<host>-gpus-<GPUs>/slot-<i>.lock` (an flock: it dies with a killed
job), so that cells running at the same time hold distinct slots whatever order joblib starts
them in, and runs with `CUDA_VISIBLE_DEVICES` set to GPU `i % n` of the n GPUs the launching
process sees: K/n cells per GPU. The slots belong to those GPUs of that host: the same sweep
folder on a shared file system, used by a second sweep on another node (or in another SLURM
allocation of the same node), gets slots of its own. The variable is set before the job
imports anything that could touch CUDA, which reads it once per process, and put back when
the job ends.

joblib reuses its worker processes: one that ran a cell on GPU 2 has CUDA bound to GPU 2 for
the rest of its life, whatever the variable says later. So a process records the GPU of its
last slot in its environment (`XFER_SCALE_SLOT_GPU`: process state, which is what it
describes) and its next job waits for a slot of that GPU rather than run on a GPU its slot
does not name.

Slots are bookkeeping: they never enter the configuration, so a cell's run identity is the
same however many ran beside it. Nothing happens in a single run, under another launcher
(basic: one cell at a time; submitit: SLURM gives each job its own GPUs), with K = 1, or on
a machine without GPUs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import platform
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout
from hydra.types import RunMode
from omegaconf import DictConfig

from xfer_scale.errors import UserError

log = logging.getLogger(__name__)

SLOTS_DIR = ".device_slots"
CUDA_VAR = "CUDA_VISIBLE_DEVICES"
#: the GPU this process's last slot named: CUDA, once used, stays bound to it
BOUND_VAR = "XFER_SCALE_SLOT_GPU"
JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
#: one entry per GPU the NVIDIA driver has, listed without initialising CUDA
DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")


@dataclass(frozen=True)
class Slot:
    """Slot `index` of `n_slots`; its GPU is `gpu` (a `CUDA_VISIBLE_DEVICES` entry), the
    `gpu_index`-th of the `n_gpus` the launching process sees."""

    index: int
    n_slots: int
    gpu: str
    gpu_index: int
    n_gpus: int


def visible_gpus(environ: MutableMapping[str, str], driver_gpus: Path = DRIVER_GPUS) -> list[str]:
    """The GPUs a process with `environ` may use, as `CUDA_VISIBLE_DEVICES` entries, found
    without touching CUDA (that would bind this process to them): the variable's entries up to
    the first one CUDA would stop at (empty, or negative: `-1` hides every GPU), or where it is
    unset one index per GPU the driver lists. No driver: no GPUs."""
    value = environ.get(CUDA_VAR)
    if value is not None:
        entries = []
        for entry in (part.strip() for part in value.split(",")):
            if not entry or entry.startswith("-"):
                break
            entries.append(entry)
        return entries
    if driver_gpus.is_dir():
        return [str(i) for i in range(len(list(driver_gpus.iterdir())))]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i in range(sum(line.startswith("GPU ") for line in listing.splitlines()))]


def parallel_cells(hydra_cfg: DictConfig) -> int:
    """How many cells of this job's sweep run at once as processes of this machine: joblib's
    `n_jobs` (negative counts back from the CPU count, as joblib does); 0 for a single run or
    another launcher."""
    if hydra_cfg.mode != RunMode.MULTIRUN or hydra_cfg.launcher.get("_target_") != JOBLIB_LAUNCHER:
        return 0
    n_jobs = hydra_cfg.launcher.get("n_jobs")
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        from joblib import cpu_count  # installed with the launcher that is running this job
        return max(cpu_count() + 1 + n_jobs, 1)
    return int(n_jobs)


def slots_folder(sweep_dir: Path, gpus: Sequence[str], host: str | None = None) -> Path:
    """Where the slots of `gpus` on `host` (this one) live in `sweep_dir`; named by both, so
    that sweeps sharing the folder from other machines or other GPUs never wait for each
    other's slots (a long or odd GPU list, MIG UUIDs say, by its hash)."""
    listed = ",".join(gpus)
    if len(listed) > 64 or not re.fullmatch(r"[A-Za-z0-9,._-]+", listed):
        listed = hashlib.sha256(listed.encode()).hexdigest()[:12]
    return sweep_dir / SLOTS_DIR / f"{host or platform.node()}-gpus-{listed}"


def slot_gpu(index: int, gpus: Sequence[str]) -> str:
    """Slot `index`'s GPU: round-robin, so K slots on n GPUs put K/n cells on each."""
    return gpus[index % len(gpus)]


@contextlib.contextmanager
def hold(slots_dir: Path, n_slots: int, gpus: Sequence[str], bound_gpu: str | None = None,
         poll_s: float = 1.0) -> Iterator[Slot]:
    """Claim the lowest free slot of `slots_dir`'s `n_slots` (of `bound_gpu` only, where this
    process's CUDA is bound to it) for the duration, waiting while all are taken. With one
    sweep there, at most `n_slots` jobs ask at once, so a job waits only for another sweep
    into the same folder on these GPUs, or while a reused worker's GPU has no free slot."""
    candidates = [i for i in range(n_slots) if bound_gpu is None or slot_gpu(i, gpus) == bound_gpu]
    if not candidates:  # bound to a GPU no slot names (K < GPUs): no slot can match, so any will do
        candidates = list(range(n_slots))
    try:
        slots_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise UserError(f"cannot create the device slots {slots_dir} ({error.strerror}); "
                        "make the sweep folder writable or set hydra.sweep.dir to a writable folder.") from None
    waiting = False
    while True:
        for index in candidates:
            lock = FileLock(str(slots_dir / f"slot-{index}.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield Slot(index, n_slots, slot_gpu(index, gpus), index % len(gpus), len(gpus))
            finally:
                lock.release()
            return
        if not waiting:
            which = f"of GPU {bound_gpu} " if bound_gpu is not None else ""
            log.info("every device slot %sin %s is taken; waiting for one", which, slots_dir)
            waiting = True
        time.sleep(poll_s)


@contextlib.contextmanager
def for_job(hydra_cfg: DictConfig, environ: MutableMapping[str, str] | None = None) -> Iterator[Slot | None]:
    """The slot of the job Hydra is running, with `CUDA_VISIBLE_DEVICES` set to its GPU for
    the duration (and put back after); None, and nothing changed, where slots do not apply."""
    environ = os.environ if environ is None else environ
    n_slots = parallel_cells(hydra_cfg)
    gpus = visible_gpus(environ) if n_slots > 1 else []
    if not gpus:
        yield None
        return
    bound = environ.get(BOUND_VAR)
    slots_dir = slots_folder(Path(hydra_cfg.sweep.dir), gpus)
    with hold(slots_dir, n_slots, gpus, bound if bound in gpus else None) as slot:
        previous = environ.get(CUDA_VAR)
        environ[CUDA_VAR] = slot.gpu
        environ[BOUND_VAR] = slot.gpu
        log.info("%s: device slot %d of %d, %s=%s (GPU %d of %d)", Path(hydra_cfg.runtime.output_dir).name,
                 slot.index, slot.n_slots, CUDA_VAR, slot.gpu, slot.gpu_index, slot.n_gpus)
        try:
            yield slot
        finally:
            if previous is None:
                environ.pop(CUDA_VAR, None)
            else:
                environ[CUDA_VAR] = previous
