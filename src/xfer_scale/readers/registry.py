"""The readers by name, what a reader gives, and `read`, which task configs call through.

A reader is a function `(path, **options) -> Rows` registered under the name task configs give
as `reader:` with the `reader` decorator, in the module of the format it reads; importing
`xfer_scale.readers` imports every such module, so every reader is registered before `read`
is called.

What every reader gives is `Rows`, an iterable of rows under the file's own column names. A
reader that parses a row at a time gives a generator; a table reader (the large line-based
files) gives `TableRows`, the whole file as one Arrow table, which iterates as the same rows
and lets `data` convert it column by column.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from xfer_scale.errors import UserError

Row = dict[str, Any]
#: what a reader gives: rows, one at a time or held as a `TableRows`
Rows = Iterable[Row]
Reader = TypeVar("Reader", bound=Callable[..., Rows])

#: every reader, by the name task configs give it, in the order registered
READERS: dict[str, Callable[..., Rows]] = {}


class Located(dict):
    """A row and its place, `path:line`: for the faults only a task config reveals (a null in a
    field it maps)."""

    def __init__(self, fields: Any, where: str):
        super().__init__(fields)
        self.where = where


class TableRows:
    """Rows held as one Arrow table: a table reader's whole file (`path`, and `lines`, each
    row's first line), or a hub split's table (no lines).

    Iterated, it gives the rows, `Located` where their lines are known, as a reader that parses
    a row at a time would; it can be iterated again. `table` is for converting the rows column
    by column, and `where` names a row of it by its index.
    """

    def __init__(self, table: pa.Table, path: Path | str | None = None, lines: np.ndarray | None = None):
        if (path is None) != (lines is None) or (lines is not None and len(lines) != table.num_rows):
            raise ValueError("a table's rows need a path and one line each, or neither")
        self.table = table
        self.path = None if path is None else str(path)
        self.lines = lines

    def __len__(self) -> int:
        return self.table.num_rows

    def __iter__(self) -> Iterator[Row]:
        rows = self.table.to_pylist()
        if self.lines is None:
            yield from rows
            return
        for row, line in zip(rows, self.lines.tolist(), strict=True):
            yield Located(row, f"{self.path}:{line}")

    def where(self, index: int) -> str | None:
        """`path:line` of row `index`; None for rows without lines."""
        return None if self.lines is None else f"{self.path}:{self.lines[int(index)]}"


def reader(name: str) -> Callable[[Reader], Reader]:
    """Register the decorated function as the reader `name`: its first parameter is the path,
    the others its options, which task configs give as `options:`."""

    def register(function: Reader) -> Reader:
        if name in READERS:
            raise ValueError(f"reader {name!r} is registered twice: by {READERS[name].__module__} and "
                             f"{function.__module__}")
        READERS[name] = function
        return function

    return register


def existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise UserError(f"{path}: not found ({what}); download the original release there or fix the path")
    return path


def read(reader: str, path: Path | str, **options: Any) -> Rows:
    """Rows of one original release file (or folder, for a reader of one, as `bucc`), read by
    the named reader.

    Options are checked against the reader's signature here, so a typo in a task config is
    reported with the valid option names instead of as a TypeError from deep in a generator.
    """
    if reader not in READERS:
        raise UserError(f"unknown reader {reader!r}; valid readers: {', '.join(READERS)}")
    function = READERS[reader]
    signature = inspect.signature(function)
    try:
        signature.bind(path, **options)
    except TypeError as error:
        names = ", ".join(list(signature.parameters)[1:]) or "none"
        raise UserError(f"reader {reader!r}: {error}; its options are: {names}") from None
    return function(existing(Path(path), f"input of reader {reader!r}"), **options)
