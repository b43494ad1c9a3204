"""XTREME-official scoring: pure metric functions, their registry (`metric`, `compute`), and
`evaluate` wrappers.

Importing the package imports every module in it, so each registers its metrics: a new
metric is a module here with one `@metric` function, and nothing else to edit. The
wrappers import `evaluate` (and with it `datasets`), which costs seconds; they load on first
access so `xfer-scale score` and the training loop do not pay for them.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from xfer_scale.metrics.classification import accuracy
from xfer_scale.metrics.qa import (
    MLQA_LANGUAGES,
    mlqa_scores,
    normalize_mlqa,
    normalize_squad,
    squad_scores,
)
from xfer_scale.metrics.ranking import average_precision_at_k, mean_average_precision, mean_reciprocal_rank
from xfer_scale.metrics.registry import Metric, compute, find, get, metric, names, taking
from xfer_scale.metrics.retrieval import bucc_scores
from xfer_scale.metrics.tagging import seqeval_scores, token_accuracy

_WRAPPERS = ("XtremeAccuracy", "XtremeSeqeval", "XtremeSquad", "XtremeMlqa", "XtremeBucc")
_LAZY = {"hf_metrics"}  # the `evaluate` wrappers: loaded on first access (below)

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _LAZY:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "MLQA_LANGUAGES",
    "Metric",
    "accuracy",
    "average_precision_at_k",
    "bucc_scores",
    "compute",
    "find",
    "get",
    "mean_average_precision",
    "mean_reciprocal_rank",
    "metric",
    "mlqa_scores",
    "names",
    "normalize_mlqa",
    "normalize_squad",
    "seqeval_scores",
    "squad_scores",
    "taking",
    "token_accuracy",
    *_WRAPPERS,
]


def __getattr__(name: str) -> Any:
    if name in _WRAPPERS:
        from xfer_scale.metrics import hf_metrics

        return getattr(hf_metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
