"""Prepared data kept on disk across cells: a split's canonical examples, and a format's
features of them.

Every cell of a sweep reads the same target training set and the same evaluation languages,
and turning files into examples and examples into features costs about as much as the
tokenizer itself (40 s a cell for MNLI, over a minute for PAN-X's 48 languages); `datasets`
never caches it, since our examples are built in memory. Here both are stored once under
`cache.dir/features/` and memory-mapped by every later cell.

An entry's name is a hash of everything that decides its content, so a stale entry is never
read, only left behind: for examples, the sources the split reads in that language (their
paths or hub ids, fields, filter, label values), the label names it is read with, its data (local files by
name, size and modification time; hub parts by the ids and revisions in their config, so an
unpinned hub revision is trusted to stay put), where the files were read from, and `SALT`;
for features, the examples' key, the tokenizer (its serialized Rust state), `max_length`, the
format and the settings its encoding reads (`format_options`, its label names), and `SALT`.
Bump `SALT` when reading or encoding changes.

Entries are written and checked as phase-1 entries are (`phase_cache`): built whole in a
temporary folder renamed into place, a manifest of every file's size and hash written last,
a damaged entry moved aside and rebuilt, one builder per entry under its file lock while
others wait and then read its result. A cache that cannot be written is read where it holds
the entry and bypassed (computed in memory) where not: unlike a phase-1 model, features are
always cheap enough to recompute.

A phase's examples are often rows of a full split: phase 1's nested subsample, the dev rows
that select checkpoints. Features are stored for the full split, and the rows' features are
taken from them, so a sweep over amounts and seeds encodes a split once. Examples read from
the cache say so: they travel with their `Origin` (`Examples`, from `load_split`, kept through
`Examples.select`, and `training_examples` for a format's draw of one split), which `encode` reads.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
from filelock import FileLock
from omegaconf import DictConfig

from xfer_scale import data, file_hashes, identity, phase_cache
from xfer_scale.atomic import atomic_dir, inventory, move_aside, write_text
from xfer_scale.formats.base import Format, Loader, TrainingSet

log = logging.getLogger(__name__)

#: part of every key: bump it when reading files or encoding examples gives other results, or
#: the layout of an entry changes
SALT = 3
FOLDER = "features"
#: an entry's rows: one Arrow stream file with the features in its schema, as `datasets` writes
#: them (`Dataset.save_to_disk` and `load_from_disk` cost 10 ms an entry in bookkeeping, more
#: than a PAN-X split's rows)
DATA_FILE = "data.arrow"


@dataclass(frozen=True)
class Origin:
    """Where examples come from: the split `full`, stored as entry `key` in `folder`, all its
    rows (`rows` None) or the given ones."""

    folder: Path
    key: str
    full: datasets.Dataset
    rows: tuple[int, ...] | None = None

    def select(self, rows: Sequence[int]) -> Origin:
        return replace(self, rows=tuple(rows) if self.rows is None else tuple(self.rows[i] for i in rows))


@dataclass(frozen=True)
class Examples:
    """Examples (a `datasets.Dataset`, or a format's own container: a multitask's mix), and
    their origin where they are rows of a split in the cache (None: built otherwise, or the
    cache is off): `encode` then takes their features from the split's."""

    dataset: Any
    origin: Origin | None = None

    def select(self, rows: Sequence[int]) -> Examples:
        """The examples `rows`, in that order, keeping track of their origin."""
        return Examples(self.dataset.select(rows), self.origin.select(rows) if self.origin is not None else None)


def folder(cfg: DictConfig) -> Path:
    return Path(cfg.cache.dir) / FOLDER


@dataclass(frozen=True)
class CachedLoader(Loader):
    """A `Loader` whose splits come from the cache in `folder`."""

    folder: Path = Path(FOLDER)

    def __call__(self, task: Any, split: str, language: str | None = None,
                 names: Sequence[str] | None = None) -> datasets.Dataset:
        return self.read(task, split, language, names).dataset

    def read(self, task: Any, split: str, language: str | None = None,
             names: Sequence[str] | None = None) -> Examples:
        """The split's examples with their origin."""
        return _examples(self.folder, task, split, language or self.language, self.data_root, names)


def loader(cfg: DictConfig, language: str) -> Loader:
    """How a format reads a task's split: through the cache unless `cache.features` is off."""
    if cfg.cache.features:
        return CachedLoader(cfg.data.root, language, folder(cfg))
    return Loader(cfg.data.root, language)


