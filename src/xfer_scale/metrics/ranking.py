"""Ranking metrics of XTREME-R's retrieval tasks, as its reference code computes them.

Mewsli-X is scored by `third_party/utils_mewslix.py` (`evaluate`, k=20): the reciprocal rank
of the single gold entity among the top k predictions, which `evaluate.py` reports as
``map@20`` (with one relevant item, average precision is the reciprocal rank). LAReQA is
scored by `third_party/utils_lareqa.py` (`average_precision_at_k`): average precision over
the top k with divisor min(#relevant, k), so a question with more than k relevant answers
can still reach 1.

Both count an example the submission does not rank as 0 (XTREME's Mewsli-X scorer does so
explicitly; LAReQA's ranks every question, so there is nothing else to follow). Predicted ids
beyond the labelled examples are ignored, as XTREME ignores them. Values are 0-100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xfer_scale.errors import UserError
from xfer_scale.metrics.registry import metric
from xfer_scale.prediction_kinds import RANKINGS


def _check(k: int, examples: Mapping[str, Sequence[str]], what: str) -> None:
    if k < 1:
        raise UserError(f"{what}: k must be at least 1, got {k}")
    if not examples:
        raise UserError(f"{what}: no examples to score")


def average_precision_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """AP@k of one ranking (0-1): precision at each relevant hit in the top k, summed, over
    min(#relevant, k). A candidate ranked twice counts at its first position only."""
    if not relevant:
        raise UserError("average precision: no relevant ids, so no precision to average")
    seen: set[str] = set()
    hits, score = 0, 0.0
    for position, candidate in enumerate(ranked[:k], start=1):
        if candidate in relevant and candidate not in seen:
            hits += 1
            score += hits / position
        seen.add(candidate)
    return score / min(len(relevant), k)


@metric("map", needs=RANKINGS, selects="map@20")
def mean_average_precision(
    predictions: Mapping[str, Sequence[str]], relevant: Mapping[str, Sequence[str]], k: int = 20
) -> dict[str, float]:
    """mAP@k over the questions of `relevant` (id -> relevant candidate ids), each ranked by
    `predictions` (id -> candidate ids, best first); returns ``{"map@<k>": 0-100}``."""
    _check(k, relevant, f"mAP@{k}")
    precisions = []
    for question, answers in relevant.items():
        if not answers:
            raise UserError(f"mAP@{k}: question {question!r} has no relevant candidate")
        precisions.append(average_precision_at_k(predictions.get(question, ()), set(answers), k))
    return {f"map@{k}": sum(precisions) / len(precisions) * 100}


@metric("mrr", needs=RANKINGS, selects="map@20")
def mean_reciprocal_rank(
    predictions: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]], k: int = 20
) -> dict[str, float]:
    """Mean over the examples of `gold` (id -> [gold id]) of 1/rank of the gold id among the
    first k of `predictions` (id -> ids, best first), 0 where it is not there; returns
    ``{"map@<k>": 0-100}``, XTREME's name for it.

    The gold id is stripped of surrounding whitespace and predictions are not, as in XTREME.
    A gold list must hold exactly one id: Mewsli-X has one entity per mention, and XTREME
    would silently score only the first of several.
    """
    _check(k, gold, f"MRR@{k}")
    reciprocal_ranks = []
    for example, golds in gold.items():
        if len(golds) != 1:
            raise UserError(f"MRR@{k}: example {example!r} has {len(golds)} gold ids; expected exactly one")
        target = golds[0].strip()
        ranked = predictions.get(example, ())[:k]
        reciprocal_ranks.append(next((1.0 / rank for rank, p in enumerate(ranked, 1) if p == target), 0.0))
    return {f"map@{k}": sum(reciprocal_ranks) / len(reciprocal_ranks) * 100}
