"""Atomic writes: a reader (or a crash) never sees half a file or half a directory.

Everything is written under a temporary name in the destination's own folder (same file
system), then renamed into place, which POSIX makes atomic. Temporary names get the
permissions an ordinary file or folder would (the umask's), since they become the result,
which collaborators on a shared file system must be able to read. A failed write leaves no
temporary behind, and a full disk says so in one line (`DiskFull`) instead of a traceback.

A folder can also carry an inventory of its files (`inventory`, written last), so that a
reader can tell a whole folder from one damaged or cut short later (`damage`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from xfer_scale.errors import UserError

#: errnos of a full file system or quota
FULL = (errno.ENOSPC, errno.EDQUOT)
#: free bytes below which a failed write is taken for a full disk (torch's writer gives no errno)
NEARLY_FULL = 1 << 20
#: file -> the stat signature it had when this process last found its hash right
_HASHED: dict[Path, tuple[int, int, int, int]] = {}


class DiskFull(UserError):
    """The disk (or quota) filled up while writing; what was written so far is removed."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no space left on device writing {path}; free space and re-run to resume")


def _is_disk_full(error: BaseException, path: Path) -> bool:
    """Python reports a full disk as OSError ENOSPC/EDQUOT; safetensors' native writer only in
    its message and torch's not at all, so then the destination's free space decides (it must be
    asked before the partial write is removed)."""
    if isinstance(error, UserError):
        return isinstance(error, DiskFull)  # a nested write's; another says what is wrong itself
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DiskFull) or isinstance(cause, OSError) and cause.errno in FULL:
            return True
        if any(os.strerror(number) in str(cause) for number in FULL):
            return True
        cause = cause.__cause__ or cause.__context__
    try:
        return shutil.disk_usage(path.parent).free < NEARLY_FULL
    except OSError:
        return False


@contextlib.contextmanager
def writing(path: Path) -> Iterator[contextlib.ExitStack]:
    """Run a block that writes `path`; what it registers on the yielded stack (removing its
    temporary) runs when it ends, and a full disk raises `DiskFull` naming `path`."""
    with contextlib.ExitStack() as cleanup:
        try:
            yield cleanup
        except Exception as error:
            if _is_disk_full(error, path):
                raise DiskFull(path) from error
            raise


def _umask() -> int:
    """The process's umask. Reading it means setting it, so it is 0 for a moment: another
    thread creating a file in that moment would get permissions that are too wide."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file path; on success it replaces `path`."""
    path = Path(path)
    with writing(path) as cleanup:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        cleanup.callback(tmp.unlink, missing_ok=True)
        tmp.chmod(0o666 & ~_umask())  # mkstemp's 0600 would hide the result from everyone else
        yield tmp
        os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary directory; on success it becomes `path` (replacing an old one)."""
    path = Path(path)
    with writing(path) as cleanup:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would hide the result from everyone else
        yield tmp
        replace_dir(tmp, path)


def previous(path: Path) -> Path:
    """Where `replace_dir` keeps the old `path` while it swaps the new one in."""
    return path.with_name(f".{path.name}.old")


def _share(folder: Path) -> None:
    """Everything under `folder` gets the permissions the umask gives an ordinary file or
    folder: some writers create theirs private (safetensors: 0600), which hides a model in a
    group-shared cache from the colleagues whose runs would read it."""
    umask = _umask()
    for item in folder.rglob("*"):
        if not item.is_symlink():
            item.chmod((0o777 if item.is_dir() else 0o666) & ~umask)


def replace_dir(tmp: Path, path: Path) -> None:
    """Directory `tmp` becomes `path`, by two renames, with the umask's permissions throughout
    (`_share`); a crash between the renames leaves the old one whole at `previous(path)`."""
    _share(tmp)
    old = previous(path)
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def inventory(folder: Path, hashed: bool) -> dict[str, dict[str, Any]]:
    """Every file under `folder` (by relative name) with its size and, if `hashed`, its sha256.
    Right after writing, the files are still in the page cache, so hashing costs CPU only."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        record: dict[str, Any] = {"size": path.stat().st_size}
        if hashed:
            record["sha256"] = sha256(path)
        files[path.relative_to(folder).as_posix()] = record
    return files


def move_aside(entry: Path) -> Path:
    """Rename a damaged cache entry to `<entry>.damaged-<UTC time>`, kept for a look, out of the way of its rebuild."""
    aside = entry.with_name(f"{entry.name}.damaged-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
    os.rename(entry, aside)
    return aside


def damage(folder: Path, files: dict[str, dict[str, Any]]) -> str | None:
    """What in `folder` differs from its `inventory` (a file missing, of another size, or with
    another hash), or None. Sizes are checked every time; a file's hash once per process for as
    long as its stat is unchanged (an overwrite changes its ctime), since it means reading it."""
    for name, expected in files.items():
        path = folder / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            return f"{name} is missing"
        if stat.st_size != expected["size"]:
            return f"{name} has {stat.st_size} bytes, not {expected['size']}"
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
        if "sha256" in expected and _HASHED.get(path) != signature:
            if sha256(path) != expected["sha256"]:
                return f"{name} does not match its sha256"
            _HASHED[path] = signature
    return None
