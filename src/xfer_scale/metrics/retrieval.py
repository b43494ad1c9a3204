"""BUCC 2018 bitext mining F1, as XTREME scores it: over sets of (source, target) pairs."""

from __future__ import annotations

from collections.abc import Iterable

from xfer_scale.metrics.registry import metric
from xfer_scale.prediction_kinds import PAIRS

Pair = tuple[str, str]


@metric("bucc", needs=PAIRS, selects="f1")
def bucc_scores(predictions: Iterable[Pair], references: Iterable[Pair]) -> dict[str, float]:
    """Precision, recall and F1 (0-100) of predicted pairs against gold pairs.

    Both sides are sets, so a pair listed twice counts once; with no correct pair all
    three scores are 0 (also when either side is empty) rather than undefined.
    """
    predicted = {tuple(p) for p in predictions}
    gold = {tuple(p) for p in references}
    correct = len(predicted & gold)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision, recall = correct / len(predicted), correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}
