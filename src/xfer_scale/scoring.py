"""`xfer-scale score`: score a folder of predictions against a folder of labels, both in
XTREME's submission layout, with the numbers XTREME's official `evaluate.py` reports.

Which tasks and languages count is the benchmark's (conf/benchmarks/<name>.yaml: `xtreme` and
`xtreme-r`, as `evaluate.py --xtreme_version` has them, or any benchmark file given by path;
see `benchmarks`); which of those get scored is what the labels folder holds, so a sweep that
evaluates a subset of languages can still be scored. The `avg` rows are then means over the
languages scored, which equal XTREME's averages only when the labels folder holds every
language of the task. Languages come out in the order the target YAMLs list them.

Above the tasks, `evaluate.py` reports a task's `avg_metric` (the mean of its headline values'
language means: (avg EM + avg F1) / 2 for QA, else avg F1, else avg accuracy, else avg map@20),
each group's mean of its tasks' `avg_metric`, and `all_task`, the mean over every task of the
benchmark; beside them we report `category_avg`, the mean of the benchmark's category groups
(`categories`), so a reader can compare with a definition that averages categories. The numbers
are computed in one place, `Benchmark.overall_scores`. evaluate.py refuses a task with a language
missing; we score what is there instead, so a group (and `all_task`) is emitted only when every
task in it has all of the benchmark's languages scored: anything less would not be XTREME's
number. Which groups were withheld, and why, `withheld_note` says. Whose definition `all_task`
is (XTREME's evaluate.py's; for XTREME-R this project's, as neither evaluate.py nor the paper's
text at hand gives one), and the tasks' notes (Mewsli-X's release), `notes` gives for printing
beside the numbers: conf/benchmarks/<name>.yaml holds them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from xfer_scale import atomic, benchmarks
from xfer_scale.benchmarks import CATEGORY_AVERAGE, Benchmark
from xfer_scale.errors import UserError
from xfer_scale.submission import read_labels, read_predictions, submission_path

COLUMNS = ["task", "language", "metric", "value"]
AVG = "avg"  # the language of every averaged row
AVG_METRIC = "avg_metric"  # a task's, a group's or all_task's single number, as evaluate.py names it


def _benchmark(benchmark: str | Path | Benchmark) -> Benchmark:
    return benchmark if isinstance(benchmark, Benchmark) else benchmarks.load(benchmark)


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise UserError(f"{what} folder {path} does not exist or is not a folder")


class FileScores(NamedTuple):
    """One language's scores, with its number of examples for tasks that pool them."""

    scores: dict[str, float]
    n_examples: int


def _check_ids(predicted: Any, references: Any, prediction: Path, allow_missing: bool) -> None:
    """Where predictions are keyed by id (answers, rankings), every gold id needs one: XTREME's
    evaluate.py scores a missing one 0 with a line on stdout, so an empty `{}` file (a crashed
    writer) scores 0 in a table that looks complete. That is an error here unless
    `allow_missing` (then XTREME's zero, named on stderr)."""
    if not isinstance(references, Mapping):
        return
    missing = [key for key in references if key not in predicted]
    if not missing:
        return
    said = (f"{prediction}: {len(missing)} of {len(references)} ids have no prediction (e.g. {missing[0]!r})"
            + ("; the file is empty" if not predicted else ""))
    if not allow_missing:
        raise UserError(f"{said}; write every prediction, or pass --allow-missing to score them 0 as XTREME's "
                        "evaluate.py does")
    print(f"warning: {said}: scored 0 (--allow-missing)", file=sys.stderr)


def _score_file(task: benchmarks.Task, lang: str, prediction: Path, label: Path, allow_missing: bool) -> FileScores:
    # Imported here: the report reads the benchmark tables through this module and must not pay
    # for seqeval's import (most of a second).
    from xfer_scale.metrics import compute

    if not prediction.is_file():
        raise UserError(f"{prediction}: prediction file missing (labels exist in {label})")
    references = read_labels(label, task.name, task.file)
    predicted = read_predictions(prediction, task.name, task.file)
    _check_ids(predicted, references, prediction, allow_missing)
    try:
        scores = compute(task.metric, predicted, references, lang)
    except UserError as e:
        raise UserError(f"{prediction} against {label}: {e}") from None
    missing = [metric for metric in task.report if metric not in scores]
    if missing:
        raise UserError(f"{prediction}: metric {task.metric} gives {', '.join(scores)}, not {', '.join(missing)}; "
                        f"fix `report` of task {task.name} in its benchmark file")
    return FileScores({metric: scores[metric] for metric in task.report}, len(references))


def _task_averages(task: benchmarks.Task, per_lang: Mapping[str, FileScores]) -> dict[str, float]:
    """Per metric the plain mean over languages, as XTREME averages; for a pooled task the
    mean over all examples (each language's mean weighted by its number of examples)."""
    weights = {lang: file.n_examples if task.pooled else 1 for lang, file in per_lang.items()}
    total = sum(weights.values())
    averages = {
        metric: sum(file.scores[metric] * weights[lang] for lang, file in per_lang.items()) / total
        for metric in task.report
    }
    averages[AVG_METRIC] = sum(averages[m] for m in task.headline) / len(task.headline)
    return averages


