"""The multi-task intermediate phase: several tasks and heads, one encoder, sized sampling."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
from omegaconf import open_dict

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import controls, formats
from xfer_scale.errors import UserError
from xfer_scale.formats.mlm import TaskAndText
from xfer_scale.formats.multitask import MixedFeatures, TaskMix

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


def test_a_part_that_learns_its_labels_from_the_data_is_sized_by_its_own_training_examples():
    cfg = compose_cfg("intermediate=multitask", "~intermediate.tasks.anli")
    ccg = compose_cfg("intermediate=ccg", "intermediate.mlm.ratio=0.5").intermediate
    with open_dict(cfg.intermediate.tasks):
        cfg.intermediate.tasks.ccg = ccg
    tags = datasets.List(datasets.ClassLabel(names=["N", "S\\NP"]))  # as data.load_split records learnt names
    learnt = datasets.Dataset.from_dict({"tokens": [["Cats", "sleep"]], "tags": [[0, 1]]},
                                        features=datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                                                    "tags": tags}))
    fmt = formats.get(cfg.intermediate)
    trained = fmt.trained_on(TaskMix({name: learnt if name == "ccg" else None for name in fmt.parts}))
    assert trained.parts["ccg"].head(8, 0.1).out.out_features == 2 and fmt.parts["ccg"].label_names == ()
    assert all(trained.parts[name] is part for name, part in fmt.parts.items() if name != "ccg")
    mixed = controls.intermediate_format(ccg).trained_on(TaskAndText({"ccg": learnt, "mlm": None}))
    assert mixed.label_names == mixed.primary.label_names == ("N", "S\\NP")  # its dev split is read with them
    assert not ccg.label_names and not cfg.intermediate.tasks.ccg.label_names


def test_a_share_mixes_a_task_in_at_that_rate_whatever_its_size():
    cfg = compose_cfg("intermediate=multitask", "+intermediate.format_options.shares={mnli: 0.25, qqp: 0.5}")
    fmt = formats.get(cfg.intermediate)
    sizes = (8, 400, 4, 12, 8, 4, 4, 8)  # mnli is far larger than its share, qqp far smaller
    features = MixedFeatures([datasets.Dataset.from_dict({"input_ids": [[0, 1]] * n}) for n in sizes])
    batches = fmt.batches(features, fmt.lengths(features), batch_size=4, seed=3)
    task_of = [int(features.offsets.searchsorted(batch[0], side="right")) - 1 for batch in batches]
    counts = {name: task_of.count(number) for number, name in enumerate(fmt.parts)}
    sized = {name: n // 4 for name, n in zip(fmt.parts, sizes) if name not in ("mnli", "qqp")}
    assert {name: counts[name] for name in sized} == sized  # the others keep all their batches
    total = len(batches)
    assert total == round(sum(sized.values()) / 0.25)  # the 11 batches sampled by size are the rest, a quarter
    assert abs(counts["mnli"] - 0.25 * total) <= 1 and abs(counts["qqp"] - 0.5 * total) <= 1
    qqp = [batch for batch, task in zip(batches, task_of) if task == 2]
    assert len({tuple(batch) for batch in qqp}) == 1  # its one batch, cycled
    for shares in ("{mnli: 0.6, qqp: 0.5}", "{nli: 0.1}", "{mnli: 1}"):
        with pytest.raises(UserError, match="format_options.shares"):
            formats.get(compose_cfg("intermediate=multitask", f"+intermediate.format_options.shares={shares}").intermediate)


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
