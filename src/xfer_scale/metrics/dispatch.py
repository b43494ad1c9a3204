"""The single entry point the pipeline scores through: a metric family name to scores."""

from __future__ import annotations

from typing import Any

from xfer_scale.errors import UserError
from xfer_scale.metrics.classification import accuracy
from xfer_scale.metrics.qa import mlqa_scores, squad_scores
from xfer_scale.metrics.ranking import mean_average_precision, mean_reciprocal_rank
from xfer_scale.metrics.retrieval import bucc_scores
from xfer_scale.metrics.tagging import seqeval_scores

FAMILIES = ("accuracy", "seqeval", "squad", "mlqa", "bucc", "mrr", "map")


def compute(family: str, predictions: Any, references: Any, language: str) -> dict[str, float]:
    """Score one language of one task with XTREME's official rules; values are 0-100.

    Argument shapes per family:

    - ``accuracy``: two equally long lists of labels (str or int; compared as text).
      Returns ``accuracy``.
    - ``seqeval``: two lists of sentences, each a list of tag strings, sentence lengths
      matching. Returns span ``f1``/``precision``/``recall`` and token ``accuracy``.
    - ``squad`` / ``mlqa``: predictions a dict question id -> answer text, references a
      dict question id -> list of gold answer texts; every reference question counts,
      unanswered ones as 0. Returns ``exact_match`` and ``f1``.
    - ``bucc``: predicted and gold pairs, iterables of (source_id, target_id). Returns
      ``f1``/``precision``/``recall``.
    - ``mrr`` (Mewsli-X): predictions a dict example id -> ranked ids (best first),
      references a dict example id -> [gold id]. Returns ``map@20``, the mean reciprocal rank
      within the top 20 (XTREME's name for it); unranked examples count 0.
    - ``map`` (LAReQA): predictions a dict question id -> ranked candidate ids, references a
      dict question id -> relevant candidate ids. Returns ``map@20``.

    `language` matters only to ``mlqa`` (it picks the answer normalisation); the other
    families take it so every caller can use one call shape.
    """
    if family == "accuracy":
        return accuracy(predictions, references)
    if family == "seqeval":
        return seqeval_scores(predictions, references)
    if family == "squad":
        return squad_scores(predictions, references)
    if family == "mlqa":
        return mlqa_scores(predictions, references, language)
    if family == "bucc":
        return bucc_scores(predictions, references)
    if family == "mrr":
        return mean_reciprocal_rank(predictions, references)
    if family == "map":
        return mean_average_precision(predictions, references)
    raise UserError(f"unknown metric family {family!r}; choose one of {', '.join(FAMILIES)}")
