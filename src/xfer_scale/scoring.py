"""`xfer-scale score`: score a folder of predictions against a folder of labels, both in
XTREME's submission layout, with the numbers XTREME's official `evaluate.py` reports.

Which tasks and languages count is the benchmark version's (`xtreme` or `xtreme-r`, as
`evaluate.py --xtreme_version` has them); which of those get scored is what the labels
folder holds, so a sweep that evaluates a subset of languages can still be scored. The
`avg` rows are then means over the languages scored, which equal XTREME's averages only
when the labels folder holds every language of the task.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from xfer_scale import atomic
from xfer_scale.errors import UserError
from xfer_scale.metrics import compute
from xfer_scale.submission import read_labels, read_predictions, submission_path

log = logging.getLogger(__name__)

COLUMNS = ["task", "language", "metric", "value"]


def _langs(codes: str) -> tuple[str, ...]:
    return tuple(codes.split())


# Task -> languages, in evaluate.py's order (the order rows come out in).
_XTREME_PANX = _langs(
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka "
    "ko th sw yo my zh kk tr et fi hu"
)
_XTREME_UDPOS = _langs(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr "
    "ur vi yo zh"
)
_XTREME_TATOEBA = _langs(
    "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th "
    "sw zh kk tr et fi hu"
)
_XNLI = _langs("ar bg de el en es fr hi ru sw th tr ur vi zh")
_XQUAD = _langs("en es de el ru tr ar vi th zh hi")
_MLQA = _langs("en es de ar hi vi zh")
_TYDIQA = _langs("en ar bn fi id ko ru sw te")

BENCHMARKS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {
        "pawsx": _langs("de en es fr ja ko zh"),
        "xnli": _XNLI,
        "panx": _XTREME_PANX,
        "udpos": _XTREME_UDPOS,
        "bucc2018": _langs("de fr ru zh"),
        "tatoeba": _XTREME_TATOEBA,
        "xquad": _XQUAD,
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
    # XTREME-R drops PAWS-X and BUCC, adds XCOPA, LAReQA and Mewsli-X, and languages.
    "xtreme-r": {
        "xnli": _XNLI,
        "panx": _XTREME_PANX + _langs("qu pl uk az lt pa gu ro"),
        "udpos": _XTREME_UDPOS + _langs("lt pl uk wo ro"),
        "tatoeba": _XTREME_TATOEBA + _langs("az lt pl uk ro"),
        "xcopa": _langs("et ht id it qu sw ta th tr vi zh"),
        "lareqa": (),
        "mewslix": _langs("ar de en es fa ja pl ro ta tr uk"),
        "xquad": _XQUAD + ("ro",),
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
}


class TaskScoring(NamedTuple):
    """How XTREME scores a task: the metric family and the metrics it reports."""

    family: str
    metrics: tuple[str, ...]


_SPAN = ("f1", "precision", "recall")
_QA = ("exact_match", "f1")
TASK_SCORING: dict[str, TaskScoring] = {
    "pawsx": TaskScoring("accuracy", ("accuracy",)),
    "xnli": TaskScoring("accuracy", ("accuracy",)),
    "tatoeba": TaskScoring("accuracy", ("accuracy",)),
    "xcopa": TaskScoring("accuracy", ("accuracy",)),
    "panx": TaskScoring("seqeval", _SPAN),
    # XTREME's UD-POS figure is the seqeval span F1; token accuracy is ours, reported beside.
    "udpos": TaskScoring("seqeval", (*_SPAN, "accuracy")),
    "bucc2018": TaskScoring("bucc", _SPAN),
    "xquad": TaskScoring("squad", _QA),
    "tydiqa": TaskScoring("squad", _QA),
    "mlqa": TaskScoring("mlqa", _QA),
}


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise UserError(f"{what} folder {path} does not exist or is not a folder")


def _score_file(task: str, lang: str, prediction: Path, label: Path) -> dict[str, float]:
    if not prediction.is_file():
        raise UserError(f"{prediction}: prediction file missing (labels exist in {label})")
    scoring = TASK_SCORING[task]
    try:
        scores = compute(
            scoring.family, read_predictions(prediction, task), read_labels(label, task), lang
        )
    except UserError as e:
        raise UserError(f"{prediction} against {label}: {e}") from None
    return {metric: scores[metric] for metric in scoring.metrics}


def score_directory(predictions: Path, labels: Path, benchmark: str = "xtreme") -> pd.DataFrame:
    """Score every label file of `benchmark` found under `labels` against its prediction.

    Returns one row per (task, language, metric), values 0-100, and per task and metric a
    row with language ``avg``: the plain mean over languages, as XTREME averages.
    """
    if benchmark not in BENCHMARKS:
        raise UserError(f"unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    predictions, labels = Path(predictions), Path(labels)
    _require_dir(predictions, "predictions")
    _require_dir(labels, "labels")
    rows: list[tuple[str, str, str, float]] = []
    for task, langs in BENCHMARKS[benchmark].items():
        if not (labels / task).is_dir():
            continue
        if task not in TASK_SCORING:
            log.warning("skipping %s: xfer-scale has no scorer for it", task)
            continue
        per_lang: dict[str, dict[str, float]] = {}
        for lang in langs:
            label = submission_path(labels, task, lang)
            if label.is_file():
                prediction = submission_path(predictions, task, lang)
                per_lang[lang] = _score_file(task, lang, prediction, label)
        for metric in TASK_SCORING[task].metrics:
            values = {lang: scores[metric] for lang, scores in per_lang.items()}
            rows += [(task, lang, metric, value) for lang, value in values.items()]
            if values:
                rows.append((task, "avg", metric, sum(values.values()) / len(values)))
    if not rows:
        raise UserError(
            f"no label files of benchmark {benchmark} under {labels}; expected "
            f"<task>/test-<lang>.<ext> for tasks {', '.join(BENCHMARKS[benchmark])}"
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_table(scores: pd.DataFrame) -> str:
    """The `avg` rows as a task x metric grid with two decimals, for the terminal."""
    averages = scores[scores["language"] == "avg"]
    grid = averages.pivot(index="task", columns="metric", values="value")
    grid = grid.reindex(index=averages["task"].unique(), columns=averages["metric"].unique())
    grid.index.name = grid.columns.name = None
    return grid.to_string(float_format=lambda v: f"{v:.2f}", na_rep="")


def main(argv: list[str] | None = None) -> int:
    """`xfer-scale score --predictions DIR --labels DIR [--benchmark B] [--out FILE.csv]`."""
    parser = argparse.ArgumentParser(
        prog="xfer-scale score",
        description="Score predictions in XTREME's submission layout as XTREME's evaluate.py does.",
    )
    parser.add_argument(
        "--predictions", type=Path, required=True, help="folder of <task>/test-<lang>.<ext>"
    )
    parser.add_argument("--labels", type=Path, required=True, help="gold labels, same layout")
    parser.add_argument(
        "--benchmark", default="xtreme", help=f"one of {', '.join(BENCHMARKS)} (default: xtreme)"
    )
    parser.add_argument(
        "--out", type=Path, help="also write every score to this CSV (task,language,metric,value)"
    )
    args = parser.parse_args(argv)
    scores = score_directory(args.predictions, args.labels, args.benchmark)
    if args.out is not None:
        atomic.write_text(args.out, scores.to_csv(index=False))
    print(summary_table(scores))
    return 0
