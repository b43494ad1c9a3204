"""XTREME's submission layout, `<root>/<task>/test-<lang>.<ext>`: which file a task's
predictions go to, written atomically, and read back (predictions or gold labels) in the shapes
the metrics take. How each file is laid out is its file format's (`file_formats`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xfer_scale import atomic, benchmarks, file_formats
from xfer_scale.errors import UserError


def _format(task: str, file_format: str | None = None) -> str:
    """`file_format` where given, else the file format the package's benchmarks list for `task`."""
    if file_format is not None:
        return file_formats.get(file_format).name
    known = {name: task.file for benchmark in benchmarks.package().values() for name, task in benchmark.tasks.items()}
    if task not in known:
        raise UserError(
            f"no submission format for task {task!r}; known tasks: {', '.join(known)} "
            "(another task needs its file format given: `file:` in a benchmark file or target.submission_format)"
        )
    return known[task]


def extension(task: str, file_format: str | None = None) -> str:
    """File extension XTREME uses for `task` (tsv, json or jsonl)."""
    return file_formats.get(_format(task, file_format)).extension


def submission_path(root: Path, task: str, lang: str, file_format: str | None = None) -> Path:
    """`root/<task>/test-<lang>.<ext>`, the official file for one task and language."""
    return Path(root) / task / f"test-{lang}.{extension(task, file_format)}"


def write_predictions(
    out_dir: Path,
    task: str,
    lang: str,
    predictions: Sequence[Any] | Mapping[str, str] | Iterable[tuple[str, str]],
    file_format: str | None = None,
) -> Path:
    """Write one language's predictions for `task` into the official layout; returns the path.

    Shapes, as `compute` takes them: labels (xnli, pawsx, tatoeba, xcopa: str or int per
    example), tag lists (udpos, panx: one list of str per sentence), (source_id, target_id)
    pairs (bucc2018), a dict question id -> answer text (xquad, mlqa, tydiqa), or a dict
    query id -> ranked candidate ids (mewslix, lareqa). `file_format`: for a task no package
    benchmark lists.
    """
    fmt = _format(task, file_format)
    path = submission_path(out_dir, task, lang, fmt)
    # Atomic, so a crash or a parallel sweep job never leaves half a file that would
    # later score as a real submission.
    atomic.write_text(path, file_formats.get(fmt).write(predictions))
    return path


def read_predictions(path: Path, task: str, file_format: str | None = None) -> Any:
    """Read a prediction file of `task` into the shape its metric takes."""
    return file_formats.get(_format(task, file_format)).read(path)


def read_labels(path: Path, task: str, file_format: str | None = None) -> Any:
    """Read a gold label file of `task` into the shape its metric takes as references."""
    return file_formats.get(_format(task, file_format)).labels(path)
