"""The resource model: x:r against an independent statsmodels fit of a real 3-seed smoke sweep
(`smoke_sweep`, tests/conftest.py), and planted interactions recovered from a synthetic one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from tests.test_report import LANGS, write_sweep
from xfer_scale import report

# CC-100 tokens (M) of the smoke xnli languages, Table 6 of Conneau et al. 2020
TOKENS = {"de": 10297, "es": 9374, "fr": 9780, "sw": 275}


def independent_fit(root: Path):
    """gain ~ x + r + x:r, random intercept per language, REML, straight from the runs' results."""
    results = pd.concat(pd.read_parquet(p) for p in root.glob("*/*/results.parquet"))
    results = results[(results["split"] == "test") & (results["metric"] == "accuracy")]
    base = results[results["intermediate_task"] == "none"][["seed", "language", "value"]]
    runs = results[results["intermediate_task"] != "none"].merge(base, on=["seed", "language"], suffixes=("", "_base"))
    data = runs[runs["language"].isin(TOKENS)].assign(gain=lambda d: d["value"] - d["value_base"])
    log_tokens = np.log10([TOKENS[c] for c in sorted(TOKENS)])
    z = dict(zip(sorted(TOKENS), (log_tokens - log_tokens.mean()) / log_tokens.std(ddof=0), strict=True))
    data = data.assign(x=np.log10(data["intermediate_examples"].astype(float)), r=data["language"].map(z))
    return smf.mixedlm("gain ~ x + r + x:r", data, groups=data["language"]).fit(reml=True), data


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ModelWarning")
def test_x_r_equals_an_independent_mixedlm_fit_of_the_runs(smoke_sweep: Path):
    table = pd.read_csv(smoke_sweep / "report" / "tables" / "resource_model.csv")
    row = table[(table["target"] == "xnli") & (table["term"] == "x:r")].iloc[0]
    fit, data = independent_fit(smoke_sweep)
    low, high = fit.conf_int().loc["x:r"]
    assert row["estimate"] == pytest.approx(fit.params["x:r"], abs=1e-3)
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low, abs=1e-3), pytest.approx(high, abs=1e-3))
    assert (row["n_languages"], row["n_seeds"], row["n_obs"]) == (4, 3, len(data))
    text = (smoke_sweep / "report" / "report.md").read_text()
    assert f"x:r = {row['estimate']:+.2f} points per tenfold intermediate data" in text
    assert (smoke_sweep / "report" / "tables" / "resource_model.parquet").exists()


# Synthetic: each language's slope falls by BETA per SD of log10 tokens over sw, de, fr (the seen
# zero-shot languages of tests.test_report), yo (unseen) has its own slope, xx no row in languages.csv.
BETA, BASE_SLOPE, UNSEEN_SLOPE = -0.8, 1.0, 2.5
SEEN = {"sw": 275, "de": 10297, "fr": 9780}
_LOG = np.log10(list(SEEN.values()))
Z = dict(zip(SEEN, (_LOG - _LOG.mean()) / _LOG.std(ddof=0), strict=True))


def planted(language: str, examples: int, seed: int) -> float:
    noise = np.random.default_rng([seed, sorted(LANGS).index(language), examples]).normal(0.0, 0.2)
    slope = BASE_SLOPE + BETA * Z[language] if language in SEEN else UNSEEN_SLOPE
    return 0.5 * sorted(LANGS).index(language) + slope * math.log10(examples) + noise


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory: pytest.TempPathFactory) -> report.Report:
    root = tmp_path_factory.mktemp("planted")
    runs = write_sweep(root / "runs", seeds=(1, 2, 3, 4), baseline_seeds=(1, 2, 3, 4), gain=planted)
    return report.build_report([runs], root / "out")


def test_a_planted_interaction_is_recovered(planted_report):
    terms = planted_report.tables["resource_model"].set_index("term")
    assert terms.loc["x:r", "estimate"] == pytest.approx(BETA, abs=0.15)
    assert terms.loc["x:r", "ci_low"] < BETA < terms.loc["x:r", "ci_high"] < 0
    assert terms.loc["x", "estimate"] == pytest.approx(BASE_SLOPE, abs=0.15)
    assert terms.loc["x:r", ["n_languages", "n_seeds"]].tolist() == [3, 4]
    assert terms.loc["x:r", "r_log10_sd"] == pytest.approx(_LOG.std(ddof=0))
    assert "the interval excludes 0: more intermediate data helps the languages XLM-R saw less of more" in (
        planted_report.markdown.read_text())


def test_unseen_languages_get_their_own_slope_and_unknown_ones_none(planted_report):
    unseen = planted_report.tables["resource_model"].set_index("term").loc["unseen"]
    sizes = sorted(planted_report.tables["gains"]["intermediate_examples"].unique())
    slopes = [stats.linregress(np.log10(sizes), [planted("yo", n, seed) for n in sizes]).slope for seed in (1, 2, 3, 4)]
    low, high = stats.ttest_1samp(slopes, 0.0).confidence_interval(0.95)
    assert unseen["estimate"] == pytest.approx(np.mean(slopes), rel=1e-9)  # yo alone: xx is not "unseen"
    assert (unseen["ci_low"], unseen["ci_high"]) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert unseen["n_languages"] == 1
    by_language = planted_report.tables["language_slopes"].set_index("language")
    assert by_language.loc["yo", "slope"] == pytest.approx(np.mean(slopes), rel=1e-9)
    assert not by_language.loc["yo", "in_pretraining"] and math.isnan(by_language.loc["yo", "cc100_tokens_m"])
    assert by_language.loc["sw", ["cc100_tokens_m", "resource_class"]].tolist() == [275, 2]
    assert pd.isna(by_language.loc["xx", "in_pretraining"]) and "en" not in by_language.index
    assert "languages XLM-R never saw (yo)" in planted_report.markdown.read_text()
