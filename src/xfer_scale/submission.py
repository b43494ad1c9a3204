"""XTREME's submission layout, `<root>/<task>/test-<lang>.<ext>`: write predictions, read
predictions and labels exactly as XTREME's official `evaluate.py` reads them.

Six file formats (`FILE_FORMATS`) cover the scored tasks; which task uses which is data, the
`file:` of each task in conf/benchmarks/*.yaml (or `target.submission_format` for a target no
benchmark lists):

- ``label`` (xnli, pawsx, tatoeba; .tsv): one label per line, stripped; a blank line is
  an (empty) label, not a separator.
- ``tag`` (udpos, panx; .tsv): one tag per line, a blank line ends a sentence; a final
  sentence without a trailing blank line still counts.
- ``pair`` (bucc2018; .tsv): ``source_id<TAB>target_id`` per line.
- ``squad`` (xquad, mlqa, tydiqa; .json): predictions a JSON object question id -> answer
  text; labels a SQuAD v1.1 file (``data`` / ``paragraphs`` / ``qas`` / ``answers``).
- ``xcopa`` (xcopa, XTREME-R; .jsonl): one JSON object per line with a ``label`` key,
  for predictions and labels alike.
- ``ranking`` (mewslix, lareqa, XTREME-R; .json): a JSON object mapping each query id to a
  list of ids: predictions the top candidates, best first (XTREME-R takes 20); labels the
  gold entity (Mewsli-X, a one-id list) or every relevant answer (LAReQA).

Readers return the shapes the metrics take (`prediction_kinds`), each format holding one kind. Where XTREME's reader would
crash or silently mis-score (a BUCC line without a tab, a question id listed twice, bad
JSON), ours raises UserError naming the file, and the line where there is one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xfer_scale import atomic
from xfer_scale.errors import UserError
from xfer_scale.prediction_kinds import FILE_FORMATS



def _format(task: str, file_format: str | None = None) -> str:
    """`file_format` where given, else the file format the package's benchmarks list for `task`."""
    if file_format is not None:
        if file_format not in FILE_FORMATS:
            raise UserError(f"no submission file format {file_format!r}; choose one of {', '.join(FILE_FORMATS)}")
        return file_format
    from xfer_scale import benchmarks  # reads the benchmark files: only where a task name must be looked up

    known = {name: task.file for benchmark in benchmarks.package().values() for name, task in benchmark.tasks.items()}
    if task not in known:
        raise UserError(
            f"no submission format for task {task!r}; known tasks: {', '.join(known)} "
            "(another task needs its file format given: `file:` in a benchmark file or target.submission_format)"
        )
    return known[task]


def extension(task: str, file_format: str | None = None) -> str:
    """File extension XTREME uses for `task` (tsv, json or jsonl)."""
    return FILE_FORMATS[_format(task, file_format)].extension


def submission_path(root: Path, task: str, lang: str, file_format: str | None = None) -> Path:
    """`root/<task>/test-<lang>.<ext>`, the official file for one task and language."""
    return Path(root) / task / f"test-{lang}.{extension(task, file_format)}"


def _field(value: Any, what: str, *, allow_empty: bool = True, allow_tab: bool = True) -> str:
    """`value` as one line's text, refusing what would not read back unchanged."""
    text = str(value)
    problems = [
        ("\n" in text or "\r" in text, "a line break"),
        (text != text.strip(), "surrounding whitespace"),
        (not allow_empty and not text, "no text"),
        (not allow_tab and "\t" in text, "a tab"),
    ]
    for found, problem in problems:
        if found:
            raise UserError(f"{what} {text!r} has {problem}; it would not read back as written")
    return text


