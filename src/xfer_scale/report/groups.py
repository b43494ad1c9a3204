"""The language groups the report averages over, in one place so tables, plots and text agree on them.

English is the training language, so its score is not zero-shot: listed per language, never averaged.
"""

from __future__ import annotations

import pandas as pd

from xfer_scale import languages

TRAINING_LANGUAGE = "en"

LOW, HIGH, UNKNOWN, TRAINING, ALL = "low", "high", "unknown", "training", "all"
# not a group of languages: the per-seed difference of the low and high slopes, the sweep's question
LOW_HIGH = "low-high"
AVERAGED_GROUPS = (ALL, LOW, HIGH, UNKNOWN)
GROUP_LABELS = {
    ALL: "all zero-shot",
    LOW: f"low-resource (0-{languages.LOW_RESOURCE_MAX_CLASS})",
    HIGH: f"high-resource ({languages.LOW_RESOURCE_MAX_CLASS + 1}-5)",
    UNKNOWN: "unknown class",
    LOW_HIGH: "low − high",
}
GROUP_ORDER = {LOW: 0, HIGH: 1, UNKNOWN: 2, TRAINING: 3, LOW_HIGH: 4}
GROUP_COLORS = {ALL: "black", LOW: "tab:red", HIGH: "tab:blue", UNKNOWN: "tab:gray"}


def language_group(code: str) -> str:
    """low / high / unknown by resource class; English is `training`, not a zero-shot language."""
    if code == TRAINING_LANGUAGE:
        return TRAINING
    row = languages.languages().get(code)
    if row is None:
        return UNKNOWN
    return LOW if languages.is_low_resource(code) else HIGH


def add_language_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Attach resource class and group per row, so every table can be filtered by them."""
    table = languages.languages()
    codes = frame["language"].unique()  # a few dozen codes, however many rows
    classes = {c: table[c].resource_class if c in table else pd.NA for c in codes}
    groups = {c: language_group(c) for c in codes}
    return frame.assign(
        resource_class=frame["language"].map(classes).astype("Int64"), group=frame["language"].map(groups)
    )


def group_sort_key(column: pd.Series) -> pd.Series:
    """Sorts groups as readers expect (all, low, high, ...), not alphabetically; other columns as they are."""
    return column.map({ALL: -1, **GROUP_ORDER}) if column.name == "group" else column
