"""`xfer-scale score`: score a folder of predictions against a folder of labels, both in
XTREME's submission layout, with the numbers XTREME's official `evaluate.py` reports.

Which tasks and languages count is the benchmark version's (`xtreme` or `xtreme-r`, as
`evaluate.py --xtreme_version` has them); which of those get scored is what the labels
folder holds, so a sweep that evaluates a subset of languages can still be scored. The
`avg` rows are then means over the languages scored, which equal XTREME's averages only
when the labels folder holds every language of the task.

Above the tasks, `evaluate.py` reports a task's `avg_metric` ((avg EM + avg F1) / 2 for QA,
else avg F1, else avg accuracy, else avg map@20), each group's mean of its tasks'
`avg_metric`, and `all_task`, the mean over every task of the benchmark. evaluate.py refuses
a task with a language missing; we score what is there instead, so a group (and `all_task`)
is emitted only when every task in it has all of the benchmark's languages scored: anything
less would not be XTREME's number. Which groups were withheld, and why, `withheld_note` says.

XTREME-R's `all_task` includes LAReQA, which `evaluate.py` cannot score (its `lareqa` entry
has no languages, so it never reports an XTREME-R `all_task`). Ours is the same unweighted
mean of the ten tasks' `avg_metric`, LAReQA's being its mAP@20 over all questions of XQuAD-R's
11 languages pooled (its reference scorer, `utils_lareqa.mean_avg_prec_at_k`, averages over
questions, not languages; with 1,190 questions in every language the two agree). The
XTREME-R paper's definition (Ruder et al., 2021, arXiv:2104.07412) was not found: whether
its overall score averages tasks or task categories, and whether LAReQA counts as retrieval,
is unverified. So the groups stay exactly evaluate.py's (retrieval = Tatoeba + Mewsli-X, no
LAReQA) and `all_task` follows evaluate.py's formula: the most defensible reading, not a
verified one.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from xfer_scale import atomic
from xfer_scale.errors import UserError
from xfer_scale.submission import read_labels, read_predictions, submission_path

COLUMNS = ["task", "language", "metric", "value"]
AVG = "avg"  # the language of every averaged row
AVG_METRIC = "avg_metric"  # a task's, a group's or all_task's single number, as evaluate.py names it
ALL_TASK = "all_task"


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
        # evaluate.py lists none (it cannot score LAReQA); XQuAD-R's 11 question languages.
        "lareqa": _langs("ar de el en es hi ru th tr vi zh"),
        "mewslix": _langs("ar de en es fa ja pl ro ta tr uk"),
        "xquad": _XQUAD + ("ro",),
        "mlqa": _MLQA,
        "tydiqa": _TYDIQA,
    },
}


# Group -> tasks, exactly evaluate.py's XTREME_GROUP2TASK / XTREME_R_GROUP2TASK.
GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "xtreme": {
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    "xtreme-r": {
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
    },
}


def overall_tasks(benchmark: str) -> dict[str, tuple[str, ...]]:
    """The benchmark's groups and `all_task` (every task), each with the tasks it averages."""
    return {**GROUPS[benchmark], ALL_TASK: tuple(BENCHMARKS[benchmark])}


class TaskScoring(NamedTuple):
    """How XTREME scores a task: the metric family, the metrics it reports, the metrics whose
    language averages its `avg_metric` averages, and whether the task average pools examples
    across languages instead of averaging the languages (LAReQA, see the module docstring)."""

    family: str
    metrics: tuple[str, ...]
    headline: tuple[str, ...]
    pooled: bool = False


_SPAN = ("f1", "precision", "recall")
_QA = ("exact_match", "f1")
_ACCURACY = TaskScoring("accuracy", ("accuracy",), ("accuracy",))
TASK_SCORING: dict[str, TaskScoring] = {
    "pawsx": _ACCURACY,
    "xnli": _ACCURACY,
    "tatoeba": _ACCURACY,
    "xcopa": _ACCURACY,
    "panx": TaskScoring("seqeval", _SPAN, ("f1",)),
    # XTREME's UD-POS figure is the seqeval span F1; token accuracy is ours, reported beside.
    "udpos": TaskScoring("seqeval", (*_SPAN, "accuracy"), ("f1",)),
    "bucc2018": TaskScoring("bucc", _SPAN, ("f1",)),
    "xquad": TaskScoring("squad", _QA, _QA),
    "tydiqa": TaskScoring("squad", _QA, _QA),
    "mlqa": TaskScoring("mlqa", _QA, _QA),
    "mewslix": TaskScoring("mrr", ("map@20",), ("map@20",)),
    "lareqa": TaskScoring("map", ("map@20",), ("map@20",), pooled=True),
}


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise UserError(f"{what} folder {path} does not exist or is not a folder")


class FileScores(NamedTuple):
    """One language's scores, with its number of examples for tasks that pool them."""

    scores: dict[str, float]
    n_examples: int


def _score_file(task: str, lang: str, prediction: Path, label: Path) -> FileScores:
    # Imported here: the report reads this module's benchmark tables and must not pay for
    # seqeval's import (most of a second).
    from xfer_scale.metrics import compute

    if not prediction.is_file():
        raise UserError(f"{prediction}: prediction file missing (labels exist in {label})")
    scoring = TASK_SCORING[task]
    references = read_labels(label, task)
    try:
        scores = compute(scoring.family, read_predictions(prediction, task), references, lang)
    except UserError as e:
        raise UserError(f"{prediction} against {label}: {e}") from None
    return FileScores({metric: scores[metric] for metric in scoring.metrics}, len(references))


