"""Submission file formats: how one language's predictions (and gold labels) of a task are laid
out in a file, and read back exactly as XTREME's official `evaluate.py` reads them.

Six formats cover XTREME and XTREME-R; which task uses which is data, the `file:` of each task
in conf/benchmarks/*.yaml (or `target.submission_format` for a target no benchmark lists):

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

A new kind of prediction brings its file format where it brings its kind: beside its metric
(`register`, as `@metric` registers the metric), so `xfer-scale score` knows it without
importing the formats (and torch). Readers return the shapes the metrics take, each format
holding one kind. Where XTREME's reader would crash or silently mis-score (a BUCC line without a
tab, a question id listed twice, bad JSON), ours raises UserError naming the file, and the line
where there is one. Every writer's output reads back as written, or is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xfer_scale.errors import UserError
from xfer_scale.prediction_kinds import ANSWERS, KINDS, LABELS, PAIRS, RANKINGS, TAG_SEQUENCES


@dataclass(frozen=True)
class FileFormat:
    """A submission file format: its extension, the prediction kind its files hold, its writer
    (predictions -> the file's text) and its reader (path -> predictions); `read_labels` reads
    gold files where they are laid out otherwise (SQuAD's)."""

    name: str
    extension: str
    holds: str
    write: Callable[[Any], str]
    read: Callable[[Path], Any]
    read_labels: Callable[[Path], Any] | None = None

    def labels(self, path: Path) -> Any:
        return (self.read_labels or self.read)(path)


#: every registered file format, by name
FILE_FORMATS: dict[str, FileFormat] = {}


def register(name: str, extension: str, holds: str, write: Callable[[Any], str], read: Callable[[Path], Any],
             read_labels: Callable[[Path], Any] | None = None) -> FileFormat:
    """Make file format `name` known to `file:`, `target.submission_format` and `score`."""
    if holds not in KINDS:
        raise ValueError(f"file format {name!r}: holds={holds!r} is no prediction kind; choose one of {', '.join(KINDS)}")
    found = FileFormat(name, extension, holds, write, read, read_labels)
    if FILE_FORMATS.get(name, found) != found:
        raise ValueError(f"submission file format {name!r} is registered twice, differently")
    FILE_FORMATS[name] = found
    return found


def get(name: str) -> FileFormat:
    if name not in FILE_FORMATS:
        raise UserError(f"no submission file format {name!r}; choose one of {', '.join(FILE_FORMATS)}")
    return FILE_FORMATS[name]


# --- writing ----------------------------------------------------------------------------------


def field(value: Any, what: str, *, allow_empty: bool = True, allow_tab: bool = True) -> str:
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


def _write_labels(predictions: Any) -> str:
    return "".join(f"{field(p, 'label')}\n" for p in predictions)


def _write_tags(predictions: Any) -> str:
    # Every sentence, the last included, ends with a blank line: this round-trips
    # empty sentences, which a separator-only layout would lose at the end of a file.
    return "".join("".join(f"{field(t, 'tag', allow_empty=False)}\n" for t in sentence) + "\n"
                   for sentence in predictions)


def _write_pairs(predictions: Any) -> str:
    return "".join(f"{field(s, 'source id', allow_empty=False, allow_tab=False)}\t"
                   f"{field(t, 'target id', allow_empty=False, allow_tab=False)}\n" for s, t in predictions)


def _write_answers(predictions: Any) -> str:
    answers = {str(qid): str(text) for qid, text in dict(predictions).items()}
    return json.dumps(answers, ensure_ascii=False, indent=1) + "\n"


def _write_ranking(predictions: Any) -> str:
    ranked = {str(qid): [str(c) for c in ids] for qid, ids in dict(predictions).items()}
    return json.dumps(ranked, ensure_ascii=False) + "\n"


def _write_xcopa(predictions: Any) -> str:
    return "".join(json.dumps({"label": p if isinstance(p, str) else int(p)}) + "\n" for p in predictions)


# --- reading ----------------------------------------------------------------------------------


def lines(path: Path) -> list[str]:
    """A text file's lines, stripped; a missing or non-UTF-8 file is a UserError naming it."""
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
    for line in lines(path):
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
    for lineno, line in enumerate(lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2 or not all(fields):
            raise UserError(f"{path}:{lineno}: expected 'source_id<TAB>target_id', got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def _read_xcopa(path: Path) -> list[Any]:
    labels = []
    for lineno, line in enumerate(lines(path), start=1):
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


register("label", "tsv", LABELS, _write_labels, lines)
register("tag", "tsv", TAG_SEQUENCES, _write_tags, _read_tags)
register("pair", "tsv", PAIRS, _write_pairs, _read_pairs)
register("squad", "json", ANSWERS, _write_answers, _read_answers, _read_squad_gold)
register("xcopa", "jsonl", LABELS, _write_xcopa, _read_xcopa)
register("ranking", "json", RANKINGS, _write_ranking, _read_ranking)
