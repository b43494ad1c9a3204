"""CommonsenseQA's JSON Lines release: `flatten: commonsenseqa` of reader `jsonl`."""

from __future__ import annotations

from xfer_scale.readers.generic import flattening
from xfer_scale.readers.registry import Row


@flattening("commonsenseqa")
def flatten_commonsenseqa(row: Row) -> Row:
    """Hoist CommonsenseQA's nested question to top-level columns, so the task config maps
    `question`, `choices_label`, `choices_text` like any flat file's columns."""
    question = row["question"]
    choices = question["choices"]
    return {
        **row,
        **{key: value for key, value in question.items() if key not in ("stem", "choices")},
        "question": question["stem"],
        "choices_label": [choice["label"] for choice in choices],
        "choices_text": [choice["text"] for choice in choices],
    }
