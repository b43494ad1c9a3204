"""Span F1 for tagging tasks, scored the way XTREME scores PAN-X and UD-POS.

XTREME hands both tasks to seqeval's default (conlleval-style) chunker, including UD-POS,
whose tags have no B-/I- prefix: seqeval then reads "NOUN" as prefix "N" of type "OUN", so
the UD-POS "F1" is a chunk score over those pseudo-spans, not a token score. We call the
same seqeval (1.2.2: the version the published figures depend on) rather than a re-written
chunker so the numbers stay identical, and report plain token accuracy beside it because
that is what POS papers usually mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from seqeval.metrics import f1_score, precision_score, recall_score

from xfer_scale.errors import UserError


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


def seqeval_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro span F1/precision/recall (seqeval default mode) and token accuracy, 0-100."""
    _check_shapes(predictions, references)
    preds = [list(p) for p in predictions]
    refs = [list(r) for r in references]
    with warnings.catch_warnings():
        # Non-BIO tags (UD-POS) and zero-span sets warn on every call; XTREME scores them
        # this way on purpose, so the warnings carry no news for the user.
        warnings.simplefilter("ignore")
        scores = {
            "f1": 100.0 * float(f1_score(refs, preds)),
            "precision": 100.0 * float(precision_score(refs, preds)),
            "recall": 100.0 * float(recall_score(refs, preds)),
        }
    return scores | token_accuracy(preds, refs)


def token_accuracy(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Percentage of tokens whose predicted tag equals the reference tag."""
    _check_shapes(predictions, references)
    pairs = [(p, r) for pred, ref in zip(predictions, references) for p, r in zip(pred, ref)]
    return {"accuracy": 100.0 * sum(p == r for p, r in pairs) / len(pairs)}
