"""Formats: what differs between kinds of task, in code. A task (YAML) names its format.

Each format says how to turn canonical rows into model features, which head sits on the
encoder, the training loss, and how model outputs become predictions and metrics.
"""

from __future__ import annotations

from xfer_scale.errors import UserError
from xfer_scale.formats.base import Format
from xfer_scale.formats.classification import Classification
from xfer_scale.formats.multiple_choice import MultipleChoice
from xfer_scale.formats.multitask import MultiTask
from xfer_scale.formats.retrieval import Retrieval
from xfer_scale.formats.span_qa import SpanQA
from xfer_scale.formats.tagging import Tagging

FORMATS: dict[str, type[Format]] = {
    "classification": Classification,
    "multiple_choice": MultipleChoice,
    "multitask": MultiTask,
    "retrieval": Retrieval,
    "span_qa": SpanQA,
    "tagging": Tagging,
}


def get(task) -> Format:
    """The format object for a task config."""
    if task.format not in FORMATS:
        raise UserError(
            f"task {task.name}: format {task.format!r} is not available; choose one of: {', '.join(FORMATS)}."
        )
    return FORMATS[task.format](task)
