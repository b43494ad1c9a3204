"""The research loop at smoke scale: a fraction sweep, the baseline, then the report (`smoke_sweep`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.test_config import compose_cfg
from xfer_scale import pipeline


def test_fraction_sweep_trains_phase1_once_per_fraction_and_seed_and_reports_gains(smoke_sweep: Path):
    phases = pd.concat(pd.read_parquet(p) for p in (smoke_sweep / "sizes").glob("*/phases.parquet"))
    phase1 = phases[phases.phase == "intermediate"]
    assert len(phase1) == 9  # 3 fractions x 3 seeds, each its own phase-1 model
    sizes = sorted({pd.read_parquet(p).intermediate_examples.iloc[0] for p in (smoke_sweep / "sizes").glob("*/results.parquet")})
    assert sizes == [150, 300, 600]

    out = smoke_sweep / "report"
    gains = pd.read_parquet(out / "tables" / "gains.parquet")  # aggregated over the 3 seeds
    results = pd.concat(pd.read_parquet(p) for p in smoke_sweep.glob("*/*/results.parquet"))
    key = dict(target_task="xnli", language="de", split="test", metric="accuracy")
    picked = results.loc[(results[list(key)] == pd.Series(key)).all(axis=1)]
    per_seed = (picked.query("intermediate_fraction == 0.5").set_index("seed").value
                - picked.query("intermediate_task == 'none'").set_index("seed").value)
    row = gains.loc[(gains[list(key)] == pd.Series(key)).all(axis=1) & (gains.intermediate_fraction == 0.5)]
    assert row["n_seeds"].item() == 3 and abs(row["mean"].item() - per_seed.mean()) < 1e-9
    report = (out / "report.md").read_text()
    assert list(out.glob("plots/*.png")) and "plots/" in report


def test_compute_matched_budget_trains_small_subsamples_as_long_as_the_full_set():
    cfg = compose_cfg("experiment=smoke", "intermediate.budget=full_data_steps", "intermediate.fraction=0.1")
    train = pipeline.budgeted(cfg.intermediate, full_size=600)
    assert train.max_steps == 2 * 38  # epochs x batches of the full set (600 / 16, rounded up)
    assert pipeline.budgeted(compose_cfg("experiment=smoke").intermediate, 600).max_steps is None
