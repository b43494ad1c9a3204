"""Accuracy, as XTREME scores XNLI, PAWS-X, Tatoeba and (XTREME-R) XCOPA."""

from __future__ import annotations

from collections.abc import Sequence

from xfer_scale.errors import UserError
from xfer_scale.metrics.registry import metric
from xfer_scale.prediction_kinds import LABELS

Label = str | int


@metric("accuracy", needs=LABELS)
def accuracy(predictions: Sequence[Label], references: Sequence[Label]) -> dict[str, float]:
    """Percentage of predictions equal to their reference.

    Labels compare as strings: XTREME compares the text of its submission files, so an
    int 1 from a classifier head must match the "1" read back from a label file. Unequal
    lengths are an error, as in XTREME's scorer (which asserts before scoring).
    """
    if len(predictions) != len(references):
        raise UserError(
            f"accuracy: {len(predictions)} predictions for {len(references)} references; "
            "each reference needs exactly one prediction"
        )
    if not references:
        raise UserError("accuracy: no examples to score")
    correct = sum(str(p) == str(r) for p, r in zip(predictions, references))
    return {"accuracy": correct / len(references) * 100}  # XTREME's operation order, bit-equal
