"""The phase-1 cache and training checkpoints are complete or absent: damaged entries are set
aside and retrained, killed writes and removals leave nothing that stops a later run, and a
read-only cache with complete entries is usable."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.conftest import run_cli
from xfer_scale import atomic, checkpoint, phase_cache
from xfer_scale.errors import UserError
from xfer_scale.training import TrainStats

MAIN = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: None)
WEIGHTS = "model.safetensors"


def _write_entry(cache: Path) -> Path:
    entry = cache / "intermediate" / "mnli-f1-0123456789ab"
    phase_cache.write(entry, lambda folder: (folder / WEIGHTS).write_bytes(os.urandom(1 << 16)),
                      meta={"examples": 600}, subsample={"indices": [0, 1]})
    return entry


def _claim(entry: Path) -> dict | None:
    with phase_cache.claim(entry, MAIN) as meta:
        return meta


def _overwrite(path: Path) -> None:
    with path.open("r+b") as file:
        file.seek(1000)
        file.write(bytes(64))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "deleted": Path.unlink,
    "truncated": lambda path: os.truncate(path, path.stat().st_size // 2),
    "overwritten": _overwrite,
}


def test_a_whole_entry_is_reused(tmp_path: Path):
    entry = _write_entry(tmp_path)
    assert json.loads((entry / phase_cache.MANIFEST_FILE).read_text())["files"][WEIGHTS]["size"] == 1 << 16
    assert _claim(entry) == {"examples": 600}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_weights_are_moved_aside_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                          damage: str):
    entry = _write_entry(tmp_path)
    DAMAGES[damage](entry / WEIGHTS)
    with caplog.at_level(logging.WARNING, logger=phase_cache.__name__):
        assert _claim(entry) is None
    assert not entry.exists()
    [aside] = entry.parent.glob(f"{entry.name}.damaged-*")
    assert (aside / phase_cache.META_FILE).exists()
    [warning] = caplog.messages
    assert f"{entry} is damaged: {WEIGHTS}" in warning and "retrained" in warning and "\n" not in warning


def test_an_entry_without_manifest_is_damaged(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """An older version's entry (meta.json, no manifest) cannot be told from a damaged one."""
    entry = _write_entry(tmp_path)
    (entry / phase_cache.MANIFEST_FILE).unlink()
    assert _claim(entry) is None and not entry.exists()
    assert "no manifest.json" in caplog.text


