"""A local data file's identity is its content, remembered by (path, size, modification time).

Run ids, phase-1 cache keys and the features cache name local files by their sha256, not by
their modification time: `touch`, a copy with new timestamps, or a file fixed and then restored
keeps the run id (a finished run stays finished; a run stopped by a bad row resumes once the
row is fixed back). Hashing MNLI's 253 MB takes about half a second, so each file's hash is
kept in `<cache.dir>/file_hashes/`, one small file per (absolute path, size, mtime): an
unchanged file is hashed once however many cells and `plan` calls ask. A cache folder that
cannot be written (a colleague's read-only cache) costs the hashing, nothing else.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from xfer_scale.atomic import sha256, write_text

FOLDER = "file_hashes"


def folder(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / FOLDER


def fingerprint(path: Path, hashes: Path | None) -> tuple[int, str]:
    """(size, content hash) of a file, or of a folder some readers take whole (BUCC's): the
    sum of its files' sizes and a hash of their relative names and hashes, so a copy with other
    timestamps or another file system's folder sizes is the same data."""
    if not path.is_dir():
        return path.stat().st_size, content_hash(path, hashes)
    files = sorted(file for file in path.rglob("*") if file.is_file())
    inside = [[file.relative_to(path).as_posix(), content_hash(file, hashes)] for file in files]
    return sum(file.stat().st_size for file in files), hashlib.sha256(json.dumps(inside).encode()).hexdigest()


def content_hash(path: Path, hashes: Path | None) -> str:
    """The sha256 of `path`'s bytes, from `hashes` where this version of the file was hashed before."""
    stat = path.stat()
    key = hashlib.sha256(json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns]).encode()).hexdigest()
    entry = hashes / key[:2] / key if hashes is not None else None
    if entry is not None and entry.is_file():
        return entry.read_text().strip()
    found = sha256(path)
    if entry is not None:
        try:
            write_text(entry, found + "\n")
        except OSError:  # a read-only cache: hash again next time
            pass
    return found