def load_split(cfg: DictConfig, task: Any, split: str, language: str,
               names: Sequence[str] | None = None) -> Examples:
    """`data.load_split`, through the cache unless `cache.features` is off."""
    load = loader(cfg, language)
    if isinstance(load, CachedLoader):
        return load.read(task, split, names=names)
    return Examples(load(task, split, names=names))


def training_examples(load: Loader, found: TrainingSet) -> Examples:
    """A format's training examples (`found`, read through `load`), with their origin where
    they are a draw of one split (`TrainingSet.drawn_from`)."""
    origin = None
    if isinstance(load, CachedLoader) and found.drawn_from is not None:
        origin = load.read(found.drawn_from, "train").origin  # the entry the format read a moment ago
    if origin is not None and found.indices is not None:
        origin = origin.select(found.indices)
    return Examples(found.examples, origin)


def encode(fmt: Format, examples: Examples, tokenizer: Any, max_length: int, tokenizer_key: str | None) -> Any:
    """`fmt.encode(examples, tokenizer, max_length)`, from the cache where the examples came from
    it and the tokenizer has a key (`tokenizer_identity`, computed once where it is loaded)."""
    origin = examples.origin
    if origin is None or tokenizer_key is None:
        return _encoded(fmt, examples.dataset, tokenizer, max_length)
    settings = {"examples": origin.key, "tokenizer": tokenizer_key, "max_length": max_length,
                "format": format_identity(fmt), "salt": SALT}
    entry = origin.folder / f"{origin.key}-{fmt.name or type(fmt).__name__}-{max_length}-{identity.digest(settings)}"
    features, _ = _stored(entry, lambda: _encoded(fmt, origin.full, tokenizer, max_length),
                          lambda: {"identity": settings})
    if origin.rows is None or origin.rows == tuple(range(len(origin.full))):
        return features
    chosen = _rows_of(features, origin.rows, len(origin.full))
    return chosen if chosen is not None else _encoded(fmt, examples.dataset, tokenizer, max_length)


def tokenizer_identity(tokenizer: Any) -> str | None:
    """A hash of what the tokenizer does: its Rust state without the truncation and padding the
    last call left in it, and the Python-side settings a call reads. None for a tokenizer
    without a Rust state (a slow one), whose encodings are then not cached. Serializing XLM-R's
    costs a second: compute it once, where the tokenizer is loaded."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    state = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
    return identity.digest({"class": type(tokenizer).__name__, "state": state,
                            "truncation_side": tokenizer.truncation_side, "padding_side": tokenizer.padding_side})


def format_identity(fmt: Format) -> dict[str, Any]:
    """What a format's `encode` reads besides the examples: its class and task settings."""
    task = fmt.task
    return {"class": f"{type(fmt).__module__}.{type(fmt).__qualname__}", "name": fmt.name,
            "format_options": data.plain(task.get("format_options")), "label_names": list(fmt.label_names)}


def examples_identity(task: Any, split: str, language: str, data_root: str | None,
                      hashes: Path | None, names: Sequence[str] | None) -> dict[str, Any]:
    """What decides a split's canonical rows (see the module docstring); `names`: the label
    names it is read with, where not the task's (`data.load_split`)."""
    return {
        "task": task.name, "split": split, "language": language,
        "source": [{k: data.plain(v) for k, v in part.items() if k not in ("per_language", "also", "translations")}
                   for part in data.split_parts(task, split, language)],
        "label_names": list(names) if names is not None else data.plain(task.get("label_names")),
        "labels_from_data": bool(task.get("labels_from_data", False)),
        "format_options": data.plain(task.get("format_options")),
        "files": data.local_fingerprint(task, split, language, data_root, hashes),
        "where": [data_root, task.get("data_dir")], "salt": SALT,
    }


def _examples(folder: Path, task: Any, split: str, language: str, data_root: str | None,
              names: Sequence[str] | None) -> Examples:
    """The split's examples; the label names they index (learnt ones too) are in their
    features (`data.label_names`), which the entry's file keeps."""
    settings = examples_identity(task, split, language, data_root, file_hashes.folder(folder.parent), names)
    key = f"{task.name}-{split}-{language}-{identity.digest(settings)}"
    examples, meta = _stored(folder / key, lambda: data.load_split(task, split, language, data_root, names),
                             lambda: {"identity": settings})
    if meta is None:
        return Examples(examples)
    return Examples(examples, Origin(folder, key, examples))


