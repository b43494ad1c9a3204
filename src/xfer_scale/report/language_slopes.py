"""Per-language scaling slopes beside the language's pretraining data: the points behind the
resource model, and the only estimate there is for languages XLM-R never saw.

Each language's slope is fitted per seed (its gain on log10 examples) and averaged over seeds with a
t-interval, as the group slopes are (`fits`): a seed's points share its baseline.
"""

from __future__ import annotations

import pandas as pd

from xfer_scale import languages
from xfer_scale.report.arms import SERIES
from xfer_scale.report.fits import CURVE_KEYS, FIT_KEYS, seed_slopes
from xfer_scale.report.groups import TRAINING
from xfer_scale.report.stats import aggregate

COLUMNS = [*CURVE_KEYS, "language", "n_seeds", "slope", "slope_ci95", "slope_std",
           "cc100_tokens_m", "in_pretraining", "resource_class"]


def language_slopes(gains: pd.DataFrame) -> pd.DataFrame:
    """Per series, target, split, metric and zero-shot language: mean per-seed slope, its 95%
    t-interval half-width and SD over seeds, with the language's CC-100 tokens, whether XLM-R saw
    it, and its resource class (NA for a language the table lacks)."""
    points = gains[(gains["group"] != TRAINING) & (gains["intermediate_examples"] > 0)]
    points = points[[*CURVE_KEYS, "seed", "language", "intermediate_examples", "gain"]]
    # a language is a line of its own: the `group` key of the group fits
    slopes = seed_slopes(points.rename(columns={"language": "group", "gain": "value"}))
    if slopes.empty:
        return pd.DataFrame(columns=COLUMNS)
    table = aggregate(slopes, FIT_KEYS, "slope").rename(
        columns={"group": "language", "mean": "slope", "std": "slope_std", "ci95": "slope_ci95"}
    )
    known = languages.languages()
    facts = pd.DataFrame(
        [(c, *((known[c].cc100_tokens_m, known[c].in_pretraining, known[c].resource_class) if c in known
               else (None, pd.NA, pd.NA))) for c in table["language"].unique()],
        columns=["language", "cc100_tokens_m", "in_pretraining", "resource_class"],
    ).astype({"cc100_tokens_m": float, "in_pretraining": "boolean", "resource_class": "Int64"})
    return table.merge(facts, on="language", how="left")[COLUMNS].sort_values(
        [SERIES, "target_task", "split", "metric", "language"], ignore_index=True
    )
