"""Device slots: cells a joblib sweep runs at once hold distinct slots, spread round-robin over the GPUs."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from xfer_scale import device_slots
from xfer_scale.device_slots import Slot, for_job, hold, parallel_cells, visible_gpus

FOUR_GPUS = ["0", "1", "2", "3"]
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def job_hydra_cfg(tmp_path: Path, n_jobs: int | None = 4, mode: RunMode = RunMode.MULTIRUN,
                  launcher: str = device_slots.JOBLIB_LAUNCHER) -> DictConfig:
    """The parts of a job's Hydra config that slots read."""
    return OmegaConf.create({"mode": mode, "launcher": {"_target_": launcher, "n_jobs": n_jobs},
                             "sweep": {"dir": str(tmp_path / "sweep")},
                             "runtime": {"output_dir": str(tmp_path / "sweep" / "seed=1")}})


class Waiter(threading.Thread):
    """A job that asks for a slot while others hold them (flock: another open file, as in another
    process), and keeps it until told to end."""

    def __init__(self, slots_dir: Path, n_slots: int, gpus: list[str], bound_gpu: str | None = None) -> None:
        super().__init__(daemon=True)
        self.args = (slots_dir, n_slots, gpus, bound_gpu)
        self.slot: Slot | None = None
        self.done = threading.Event()

    def run(self) -> None:
        with hold(*self.args, poll_s=0.01) as slot:
            self.slot = slot
            self.done.wait(10)


@contextlib.contextmanager
def waiting(waiter: Waiter) -> Iterator[Waiter]:
    waiter.start()
    try:
        yield waiter
    finally:
        waiter.done.set()
        waiter.join(10)


def got_slot(waiter: Waiter) -> Slot | None:
    deadline = time.monotonic() + 10
    while waiter.slot is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return waiter.slot


def test_jobs_running_at_once_hold_distinct_slots_round_robin_over_the_gpus(tmp_path: Path):
    slots_dir = tmp_path / device_slots.SLOTS_DIR
    jobs = [contextlib.ExitStack() for _ in range(4)]
    held = [job.enter_context(hold(slots_dir, 4, ["0", "1"])) for job in jobs]
    try:
        assert [s.index for s in held] == [0, 1, 2, 3]
        assert [(s.gpu, s.gpu_index, s.n_gpus) for s in held] == [("0", 0, 2), ("1", 1, 2), ("0", 0, 2), ("1", 1, 2)]
        with waiting(Waiter(slots_dir, 4, ["0", "1"])) as fifth:  # a fifth job waits for one to end
            time.sleep(0.3)
            assert fifth.slot is None
            jobs[2].close()
            assert (slot := got_slot(fifth)) is not None and (slot.index, slot.gpu) == (2, "0")
    finally:
        for job in jobs:
            job.close()
    with hold(slots_dir, 4, FOUR_GPUS) as first, hold(slots_dir, 4, FOUR_GPUS) as second:
        assert (first.index, second.index, first.gpu, second.gpu) == (0, 1, "0", "1")  # released: reused lowest first


def test_k_slots_on_one_gpu_all_name_it(tmp_path: Path):
    with contextlib.ExitStack() as jobs:
        held = [jobs.enter_context(hold(tmp_path, 5, ["3"])) for _ in range(5)]
    assert {s.index for s in held} == {0, 1, 2, 3, 4} and {s.gpu for s in held} == {"3"}


def test_a_process_bound_to_a_gpu_waits_for_a_slot_of_that_gpu(tmp_path: Path):
    """A reused worker's CUDA stays on the GPU of its last slot: it takes only slots of that GPU."""
    with hold(tmp_path, 4, ["0", "1"], bound_gpu="1") as slot:
        assert (slot.index, slot.gpu) == (1, "1")
    with hold(tmp_path, 4, ["0", "1"]) as s0, hold(tmp_path, 4, ["0", "1"]) as s1, \
            hold(tmp_path, 4, ["0", "1"]) as s2:
        assert [s0.index, s1.index, s2.index] == [0, 1, 2]
        with hold(tmp_path, 4, ["0", "1"], bound_gpu="1") as slot:
            assert slot.index == 3  # slot 3 is free; no GPU-0 slot would do
    bound_jobs = [contextlib.ExitStack() for _ in range(2)]
    try:
        assert [job.enter_context(hold(tmp_path, 4, ["0", "1"], bound_gpu="1")).index for job in bound_jobs] == [1, 3]
        with waiting(Waiter(tmp_path, 4, ["0", "1"], bound_gpu="1")) as bound:
            time.sleep(0.3)
            assert bound.slot is None  # slots 0 and 2 are free, but on GPU 0
            bound_jobs[1].close()
            assert (slot := got_slot(bound)) is not None and (slot.index, slot.gpu) == (3, "1")
    finally:
        for job in bound_jobs:
            job.close()


