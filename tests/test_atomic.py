"""Atomic writes on shared and full file systems: the umask's permissions, one line and no
litter when the disk fills up."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from safetensors.torch import save_file

from xfer_scale import atomic, checkpoint
from xfer_scale.atomic import DiskFull, atomic_dir, atomic_path, write_text
from xfer_scale.training import TrainStats

BIG = 4 << 20  # bytes: more than the small file system below holds


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                     (0o002, 0o664, 0o775)])
def test_atomic_files_and_folders_get_the_umasks_permissions(tmp_path: Path, umask: int, file_mode: int,
                                                             dir_mode: int):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "results.csv", "a,b\n")
        with atomic_dir(tmp_path / "target_model") as folder:
            write_text(folder / "model.json", "{}\n")
            save_file({"w": torch.zeros(2)}, str(folder / "head.safetensors"))  # safetensors writes 0600
            (folder / "shards").mkdir(mode=0o700)
            save_file({"w": torch.zeros(2)}, str(folder / "shards" / "model.safetensors"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "results.csv").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "target_model").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "target_model" / "shards").stat().st_mode) == dir_mode
    for name in ("model.json", "head.safetensors", "shards/model.safetensors"):
        assert stat.S_IMODE((tmp_path / "target_model" / name).stat().st_mode) == file_mode, name


def _litter(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name)


def test_no_space_left_is_one_line_and_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Where no small file system can be mounted, a write that fails like a full disk's."""
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskFull) as raised, atomic_path(tmp_path / "results.parquet") as tmp:
        tmp.write_bytes(b"x")
    assert str(raised.value) == (f"no space left on device writing {tmp_path / 'results.parquet'}; "
                                 "free space and re-run to resume")
    assert list(tmp_path.iterdir()) == []


def test_other_failures_are_not_taken_for_a_full_disk(tmp_path: Path):
    with pytest.raises(ValueError, match="not a disk problem"), atomic_dir(tmp_path / "model"):
        raise ValueError("not a disk problem")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (mounting needs root; skipped where it is refused)."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True,
                             check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("writer", ["python", "safetensors", "torch"])
def test_a_full_disk_ends_in_one_line_and_no_litter(small_disk: Path, writer: str):
    """Python reports ENOSPC; safetensors only in its message; torch's writer not at all."""
    tensors = {"weight": torch.zeros(BIG // 4)}
    write = {"python": lambda folder: (folder / "model.bin").write_bytes(bytes(BIG)),
             "safetensors": lambda folder: save_file(tensors, str(folder / "model.safetensors")),
             "torch": lambda folder: torch.save(tensors, folder / "model.pt")}[writer]
    full = f"^no space left on device writing {small_disk / 'entry'}; free space"
    with pytest.raises(DiskFull, match=full), atomic_dir(small_disk / "entry") as tmp:
        write(tmp)
    assert list(small_disk.iterdir()) == []
    write_text(small_disk / "failure.json", "{}\n")  # the space is free again for the failure record


@pytest.fixture
def accelerator() -> Iterator[Accelerator]:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield Accelerator(cpu=True)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_a_checkpoint_on_a_full_disk_ends_in_one_line_and_no_litter(small_disk: Path, accelerator: Accelerator):
    model = torch.nn.Linear(BIG // 4 // 64, 64)
    optimizer = torch.optim.AdamW(model.parameters())
    model, optimizer = accelerator.prepare(model, optimizer)
    directory = small_disk / "checkpoints" / "target"
    with pytest.raises(DiskFull, match=f"^no space left on device writing {directory}; free space and re-run"):
        checkpoint.save(accelerator, directory, TrainStats(), None, False, "run")
    assert _litter(small_disk) == [] and not directory.exists()


def test_full_disk_detection_reads_errno_message_or_free_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert atomic._is_disk_full(RuntimeError("I/O error: Disk quota exceeded (os error 122)"), tmp_path)
    wrapped = RuntimeError("unexpected pos")
    wrapped.__context__ = OSError(errno.ENOSPC, "No space left on device")
    assert atomic._is_disk_full(wrapped, tmp_path)
    assert not atomic._is_disk_full(RuntimeError("unexpected pos"), tmp_path)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: SimpleNamespace(free=0))
    assert atomic._is_disk_full(RuntimeError("unexpected pos"), tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to run a process as another uid")
def test_a_colleague_reads_a_model_written_under_umask_002():
    """safetensors writes 0600: a colleague's run on a group-shared cache then failed with a
    PermissionError. Another uid (nobody) reads what we wrote under umask 002, in a folder it
    can reach (pytest's own temporary folders are private to us)."""
    shared = Path(tempfile.mkdtemp(prefix="xfer-shared-"))
    try:
        shared.chmod(0o755)
        old = os.umask(0o002)
        try:
            with atomic_dir(shared / "entry") as folder:
                save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))
        finally:
            os.umask(old)
        read = subprocess.run(["cat", str(shared / "entry" / "model.safetensors")], user=65534, capture_output=True)
        assert read.returncode == 0, read.stderr
        assert read.stdout == (shared / "entry" / "model.safetensors").read_bytes()
    finally:
        shutil.rmtree(shared)
