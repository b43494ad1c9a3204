"""Start-up checks that a run's tasks can be read, scored and their predictions written.

Every source of a task maps the fields its format declares (`data.check_fields`). Three
things must fit besides: the task's format produces a kind of prediction, its metric (`metric:`,
a registered metric) needs one, and its submission file format holds one (`prediction_kinds`,
`file_formats`).
Each mismatch is found here, before any data is read, as a UserError naming the task and the fix:
left to the end of a run it would fail after hours of training, or, as once happened to a target
added as a YAML copy, write no prediction files without a word.
"""

from __future__ import annotations

from typing import Any

from xfer_scale import benchmarks
from xfer_scale.benchmarks import Submission
from xfer_scale.errors import UserError
from xfer_scale.file_formats import FILE_FORMATS

#: an intermediate task's metric where nothing is scored (MLM, a multitask)
NO_METRIC = "none"


def check(cfg: Any) -> None:
    """Every check of this module on the composed config `cfg`."""
    from xfer_scale import formats  # torch: only a run (or `validate`) pays for it

    from xfer_scale import data

    inter = cfg.intermediate
    if inter.name != "none":
        for task in (inter, *inter.tasks.values(), inter.mlm.corpus):
            data.check_fields(task)
    data.check_fields(cfg.target)
    if inter.name != "none" and inter.metric != NO_METRIC:
        formats.base.checked_metric(inter, "intermediate")
    submission(cfg)


def submission(cfg: Any) -> Submission | None:
    """Where the run writes its test predictions (`<run>/predictions/<task>/test-<lang>.<ext>`),
    checked against what the target's metric scores; None where the target belongs to no
    benchmark file and declares no submission format (the pipeline says so in its log).

    A target whose test split is evaluated on a benchmark that has a file (`benchmark=xtreme`)
    must write predictions, or `xfer-scale score` would have nothing of it to score."""
    from xfer_scale import formats

    target = cfg.target
    needs = formats.base.checked_metric(target, "target").needs
    found = benchmarks.submission_of(target)
    if found is None:
        bench = benchmarks.find(cfg.benchmark)
        if bench is not None and "zero_shot" in cfg.phases and "test" in target.eval_splits:
            fitting = [name for name, file in FILE_FORMATS.items() if file.holds == needs]
            raise UserError(
                f"target={target.name} is evaluated on benchmark={cfg.benchmark} but has no way to write its "
                f"predictions: {bench.path} does not list it and it declares no submission format; add "
                f"`submission_format: {' or '.join(fitting)}` (and `submission_task: <folder>`, default its name) "
                "to its YAML.")
        return None
    holds = FILE_FORMATS[found.file].holds
    if holds != needs:
        from xfer_scale import metrics

        files = [name for name, file in FILE_FORMATS.items() if file.holds == needs]
        raise UserError(
            f"target={target.name}: its submission files ({found.task}, format {found.file}) hold {holds}, but "
            f"target.metric={target.metric} scores {needs}; use target.metric={' or '.join(metrics.taking(holds))}, "
            f"or a submission format that holds {needs} ({', '.join(files)}).")
    return found
