"""The shapes a task's predictions take, named once.

Three parties must agree on a task's predictions: its format produces them, its metric scores
them, and its submission file holds them (`FILE_FORMATS`: each file format and the kind it holds). Each names the shape from this list, so start-up
validation can tell that `target=xnli target.metric=seqeval` cannot work (a classifier produces
labels; seqeval needs tag sequences) before any training, instead of scoring the wrong thing.

Kept free of imports: `xfer-scale score` and the report read it without loading torch or seqeval.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class FileFormat:
    """A submission file format: its extension and the prediction kind its files hold."""

    extension: str
    holds: str


FILE_FORMATS: dict[str, FileFormat] = {
    "label": FileFormat("tsv", LABELS),
    "tag": FileFormat("tsv", TAG_SEQUENCES),
    "pair": FileFormat("tsv", PAIRS),
    "squad": FileFormat("json", ANSWERS),
    "xcopa": FileFormat("jsonl", LABELS),
    "ranking": FileFormat("json", RANKINGS),
}
