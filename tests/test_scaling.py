"""The research loop at smoke scale: a fraction sweep, the baseline, then the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.test_config import compose_cfg
from xfer_scale import pipeline
from xfer_scale.cli import main


def test_fraction_sweep_trains_phase1_once_per_fraction_and_reports_gains(tmp_path: Path):
    cache = tmp_path / "cache"
    common = ["experiment=smoke", "seed=1", "target.eval_splits=[test]", "target.languages=[en,de,es]",
              f"cache.dir={cache}"]
    assert main(["run", "-m", "intermediate=mnli", "intermediate.fraction=0.25,0.5,1.0", "target=xnli,udpos",
                 f"hydra.sweep.dir={tmp_path / 'sizes'}", *common]) == 0
    assert main(["run", "-m", "intermediate=none", "target=xnli,udpos",
                 f"hydra.sweep.dir={tmp_path / 'baseline'}", *common]) == 0

    phases = pd.concat(pd.read_parquet(p) for p in (tmp_path / "sizes").glob("*/phases.parquet"))
    phase1 = phases[phases.phase == "intermediate"]
    assert len(phase1) == 6 and (~phase1.cache_hit).sum() == 3  # 6 cells, 3 phase-1 trainings
    assert len([p for p in (cache / "intermediate").glob("mnli-f*") if p.is_dir()]) == 3
    sizes = sorted({pd.read_parquet(p).intermediate_examples.iloc[0] for p in (tmp_path / "sizes").glob("*/results.parquet")})
    assert sizes == [150, 300, 600]

    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "sizes"), str(tmp_path / "baseline"), "--out", str(out)]) == 0
    gains = pd.read_parquet(out / "tables" / "gains.parquet")  # aggregated over seeds: here one
    results = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("*/*/results.parquet"))
    key = dict(target_task="xnli", language="de", split="test", metric="accuracy")
    picked = results.loc[(results[list(key)] == pd.Series(key)).all(axis=1)]
    expected = (picked.query("intermediate_fraction == 0.5").value.item()
                - picked.query("intermediate_task == 'none'").value.item())
    row = gains.loc[(gains[list(key)] == pd.Series(key)).all(axis=1) & (gains.intermediate_fraction == 0.5)]
    assert row["n_seeds"].item() == 1 and abs(row["mean"].item() - expected) < 1e-9
    report = (out / "report.md").read_text()
    assert list(out.glob("plots/*.png")) and "plots/" in report


def test_compute_matched_budget_trains_small_subsamples_as_long_as_the_full_set():
    cfg = compose_cfg("experiment=smoke", "intermediate.budget=full_data_steps", "intermediate.fraction=0.1")
    train = pipeline.budgeted(cfg.intermediate, full_size=600)
    assert train.max_steps == 2 * 38  # epochs x batches of the full set (600 / 16, rounded up)
    assert pipeline.budgeted(compose_cfg("experiment=smoke").intermediate, 600).max_steps is None
