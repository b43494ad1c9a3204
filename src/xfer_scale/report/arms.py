"""Which runs may be pooled: the arm (every setting but the seed), the series (an arm without its
amount of intermediate data) and the baseline key, with the settings a reader recognises them by.

Seeds are replicates only within an arm, so every table is keyed by these hashes and never by the
few settings the results spell out; the readable columns are attached afterwards to say what differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection

import pandas as pd

ARM, SERIES, BASELINE_KEY = "arm", "series", "baseline_key"
BASELINE_TASK = "none"  # the intermediate task of a baseline run: no intermediate training
IDENTITY_COLUMNS = (ARM, SERIES, BASELINE_KEY)
#: settings a sweep typically varies, written out so that a reader sees which arm is which
SETTINGS = {
    "intermediate_budget": "string",
    "intermediate_subsample_seed": "Int64",
    "benchmark": "string",
    "model_revision": "string",
    "processes": "Int64",
    "intermediate_languages": "string",
    "intermediate_translations": "string",
    "intermediate_mlm_ratio": "Float64",
}
AMOUNT = ["intermediate_fraction", "intermediate_examples"]
SERIES_COLUMNS = ["model", "experiment", "intermediate_task", *SETTINGS]
ARM_COLUMNS = [SERIES, "model", "experiment", "intermediate_task", *AMOUNT, *SETTINGS]

_READING_ORDER = ["target_task", "model", "intermediate_task", *SETTINGS, SERIES, "intermediate_examples"]
# What older results files let us tell apart: anything else they pooled, and still do.
_LEGACY_SERIES = ["model", "experiment", "intermediate_task", "target_task"]
_LEGACY_BASELINE = ["model", "target_task"]


def records_identity(columns: Collection[str]) -> bool:
    """Whether a results file with these columns was written with its arm, series and baseline key."""
    return all(c in columns for c in IDENTITY_COLUMNS)


def with_identity(frame: pd.DataFrame) -> pd.DataFrame:
    """Every identity and setting column on every row: derived from what older files record where
    they lack them (those rows have no arm), NA for settings they never wrote."""
    absent = [c for c in (*IDENTITY_COLUMNS, *SETTINGS) if c not in frame.columns]
    frame = frame.assign(**{c: pd.Series(pd.NA, index=frame.index) for c in absent})
    frame = frame.astype({**SETTINGS, **dict.fromkeys(IDENTITY_COLUMNS, "string")})
    legacy = frame[list(IDENTITY_COLUMNS)].isna().any(axis=1)
    if legacy.any():
        old = frame[legacy]
        frame.loc[legacy, ARM] = _digest_rows(old, [*_LEGACY_SERIES, *AMOUNT])
        frame.loc[legacy, SERIES] = _digest_rows(old, _LEGACY_SERIES)
        frame.loc[legacy, BASELINE_KEY] = _digest_rows(old, _LEGACY_BASELINE)
    return frame


def _digest_rows(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A 16-hex hash per row of the values in `columns`, computed once per distinct combination."""
    codes = frame.groupby(columns, sort=False, dropna=False).ngroup()
    firsts = frame[columns].drop_duplicates()  # in order of first appearance, as ngroup numbers them
    digests = [
        hashlib.sha256(json.dumps([str(v) for v in row]).encode()).hexdigest()[:16]
        for row in firsts.itertuples(index=False)
    ]
    return codes.map(dict(enumerate(digests)))


def describe(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """One row per `key` with its readable settings; a setting that varies within a key (the
    subsample seed where it follows the seed) lists its values, so nothing is silently picked."""
    runs = frame.drop_duplicates("run_id")[[key, *columns]]
    grouped = runs.groupby(key, sort=False)
    described = grouped[columns].first()
    varies = grouped[columns].nunique() > 1
    for column in varies.columns[varies.any()]:
        described[column] = grouped[column].agg(lambda s: ", ".join(map(str, sorted(s.dropna().unique()))))
    return described.reset_index()


def attach(table: pd.DataFrame, described: pd.DataFrame, key: str) -> pd.DataFrame:
    """A table keyed by hashes, with the readable settings right after the key, in the order a reader
    looks for (target, model, task, settings, size) rather than by hash."""
    merged = table.merge(described, on=key, how="left", validate="many_to_one")
    first = [key, *[c for c in described.columns if c != key]]
    merged = merged[[*first, *[c for c in table.columns if c not in first]]]
    return merged.sort_values([c for c in _READING_ORDER if c in merged], kind="stable", ignore_index=True)