def _task_averages(scoring: TaskScoring, per_lang: Mapping[str, FileScores]) -> dict[str, float]:
    """Per metric the plain mean over languages, as XTREME averages; for a pooled task the
    mean over all examples (each language's mean weighted by its number of examples)."""
    weights = {lang: file.n_examples if scoring.pooled else 1 for lang, file in per_lang.items()}
    total = sum(weights.values())
    averages = {
        metric: sum(file.scores[metric] * weights[lang] for lang, file in per_lang.items()) / total
        for metric in scoring.metrics
    }
    averages[AVG_METRIC] = sum(averages[m] for m in scoring.headline) / len(scoring.headline)
    return averages


def score_directory(predictions: Path, labels: Path, benchmark: str = "xtreme") -> pd.DataFrame:
    """Score every label file of `benchmark` found under `labels` against its prediction.

    Returns one row per (task, language, metric), values 0-100; per task and metric a row
    with language ``avg``: the mean over languages, as XTREME averages (over questions for
    LAReQA); per task its ``avg_metric``; and per group whose tasks are all complete, and for
    ``all_task`` when every task is, a row task=<group>, language ``avg``, metric ``avg_metric``.
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
        per_lang: dict[str, FileScores] = {}
        for lang in langs:
            label = submission_path(labels, task, lang)
            if label.is_file():
                prediction = submission_path(predictions, task, lang)
                per_lang[lang] = _score_file(task, lang, prediction, label)
        if not per_lang:
            continue
        scoring = TASK_SCORING[task]
        for metric in scoring.metrics:
            rows += [(task, lang, metric, file.scores[metric]) for lang, file in per_lang.items()]
        rows += [(task, AVG, metric, value) for metric, value in _task_averages(scoring, per_lang).items()]
    if not rows:
        raise UserError(
            f"no label files of benchmark {benchmark} under {labels}; expected "
            f"<task>/test-<lang>.<ext> for tasks {', '.join(BENCHMARKS[benchmark])}"
        )
    scores = pd.DataFrame(rows, columns=COLUMNS)
    return pd.concat([scores, _overall_rows(scores, benchmark)], ignore_index=True)


def _gaps(scores: pd.DataFrame, benchmark: str) -> dict[str, str]:
    """Per task of `benchmark` that is not scored in every language, what is missing."""
    scored = scores[scores["language"] != AVG].groupby("task")["language"].agg(set)
    gaps = {}
    for task, langs in BENCHMARKS[benchmark].items():
        missing = [lang for lang in langs if lang not in scored.get(task, set())]
        if len(missing) == len(langs):
            gaps[task] = f"{task} not scored"
        elif missing:
            listed = " ".join(missing) if len(missing) <= 5 else f"{' '.join(missing[:5])} ..."
            gaps[task] = f"{task} lacks {len(missing)} of {len(langs)} languages ({listed})"
    return gaps


def _overall_rows(scores: pd.DataFrame, benchmark: str) -> pd.DataFrame:
    """The groups and `all_task` whose tasks are all complete: means of their `avg_metric`."""
    gaps = _gaps(scores, benchmark)
    rows = scores[(scores["language"] == AVG) & (scores["metric"] == AVG_METRIC)]
    headline = dict(zip(rows["task"], rows["value"]))
    overall = [
        (group, AVG, AVG_METRIC, sum(headline[t] for t in tasks) / len(tasks))
        for group, tasks in overall_tasks(benchmark).items()
        if not any(t in gaps for t in tasks)
    ]
    return pd.DataFrame(overall, columns=COLUMNS)


def withheld_note(scores: pd.DataFrame, benchmark: str) -> str | None:
    """One line naming the groups (and `all_task`) left out of `scores` and the tasks that
    keep them out; None when nothing was withheld."""
    gaps = _gaps(scores, benchmark)
    withheld = [
        group for group, tasks in overall_tasks(benchmark).items() if any(t in gaps for t in tasks)
    ]
    if not withheld:
        return None
    return (
        f"groups withheld ({', '.join(withheld)}): {'; '.join(gaps.values())}. A group equals "
        "XTREME's only with every language of each of its tasks scored."
    )


def summary_table(scores: pd.DataFrame) -> str:
    """The `avg` rows as a task x metric grid with two decimals, then the groups and
    `all_task` as a second block, for the terminal."""
    averages = scores[scores["language"] == AVG]
    is_overall = averages["task"].isin({name for b in BENCHMARKS for name in overall_tasks(b)})
    tasks, overall = averages[~is_overall], averages[is_overall]
    metrics = [m for m in tasks["metric"].unique() if m != AVG_METRIC] + [AVG_METRIC]
    grid = tasks.pivot(index="task", columns="metric", values="value")
    grid = grid.reindex(index=tasks["task"].unique(), columns=metrics)
    grid.index.name = grid.columns.name = None
    blocks = [grid.to_string(float_format=lambda v: f"{v:.2f}", na_rep="")]
    if not overall.empty:
        groups = overall.set_index("task")[["value"]].rename(columns={"value": AVG_METRIC})
        groups.index.name = None
        blocks.append(groups.to_string(float_format=lambda v: f"{v:.2f}"))
    return "\n\n".join(blocks)


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
    note = withheld_note(scores, args.benchmark)
    if note is not None:
        print(f"\n{note}")
    return 0