def _render(fmt: str, predictions: Any) -> str:
    if fmt == "label":
        return "".join(f"{_field(p, 'label')}\n" for p in predictions)
    if fmt == "tag":
        # Every sentence, the last included, ends with a blank line: this round-trips
        # empty sentences, which a separator-only layout would lose at the end of a file.
        return "".join(
            "".join(f"{_field(t, 'tag', allow_empty=False)}\n" for t in sentence) + "\n"
            for sentence in predictions
        )
    if fmt == "pair":
        return "".join(
            f"{_field(s, 'source id', allow_empty=False, allow_tab=False)}\t"
            f"{_field(t, 'target id', allow_empty=False, allow_tab=False)}\n"
            for s, t in predictions
        )
    if fmt == "squad":
        answers = {str(qid): str(text) for qid, text in dict(predictions).items()}
        return json.dumps(answers, ensure_ascii=False, indent=1) + "\n"
    if fmt == "ranking":
        ranked = {str(qid): [str(c) for c in ids] for qid, ids in dict(predictions).items()}
        return json.dumps(ranked, ensure_ascii=False) + "\n"
    if fmt == "xcopa":
        return "".join(json.dumps({"label": p if isinstance(p, str) else int(p)}) + "\n" for p in predictions)
    # a file format added to FILE_FORMATS needs its writer (and reader) here: never another's layout
    raise ValueError(f"no writer for submission file format {fmt!r}")


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
    atomic.write_text(path, _render(fmt, predictions))
    return path


def _lines(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f]
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None


def _read_tags(path: Path) -> list[list[str]]:
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in _lines(path):
        if line:
            current.append(line)
        else:
            # As XTREME: every blank line closes a sentence, so two in a row make an
            # empty one (which then must match an empty sentence on the other side).
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def _read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for lineno, line in enumerate(_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2 or not all(fields):
            raise UserError(f"{path}:{lineno}: expected 'source_id<TAB>target_id', got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_xcopa(path: Path) -> list[Any]:
    labels = []
    for lineno, line in enumerate(_lines(path), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
        if not isinstance(row, dict) or "label" not in row:
            raise UserError(f"{path}:{lineno}: expected a JSON object with a 'label' key")
        labels.append(row["label"])
    return labels


def _read_answers(path: Path) -> dict[str, str]:
    answers = _json(path)
    if not isinstance(answers, dict) or not all(isinstance(a, str) for a in answers.values()):
        raise UserError(f"{path}: expected a JSON object mapping question id to answer text")
    return answers


def _read_ranking(path: Path) -> dict[str, list[str]]:
    ranking = _json(path)
    if not isinstance(ranking, dict):
        raise UserError(f"{path}: expected a JSON object mapping each id to a list of ids")
    for key, ids in ranking.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise UserError(
                f"{path}: {key!r} maps to {json.dumps(ids)[:60]}; expected a list of id strings "
                '(e.g. "q1": ["Q42", "Q7"])'
            )
    return ranking


def _read_squad_gold(path: Path) -> dict[str, list[str]]:
    dataset = _json(path)
    gold: dict[str, list[str]] = {}
    try:
        for article in dataset["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    if qa["id"] in gold:
                        raise UserError(f"{path}: question id {qa['id']!r} appears twice")
                    gold[qa["id"]] = [answer["text"] for answer in qa["answers"]]
    except (KeyError, TypeError) as e:
        raise UserError(
            f"{path}: not a SQuAD v1.1 file (data/paragraphs/qas/answers/text): missing {e}"
        ) from None
    return gold


def read_predictions(path: Path, task: str, file_format: str | None = None) -> Any:
    """Read a prediction file of `task` into the shape its metric takes."""
    fmt = _format(task, file_format)
    if fmt == "squad":
        return _read_answers(path)
    return _read_labelled(path, fmt)


def read_labels(path: Path, task: str, file_format: str | None = None) -> Any:
    """Read a gold label file of `task` into the shape its metric takes as references."""
    fmt = _format(task, file_format)
    if fmt == "squad":
        return _read_squad_gold(path)
    return _read_labelled(path, fmt)


def _read_labelled(path: Path, fmt: str) -> Any:
    """Formats whose prediction and label files look alike."""
    if fmt == "tag":
        return _read_tags(path)
    if fmt == "pair":
        return _read_pairs(path)
    if fmt == "xcopa":
        return _read_xcopa(path)
    if fmt == "ranking":
        return _read_ranking(path)
    if fmt == "label":
        return _lines(path)
    raise ValueError(f"no reader for submission file format {fmt!r}")  # see _render
