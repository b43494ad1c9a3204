"""The multi-task intermediate phase: several tasks and heads, one encoder, sized sampling."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import torch

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import formats
from xfer_scale.formats.multitask import MixedFeatures

# The smoke run keeps one task per kind (mnli, qqp, squad_v2, hellaswag) for speed: all eight
# have bundled smoke data, but anli reads mnli's files again (ANLI+), squad_v1 is squad_v2's
# format and cosmosqa and commonsenseqa are multiple choice like hellaswag; they add about a
# third to the run's time.
SMOKE_TASKS = ("~intermediate.tasks.anli", "~intermediate.tasks.squad_v1", "~intermediate.tasks.cosmosqa",
               "~intermediate.tasks.commonsenseqa")


def test_batches_stay_within_one_task_and_cover_every_feature():
    cfg = compose_cfg("intermediate=multitask")
    fmt = formats.get(cfg.intermediate)
    assert list(fmt.parts) == ["anli", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa"]
    parts = [datasets.Dataset.from_dict({"input_ids": [[0] * (i % 9 + 2) for i in range(n)]}) for n in (30, 10, 3, 3, 5, 2, 2, 2)]
    features = MixedFeatures(parts)
    lengths = fmt.lengths(features)
    batches = fmt.batches(features, lengths, batch_size=4, seed=0)
    assert sorted(i for batch in batches for i in batch) == list(range(57))
    for batch in batches:
        assert len({int(features.offsets.searchsorted(i, side="right")) for i in batch}) == 1
    assert features[31][0] == 1 and features[31][1]["input_ids"] == parts[1][1]["input_ids"]
    assert fmt.batches(features, lengths, 4, 0) == batches and fmt.batches(features, lengths, 4, 1) != batches


def test_multitask_smoke_run_trains_every_task_head_and_transfers(tmp_path: Path):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    assert run_cli("intermediate=multitask", *SMOKE_TASKS, "intermediate.fraction=0.5",
                   "target.languages=[en,de]", "target.eval_splits=[test]", run_dir=run_dir, cache_dir=cache) == 0
    frame = pd.read_parquet(run_dir / "results.parquet")
    subsample = json.loads(next(cache.glob("intermediate/multitask-*/subsample.json")).read_text())
    sizes = {name: len(indices) for name, indices in subsample["indices"].items()}
    assert set(sizes) == {"mnli", "qqp", "squad_v2", "hellaswag"}
    assert frame.intermediate_task.unique().tolist() == ["multitask"]
    assert frame.intermediate_examples.unique().tolist() == [sum(sizes.values())]
    assert abs(frame.intermediate_fraction.iloc[0] - 0.5) < 0.01
    assert sorted(frame.language) == ["de", "en"] and frame.value.between(0, 100).all()
