"""Span F1 for tagging tasks, scored the way XTREME scores PAN-X and UD-POS.

XTREME hands both tasks to seqeval's default (conlleval-style) chunker, including UD-POS,
whose tags have no B-/I- prefix: seqeval then reads "NOUN" as prefix "N" of type "OUN", so
the UD-POS "F1" is a chunk score over those pseudo-spans, not a token score. We call the
same seqeval (1.2.2: the version the published figures depend on) rather than a re-written
chunker so the numbers stay identical, and report plain token accuracy beside it because
that is what POS papers usually mean.

The spans come from seqeval's own chunker (`get_entities`), once per side, and the three
scores from one set of counts with the arithmetic of seqeval's default (micro) mode: its
f1_score, precision_score and recall_score would each extract every span again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from xfer_scale.errors import UserError
from xfer_scale.metrics.registry import metric
from xfer_scale.prediction_kinds import TAG_SEQUENCES


def _check_shapes(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> None:
    if len(predictions) != len(references):
        raise UserError(
            f"seqeval: {len(predictions)} predicted sentences for {len(references)} "
            "reference sentences"
        )
    for i, (pred, ref) in enumerate(zip(predictions, references)):
        if len(pred) != len(ref):
            raise UserError(
                f"seqeval: sentence {i} has {len(pred)} predicted tags for {len(ref)} "
                "reference tags"
            )
    if not any(references):
        raise UserError("seqeval: no tags to score")


@metric("seqeval", needs=TAG_SEQUENCES, selects="f1")
def seqeval_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro span F1/precision/recall (seqeval default mode) and token accuracy, 0-100."""
    _check_shapes(predictions, references)
    preds = [list(p) for p in predictions]
    refs = [list(r) for r in references]
    with warnings.catch_warnings():
        # Non-BIO tags (UD-POS) warn on every token; XTREME scores them this way on purpose,
        # so the warnings carry no news for the user.
        warnings.simplefilter("ignore")
        from seqeval.metrics.sequence_labeling import get_entities  # 1.4 s (scikit-learn): only where tags are scored

        gold, predicted = set(get_entities(refs)), set(get_entities(preds))
    correct = len(gold & predicted)
    # seqeval's zero-division rule: a score with nothing to divide by is 0
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall} | _accuracy(preds, refs)


def token_accuracy(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Percentage of tokens whose predicted tag equals the reference tag."""
    _check_shapes(predictions, references)
    return _accuracy(predictions, references)


def _accuracy(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    correct = sum(p == r for pred, ref in zip(predictions, references) for p, r in zip(pred, ref))
    return {"accuracy": 100.0 * correct / sum(map(len, references))}