def score_directory(predictions: Path, labels: Path, benchmark: str | Path | Benchmark = "xtreme",
                    allow_missing: bool = False) -> pd.DataFrame:
    """Score every label file of `benchmark` (a name, or the path of a benchmark file) found
    under `labels` against its prediction; a gold id without a prediction is an error unless
    `allow_missing` (`_check_ids`).

    Returns one row per (task, language, metric), values 0-100; per task and metric a row
    with language ``avg``: the mean over languages, as XTREME averages (over questions for
    LAReQA); per task its ``avg_metric``; and per group whose tasks are all complete, and for
    ``all_task`` when every task is, a row task=<group>, language ``avg``, metric ``avg_metric``.
    """
    bench = _benchmark(benchmark)
    predictions, labels = Path(predictions), Path(labels)
    _require_dir(predictions, "predictions")
    _require_dir(labels, "labels")
    rows: list[tuple[str, str, str, float]] = []
    for name, task in bench.tasks.items():
        if not (labels / name).is_dir():
            continue
        per_lang: dict[str, FileScores] = {}
        for lang in task.languages:
            label = submission_path(labels, name, lang, task.file)
            if label.is_file():
                prediction = submission_path(predictions, name, lang, task.file)
                per_lang[lang] = _score_file(task, lang, prediction, label, allow_missing)
        if not per_lang:
            continue
        for metric in task.report:
            rows += [(name, lang, metric, file.scores[metric]) for lang, file in per_lang.items()]
        rows += [(name, AVG, metric, value) for metric, value in _task_averages(task, per_lang).items()]
    if not rows:
        raise UserError(
            f"no label files of benchmark {bench.name} under {labels}; expected "
            f"<task>/test-<lang>.<ext> for tasks {', '.join(bench.tasks)}"
        )
    scores = pd.DataFrame(rows, columns=COLUMNS)
    return pd.concat([scores, _overall_rows(scores, bench)], ignore_index=True)


def _gaps(scores: pd.DataFrame, benchmark: Benchmark) -> dict[str, str]:
    """Per task of `benchmark` that is not scored in every language, what is missing."""
    scored = scores[scores["language"] != AVG].groupby("task")["language"].agg(set)
    gaps = {}
    for task, langs in benchmark.languages().items():
        missing = [lang for lang in langs if lang not in scored.get(task, set())]
        if len(missing) == len(langs):
            gaps[task] = f"{task} not scored"
        elif missing:
            listed = " ".join(missing) if len(missing) <= 5 else f"{' '.join(missing[:5])} ..."
            gaps[task] = f"{task} lacks {len(missing)} of {len(langs)} languages ({listed})"
    return gaps


def _overall_rows(scores: pd.DataFrame, benchmark: Benchmark) -> pd.DataFrame:
    """The groups and `all_task` whose tasks are all complete, and the category average once its
    groups are (`Benchmark.overall_scores`)."""
    gaps = _gaps(scores, benchmark)
    rows = scores[(scores["language"] == AVG) & (scores["metric"] == AVG_METRIC) & ~scores["task"].isin(gaps)]
    overall = benchmark.overall_scores(dict(zip(rows["task"], rows["value"])))
    return pd.DataFrame([(name, AVG, AVG_METRIC, value) for name, value in overall.items()], columns=COLUMNS)


def withheld_note(scores: pd.DataFrame, benchmark: str | Path | Benchmark) -> str | None:
    """One line naming the groups (`all_task` and the category average among them) left out of
    `scores` and the tasks that keep them out; None when nothing was withheld."""
    bench = _benchmark(benchmark)
    gaps = _gaps(scores, bench)
    withheld = [group for group, tasks in bench.overall().items() if any(t in gaps for t in tasks)]
    if bench.categories and set(withheld) & set(bench.categories):
        withheld.append(CATEGORY_AVERAGE)
    if not withheld:
        return None
    return (
        f"groups withheld ({', '.join(withheld)}): {'; '.join(gaps.values())}. A group equals "
        "XTREME's only with every language of each of its tasks scored."
    )


def notes(scores: pd.DataFrame, benchmark: str | Path | Benchmark) -> list[str]:
    """What must be printed beside `scores`: the overall score's definition, what the category
    average averages, and the notes of the scored tasks (`Benchmark.notes`)."""
    return _benchmark(benchmark).notes(set(scores["task"]))


def summary_table(scores: pd.DataFrame) -> str:
    """The `avg` rows as a task x metric grid with two decimals, then the groups and
    `all_task` as a second block, for the terminal. A group has no per-language rows; a task has."""
    averages = scores[scores["language"] == AVG]
    is_overall = ~averages["task"].isin(set(scores.loc[scores["language"] != AVG, "task"]))
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
        "--benchmark", default="xtreme",
        help=f"one of {', '.join(benchmarks.names())} (default: xtreme), or the path of a benchmark YAML file",
    )
    parser.add_argument(
        "--out", type=Path, help="also write every score to this CSV (task,language,metric,value)"
    )
    parser.add_argument(
        "--allow-missing", action="store_true",
        help="score a gold id without a prediction (QA answers, rankings) 0 as XTREME's evaluate.py does, naming "
        "the file, instead of stopping with exit code 2",
    )
    args = parser.parse_args(argv)
    bench = benchmarks.load(args.benchmark)
    scores = score_directory(args.predictions, args.labels, bench, args.allow_missing)
    if args.out is not None:
        atomic.write_text(args.out, scores.to_csv(index=False))
    print(summary_table(scores))
    said = notes(scores, bench)
    if said:
        print("\n" + "\n".join(said))
    note = withheld_note(scores, bench)
    if note is not None:
        print(f"\n{note}")
    return 0