def test_hashes_are_checked_once_per_process_while_files_are_unchanged(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    entry = _write_entry(tmp_path)
    hashed = []
    sha256 = atomic.sha256
    monkeypatch.setattr(atomic, "sha256", lambda path: hashed.append(path.name) or sha256(path))
    assert _claim(entry) == _claim(entry) == {"examples": 600}
    assert sorted(hashed) == sorted(json.loads((entry / phase_cache.MANIFEST_FILE).read_text())["files"])
    _overwrite(entry / WEIGHTS)
    later = (entry / WEIGHTS).stat().st_mtime_ns + 10**9  # a coarse clock may not have ticked since writing
    os.utime(entry / WEIGHTS, ns=(later, later))
    assert _claim(entry) is None


def test_leftovers_of_a_killed_write_are_cleared(tmp_path: Path):
    entry = _write_entry(tmp_path)
    leftover = entry.with_name(f".{entry.name}.k2j3x9_a.tmp")
    leftover.mkdir()
    (leftover / WEIGHTS).write_bytes(b"half")
    assert _claim(entry) == {"examples": 600}
    assert not leftover.exists()


def _chmod_folders(folder: Path, mode: int) -> None:
    for path in (folder, *folder.rglob("*")):
        if path.is_dir():
            path.chmod(mode)


@pytest.fixture
def read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A cache folder, and how to make it read-only. Root ignores permissions, so as root the
    folder is a tmpfs remounted read-only; where mounting is refused, the lock's creation is
    made to fail as on a read-only file system."""
    folder = tmp_path / "cache"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder, lambda: _chmod_folders(folder, 0o555)
        _chmod_folders(folder, 0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], check=False).returncode:
        def refused(*args, **kwargs):
            raise OSError(30, "Read-only file system", str(folder))

        yield folder, lambda: monkeypatch.setattr(phase_cache.FileLock, "acquire", refused)
        return
    try:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_cache_with_a_whole_entry_is_used_without_a_lock(read_only: tuple[Path, Callable[[], None]]):
    cache, make_read_only = read_only
    entry = _write_entry(cache)
    make_read_only()
    assert _claim(entry) == {"examples": 600}
    assert not entry.with_name(entry.name + ".lock").exists()


@pytest.mark.parametrize("damage", [None, "truncated"])
def test_a_read_only_cache_without_a_whole_entry_says_what_to_do(read_only: tuple[Path, Callable[[], None]],
                                                                 damage: str | None):
    cache, make_read_only = read_only
    entry = _write_entry(cache)
    if damage:
        DAMAGES[damage](entry / WEIGHTS)
    else:
        shutil.rmtree(entry)
    make_read_only()
    with pytest.raises(UserError, match=f"cache {entry.parent} is not writable .* make that folder writable, "
                                        "or set cache.dir to a writable folder"):
        _claim(entry)
    assert entry.exists() == bool(damage)  # left where it was


def _loop_only(directory: Path, identity: str, **record) -> None:
    """What a kill -9 in the older `remove` left: loop.json, and the weights already gone."""
    directory.mkdir(parents=True)
    (directory / checkpoint.LOOP_FILE).write_text(json.dumps({**asdict(TrainStats(steps=10)),
                                                              checkpoint.IDENTITY_KEY: identity, **record}))


@pytest.mark.parametrize("files", [None, {WEIGHTS: {"size": 10}, "optimizer.bin": {"size": 10}}])
def test_a_half_removed_checkpoint_is_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                             files: dict | None):
    directory = tmp_path / "checkpoints" / "target"
    _loop_only(directory, "run", **({checkpoint.FILES_KEY: files} if files else {}))
    accelerator = SimpleNamespace(**vars(MAIN), load_state=pytest.fail)
    assert checkpoint.load(accelerator, directory, TrainStats, "run") is None
    assert not directory.exists() and list(directory.parent.iterdir()) == []
    [warning] = caplog.messages
    assert f"{directory} is an incomplete training checkpoint" in warning and "starts afresh" in warning


def test_another_configurations_checkpoint_is_still_refused(tmp_path: Path):
    directory = tmp_path / "checkpoints" / "target"
    _loop_only(directory, "another run")
    with pytest.raises(UserError, match="training checkpoint of another configuration"):
        checkpoint.load(MAIN, directory, TrainStats, "run")
    assert directory.exists()


def test_removal_renames_before_it_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    directory = tmp_path / "run.checkpoint"
    _loop_only(directory, "run")
    monkeypatch.setattr(checkpoint.shutil, "rmtree", lambda *args, **kwargs: None)  # killed before deleting
    checkpoint.remove(directory)
    assert not directory.exists() and (tmp_path / "run.checkpoint.trash" / checkpoint.LOOP_FILE).exists()
    assert checkpoint.load(MAIN, directory, TrainStats, "run") is None
    monkeypatch.undo()
    checkpoint.remove(directory)  # the next removal clears what the killed one left
    assert list(tmp_path.iterdir()) == []


SETTINGS = ("target.languages=[en]", "target.eval_splits=[test]")


@pytest.fixture
def copied_cache(smoke_run: Path, cache_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the session's cache (the tiny model and the smoke run's phase-1 entry), and the entry."""
    cache = shutil.copytree(cache_dir, tmp_path / "cache")
    [entry] = [p for p in (cache / "intermediate").glob("mnli-f1-*") if "." not in p.name]
    return cache, entry


def _phase1_log(run_dir: Path) -> tuple[bool, str]:
    phases = pd.read_parquet(run_dir / "phases.parquet").set_index("phase")
    return bool(phases.loc["intermediate", "cache_hit"]), (run_dir / "cli.log").read_text()


def test_a_run_retrains_overwritten_cached_weights(copied_cache: tuple[Path, Path], tmp_path: Path):
    cache, entry = copied_cache
    _overwrite(entry / WEIGHTS)
    assert run_cli(*SETTINGS, run_dir=tmp_path / "run", cache_dir=cache) == 0
    cache_hit, log = _phase1_log(tmp_path / "run")
    assert not cache_hit and f"{entry} is damaged: {WEIGHTS} does not match its sha256" in log
    assert len(list(entry.parent.glob(f"{entry.name}.damaged-*"))) == 1 and phase_cache.read_meta(entry)


def test_a_half_removed_phase1_checkpoint_does_not_stop_later_runs(copied_cache: tuple[Path, Path], tmp_path: Path):
    """The issue's case: a kill -9 during the older `remove` left loop.json, then the entry was removed."""
    cache, entry = copied_cache
    shutil.rmtree(entry)
    _loop_only(phase_cache.checkpoint_dir(entry), entry.name)
    assert run_cli(*SETTINGS, run_dir=tmp_path / "run", cache_dir=cache) == 0
    cache_hit, log = _phase1_log(tmp_path / "run")
    assert not cache_hit and "is an incomplete training checkpoint" in log
    assert not phase_cache.checkpoint_dir(entry).exists() and phase_cache.read_meta(entry)