@contextlib.contextmanager
def _maps_in_temporary_files() -> Iterator[None]:
    """`Dataset.map` on memory-mapped examples writes its result beside them, which here would
    be inside an entry; without `datasets`' caching it writes to a temporary folder instead."""
    was = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if was:
            datasets.enable_caching()


def _encoded(fmt: Format, examples: Any, tokenizer: Any, max_length: int) -> Any:
    with _maps_in_temporary_files():
        return fmt.encode(examples, tokenizer, max_length)


def _rows_of(features: datasets.Dataset, rows: Sequence[int], examples: int) -> datasets.Dataset | None:
    """The features of examples `rows`, in that order, numbered as `encode` numbers the rows it
    is given; None where the features do not count the examples (retrieval's pair rows count
    their two sides)."""
    index = features.with_format("arrow")["example_index"].to_numpy()
    if len(index) and index.max() >= examples:
        return None
    position = np.full(examples, -1, dtype=np.int64)
    position[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows))
    renumbered = position[index]
    keep = np.flatnonzero(renumbered >= 0)
    keep = keep[np.argsort(renumbered[keep], kind="stable")]
    with _maps_in_temporary_files():  # adding a column copies the chosen rows out of the entry
        chosen = features.select(keep).remove_columns("example_index")
        return chosen.add_column("example_index", renumbered[keep].tolist())


# -- entries ----------------------------------------------------------------------------------

def _stored(entry: Path, compute: Callable[[], datasets.Dataset],
            meta: Callable[[], dict[str, Any]]) -> tuple[datasets.Dataset, dict[str, Any] | None]:
    """The dataset stored in `entry` and its record, computed and stored first where the entry
    is missing or damaged; a record of None: computed in memory, the cache being read-only."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(FileLock(f"{entry}.lock"))
        except OSError as error:
            if error.errno not in phase_cache.UNWRITABLE:
                raise
            found = _open(entry) if entry.exists() else "it does not exist"
            if isinstance(found, tuple):
                return found
            log.warning("the features cache %s is not writable (%s) and entry %s cannot be used (%s); computing it "
                        "in memory", entry.parent, error.strerror, entry.name, found)
            return compute(), None
        for leftover in entry.parent.glob(f".{glob.escape(entry.name)}.*.tmp"):  # atomic_dir's, of a killed build
            shutil.rmtree(leftover, ignore_errors=True)
        if entry.exists():
            found = _open(entry)
            if isinstance(found, tuple):
                return found
            _move_aside(entry, found)
        log.info("preparing %s into the features cache", entry.name)
        dataset = compute()
        with atomic_dir(entry) as tmp:
            _write_rows(dataset, tmp / DATA_FILE)
            write_text(tmp / phase_cache.META_FILE, json.dumps(meta()) + "\n")
            write_text(tmp / phase_cache.MANIFEST_FILE, json.dumps({"files": inventory(tmp, hashed=True)}) + "\n")
        found = _open(entry)
        if not isinstance(found, tuple):
            raise RuntimeError(f"{entry} was just written and is already damaged: {found}")
        return found


def _open(entry: Path) -> tuple[datasets.Dataset, dict[str, Any]] | str:
    """The entry's dataset (memory-mapped) and record, or what is wrong with it."""
    problem = phase_cache.entry_damage(entry)
    if problem is not None:
        return problem
    try:
        return datasets.Dataset.from_file(str(entry / DATA_FILE)), json.loads((entry / phase_cache.META_FILE).read_text())
    except (OSError, ValueError, KeyError) as error:  # e.g. written by a `datasets` this one cannot read
        return f"it does not load ({type(error).__name__}: {error})"


def _write_rows(dataset: datasets.Dataset, path: Path) -> None:
    """The dataset's rows in order (through any selection of them), in the file `Dataset.from_file`
    memory-maps."""
    schema = dataset.features.arrow_schema
    table = dataset.with_format("arrow")[:].replace_schema_metadata(schema.metadata)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)


def _move_aside(entry: Path, problem: str) -> None:
    aside = move_aside(entry)
    log.warning("features cache entry %s is damaged: %s; moved to %s, rebuilding it", entry, problem, aside.name)
