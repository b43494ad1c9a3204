"""The shapes a task's predictions take, named once.

Three parties must agree on a task's predictions: its format produces them, its metric scores
them, and its submission file holds them (`file_formats`). Each names its shape from this
registry, so start-up validation can tell that `target=xnli target.metric=seqeval` cannot work
(a classifier produces labels; seqeval needs tag sequences) before any training, instead of
scoring the wrong thing. A new shape (a regression's real numbers) is registered by the metric
module that scores it (`register`), beside its metric.

Kept free of imports: `xfer-scale score` and the report read it without loading torch or seqeval.
"""

from __future__ import annotations

LABELS = "labels"
TAG_SEQUENCES = "tag sequences"
PAIRS = "pairs"
ANSWERS = "answers"
RANKINGS = "rankings"

#: each kind, as a metric takes it (predictions; references alike unless said)
KINDS: dict[str, str] = {
    LABELS: "one label per example (str or int; compared as text)",
    TAG_SEQUENCES: "one list of tag strings per sentence",
    PAIRS: "(source id, target id) pairs",
    ANSWERS: "a dict question id -> answer text (references: id -> gold answer texts)",
    RANKINGS: "a dict query id -> ranked ids, best first (references: id -> relevant ids)",
}


def register(name: str, description: str) -> str:
    """Make prediction kind `name` known (`description`: its shape, as a metric takes it); returns the name."""
    if KINDS.setdefault(name, description) != description:
        raise ValueError(f"prediction kind {name!r} is registered twice, differently: {KINDS[name]!r} and {description!r}")
    return name