def test_for_job_sets_the_slots_gpu_for_the_job_and_puts_the_variable_back(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture):
    environ = {"CUDA_VISIBLE_DEVICES": "4,6"}
    with caplog.at_level(logging.INFO, logger="xfer_scale.device_slots"):
        with for_job(job_hydra_cfg(tmp_path), environ) as slot:
            assert slot is not None and (slot.index, slot.gpu) == (0, "4")
            assert environ["CUDA_VISIBLE_DEVICES"] == "4"
            with for_job(job_hydra_cfg(tmp_path), {"CUDA_VISIBLE_DEVICES": "4,6"}) as other:
                assert other is not None and (other.index, other.gpu) == (1, "6")
    assert environ == {"CUDA_VISIBLE_DEVICES": "4,6", device_slots.BOUND_VAR: "4"}
    lines = [r.getMessage() for r in caplog.records if "device slot" in r.getMessage()]
    assert lines[0] == "seed=1: device slot 0 of 4, CUDA_VISIBLE_DEVICES=4 (GPU 0 of 2)"
    assert (device_slots.slots_folder(tmp_path / "sweep", ["4", "6"]) / "slot-0.lock").exists()


def test_slots_belong_to_one_hosts_gpus(tmp_path: Path):
    """A sweep folder shared by sweeps on two nodes (or two allocations of one): separate slots."""
    folders = {device_slots.slots_folder(tmp_path, gpus, host) for gpus, host in
               [(["0"], "node1"), (["0"], "node2"), (["1"], "node1"), (["0"], "node1")]}
    assert {f.name for f in folders} == {"node1-gpus-0", "node2-gpus-0", "node1-gpus-1"}
    mig = device_slots.slots_folder(tmp_path, ["MIG-4b1e/7/0"], "node1").name
    assert mig.startswith("node1-gpus-") and "/" not in mig and len(mig) == len("node1-gpus-") + 12


def test_the_next_job_of_a_bound_process_stays_on_its_gpu(tmp_path: Path):
    environ = {"CUDA_VISIBLE_DEVICES": "0,1", device_slots.BOUND_VAR: "1"}
    with for_job(job_hydra_cfg(tmp_path), environ) as slot:
        assert slot is not None and (slot.index, slot.gpu) == (1, "1")
    environ = {device_slots.BOUND_VAR: "1"}  # bound to a GPU this sweep does not see: any slot
    with for_job(job_hydra_cfg(tmp_path), {**environ, "CUDA_VISIBLE_DEVICES": "5"}) as slot:
        assert slot is not None and slot.gpu == "5"


@pytest.mark.parametrize("case", ["single run", "basic launcher", "one job at a time", "no GPU"])
def test_for_job_changes_nothing_where_slots_do_not_apply(tmp_path: Path, case: str):
    cfg = {"single run": job_hydra_cfg(tmp_path, mode=RunMode.RUN),
           "basic launcher": job_hydra_cfg(tmp_path, launcher=BASIC_LAUNCHER),
           "one job at a time": job_hydra_cfg(tmp_path, n_jobs=1),
           "no GPU": job_hydra_cfg(tmp_path)}[case]
    environ = {"CUDA_VISIBLE_DEVICES": "" if case == "no GPU" else "0,1"}
    with for_job(cfg, environ) as slot:
        assert slot is None and environ == {"CUDA_VISIBLE_DEVICES": "" if case == "no GPU" else "0,1"}
    assert not (tmp_path / "sweep").exists()


def test_visible_gpus_without_touching_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "GPU-5d2c,MIG-1a2b"}) == ["GPU-5d2c", "MIG-1a2b"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}) == ["1"]  # CUDA stops at an invalid entry
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    driver = tmp_path / "gpus"
    for bus in ("0000:18:00.0", "0000:3b:00.0"):
        (driver / bus).mkdir(parents=True)
    assert visible_gpus({}, driver) == ["0", "1"]  # unset: every GPU the driver has
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nvidia-smi either: a CPU machine
    assert visible_gpus({}, tmp_path / "no-driver") == []


def test_parallel_cells_follows_joblibs_n_jobs(tmp_path: Path):
    cpu_count = pytest.importorskip("joblib", reason="pip install -e '.[parallel]'").cpu_count
    assert parallel_cells(job_hydra_cfg(tmp_path, n_jobs=6)) == 6
    assert parallel_cells(job_hydra_cfg(tmp_path, n_jobs=None)) == 1
    assert parallel_cells(job_hydra_cfg(tmp_path, n_jobs=-1)) == cpu_count()
    assert parallel_cells(job_hydra_cfg(tmp_path, n_jobs=6, mode=RunMode.RUN)) == 0
