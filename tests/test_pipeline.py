"""The three phases end to end on the tiny model and the bundled data."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from safetensors.torch import load_file

import xfer_scale
from xfer_scale import modeling, results
from xfer_scale.errors import UserError
from tests.conftest import run_cli


def test_smoke_run_writes_the_contract_tables(smoke_run: Path, smoke_results: pd.DataFrame):
    assert list(smoke_results.columns) == [*results.RESULT_COLUMNS, *results.EXTRA_RESULT_COLUMNS]
    assert pd.read_csv(smoke_run / "results.csv").shape == smoke_results.shape
    assert sorted(smoke_results.language.unique()) == ["de", "en", "es", "fr", "sw"]
    assert set(smoke_results.split) == {"dev", "test"} and set(smoke_results.metric) == {"accuracy"}
    assert smoke_results.value.between(0, 100).all()
    counts = smoke_results.set_index(["language", "split"]).n_examples
    assert counts[("de", "test")] == 90 and counts[("sw", "dev")] == 60
    row = smoke_results.iloc[0]
    assert (row.experiment, row.model, row.intermediate_task, row.target_task) == ("smoke", "tiny", "mnli", "xnli")
    assert row.intermediate_fraction == 1.0 and row.intermediate_examples == 600
    assert smoke_results.run_id.nunique() == 1


def test_smoke_run_records_phases_and_provenance(smoke_run: Path):
    phases = pd.read_parquet(smoke_run / "phases.parquet")
    assert list(phases.columns) == list(results.PHASE_COLUMNS)
    assert phases.phase.tolist() == ["intermediate", "target", "zero_shot"]
    trained = phases.set_index("phase")
    assert trained.loc["intermediate", "steps"] > 0 and trained.loc["target", "tokens"] > 0
    assert 0 <= trained.loc["target", "padding_fraction"] < 0.1
    record = json.loads((smoke_run / "run.json").read_text())
    assert record["device"] == "cpu" and record["packages"]["torch"] and record["finished"] >= record["started"]
    assert record["packages"]["xfer-scale"] and "cuda" in record and record["gpu"] is None  # a CPU run has no GPU model
    assert "name: smoke" in (smoke_run / "config.yaml").read_text()
    # which data the numbers come from: the bundled local files, by name, size and content hash
    data = {(entry["task"], entry["split"]): entry for entry in record["data"]}
    assert list(data) == [("mnli", "train"), ("mnli", "dev"), ("xnli", "train"), ("xnli", "dev"), ("xnli", "test")]
    test = data[("xnli", "test")]
    assert test["languages"] == ["en", "de", "es", "fr", "sw"] and test["hub"] == []  # one file serves all five
    smoke_file = Path(xfer_scale.__file__).parent / "smoke_data" / "xnli" / "xnli.test.tsv"
    sha256 = hashlib.sha256(smoke_file.read_bytes()).hexdigest()
    assert test["files"] == [["xnli.test.tsv", smoke_file.stat().st_size, sha256]]
    assert record["data_revisions"] == "local"
    assert pd.read_parquet(smoke_run / "results.parquet").data_revisions.unique().tolist() == ["local"]
    predictions = (smoke_run / "predictions" / "xnli" / "test-de.tsv").read_text().splitlines()
    assert len(predictions) == 90 and set(predictions) <= {"entailment", "neutral", "contradiction"}


def test_target_phase_learns_english(smoke_results: pd.DataFrame):
    """The loop really trains: English dev accuracy far above the 33% of chance."""
    english = smoke_results.query("language == 'en' and split == 'dev'").value.item()
    assert english >= 80


def test_phase1_cache_is_reused_and_zero_shot_only_evaluates_a_checkpoint(smoke_run: Path, cache_dir: Path, tmp_path: Path):
    again = tmp_path / "again"
    assert run_cli("target.languages=[en,de]", run_dir=again, cache_dir=cache_dir) == 0
    phases = pd.read_parquet(again / "phases.parquet").set_index("phase")
    assert bool(phases.loc["intermediate", "cache_hit"]) and phases.loc["intermediate", "examples"] == 600
    subsample = json.loads(next(cache_dir.glob("intermediate/mnli-f1-*/subsample.json")).read_text())
    assert subsample["of"] == 600 and len(subsample["indices"]) == 600

    evaluated = tmp_path / "eval"
    assert run_cli(f"target.checkpoint={smoke_run / 'target_model'}", "phases=[zero_shot]",
                   "intermediate=none", run_dir=evaluated, cache_dir=cache_dir) == 0
    fresh = pd.read_parquet(evaluated / "results.parquet").set_index(["language", "split"]).value
    original = pd.read_parquet(smoke_run / "results.parquet").set_index(["language", "split"]).value
    pd.testing.assert_series_equal(fresh, original)  # the saved model gives the same numbers
    assert pd.read_parquet(evaluated / "phases.parquet").phase.tolist() == ["zero_shot"]
    # its rows say which intermediate training the evaluated model had, not this run's `intermediate=none`
    rows, trained = pd.read_parquet(evaluated / "results.parquet"), pd.read_parquet(smoke_run / "results.parquet")
    for column in ("intermediate_task", "intermediate_fraction", "intermediate_examples", "intermediate_steps",
                   "series", "intermediate_languages"):
        assert rows[column].unique().tolist() == trained[column].unique().tolist(), column
    assert rows.intermediate_task.unique().tolist() == ["mnli"]
    assert rows.checkpoint_run_id.unique().tolist() == trained.run_id.unique().tolist() != rows.run_id.unique().tolist()
    assert rows.checkpoint.unique().tolist() == [str(smoke_run / "target_model")]
    assert trained.checkpoint.isna().all()


def test_a_target_model_saved_before_models_recorded_their_training_is_read_from_its_run(smoke_run: Path,
                                                                                          tmp_path: Path):
    from xfer_scale import pipeline

    old = tmp_path / "run"
    shutil.copytree(smoke_run, old)
    manifest = json.loads((old / "target_model" / modeling.MANIFEST_FILE).read_text())
    recorded = manifest.pop("trained_by")
    (old / "target_model" / modeling.MANIFEST_FILE).write_text(json.dumps(manifest))
    found = pipeline._checkpoint_trained_by(str(old / "target_model"))
    assert {k: found[k] for k in ("run_id", "intermediate_task", "intermediate_examples", "series")} == \
        {k: recorded[k] for k in ("run_id", "intermediate_task", "intermediate_examples", "series")}
    (old / "results.parquet").unlink()
    with pytest.raises(UserError, match="does not record which run trained it"):
        pipeline._checkpoint_trained_by(str(old / "target_model"))


def test_evaluating_an_untrained_head_is_refused(tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]):
    """A random head scores at chance: rows that would read as another arm. Retrieval has no head."""
    assert run_cli("phases=[zero_shot]", "intermediate=none", run_dir=tmp_path / "run", cache_dir=cache_dir) == 2
    assert "skips phase 2 and target.checkpoint is not set" in capsys.readouterr().out
    assert not (tmp_path / "run" / "results.parquet").exists()
    assert run_cli("phases=[zero_shot]", "intermediate=none", "target=tatoeba", "target.languages=[de]",
                   run_dir=tmp_path / "retrieval", cache_dir=cache_dir) == 0


def test_a_seed_fixes_the_new_head_so_reruns_repeat_their_numbers(cache_dir: Path, tmp_path: Path):
    """The baseline has no phase 1 to seed the RNG before phase 2 builds its head; reruns in one
    process (each finding the RNG where the last left it) must still agree, and seeds differ."""
    settings = ("intermediate=none", "target=xcopa", "target.eval_splits=[dev]", "target.train.max_steps=20")
    heads = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert run_cli(*settings, f"seed={seed}", run_dir=tmp_path / name, cache_dir=cache_dir) == 0
        heads.append(load_file(tmp_path / name / "target_model" / modeling.HEAD_FILE)["head.score.dense.weight"])
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])
    columns = ["language", "value"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / "results.parquet")[columns],
                                  pd.read_parquet(tmp_path / "b" / "results.parquet")[columns])


def test_subsampled_baseline_and_tagging_runs(cache_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "pos"
    assert run_cli("target=udpos", "intermediate.fraction=0.5", run_dir=run_dir, cache_dir=cache_dir) == 0
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert set(frame.metric) == {"f1", "precision", "recall", "accuracy"}
    assert frame.intermediate_examples.unique().tolist() == [300]
    assert frame.query("language == 'en' and split == 'dev' and metric == 'accuracy'").value.item() > 80

    baseline = tmp_path / "none"
    assert run_cli("intermediate=none", "target.languages=[en,sw]", "target.eval_splits=[test]",
                   run_dir=baseline, cache_dir=cache_dir) == 0
    frame = pd.read_parquet(baseline / "results.parquet")
    assert frame.intermediate_task.unique().tolist() == ["none"]
    assert frame.intermediate_fraction.unique().tolist() == [0.0] and frame.intermediate_examples.unique().tolist() == [0]
    assert pd.read_parquet(baseline / "phases.parquet").phase.tolist() == ["target", "zero_shot"]


def test_multirun_writes_one_run_per_cell_in_readable_folders(cache_dir: Path, tmp_path: Path):
    from xfer_scale.cli import main
    sweep = tmp_path / "sweep"
    code = main(["run", "-m", "experiment=smoke", "target=xnli,udpos", "target.eval_splits=[test]",
                 "intermediate.fraction=0.5", f"hydra.sweep.dir={sweep}", f"cache.dir={cache_dir}"])
    assert code == 0
    tables = sorted(sweep.glob("*/results.parquet"))
    assert [t.parent.name for t in tables] == [
        "intermediate.fraction=0.5,target.eval_splits=[test],target=udpos",
        "intermediate.fraction=0.5,target.eval_splits=[test],target=xnli",
    ]
    assert {pd.read_parquet(t).target_task.iloc[0] for t in tables} == {"xnli", "udpos"}


def test_phase1_key_changes_when_the_training_file_changes(tmp_path: Path):
    import os
    import shutil
    from importlib import resources

    from tests.test_config import compose_cfg
    from xfer_scale import identity

    root = tmp_path / "data"
    shutil.copytree(resources.files("xfer_scale") / "smoke_data", root)
    cfg = compose_cfg("experiment=smoke", f"data.root={root}", f"cache.dir={tmp_path / 'cache'}")
    before, run = identity.phase1_key(cfg, 1), identity.run_id(cfg, 1)
    assert identity.phase1_key(cfg, 1) == before
    for file in root.rglob("*"):  # touched, or copied with new timestamps: the same data
        if file.is_file():
            os.utime(file, ns=(1, 1))
    assert (identity.phase1_key(cfg, 1), identity.run_id(cfg, 1)) == (before, run)
    train = root / "mnli" / "train.tsv"
    train.write_text(train.read_text().replace("the", "a", 1))  # an edited file
    assert identity.phase1_key(cfg, 1) != before


def test_tensorboard_tracking_logs_losses_and_dev_scores(cache_dir: Path, tmp_path: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "tracked"
    assert run_cli("tracking=tensorboard", "target.languages=[en]", "target.eval_splits=[test]",
                   run_dir=run_dir, cache_dir=cache_dir) == 0
    events = EventAccumulator(str(run_dir / "smoke"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"target/loss", "target/dev_score"} <= set(scalars)
    assert all(math.isfinite(point.value) for point in events.Scalars("target/loss"))


def test_checkpoints_are_selected_on_a_seeded_label_stratified_dev_sample(cache_dir: Path):
    from collections import Counter

    from tests.test_config import compose_cfg
    from xfer_scale import data, formats, pipeline

    def sample(seed: int):
        cfg = compose_cfg("experiment=smoke", "target.train.eval_examples=30", f"seed={seed}", f"cache.dir={cache_dir}")
        tokenizer = modeling.load_tokenizer(modeling.resolve(cfg.model, cfg.cache.dir))
        dev, rows = pipeline._dev_for_selection(cfg, cfg.target, formats.get(cfg.target), tokenizer, None, "en")
        return cfg, dev, rows

    cfg, (examples, features), rows = sample(1)
    full = data.load_split(cfg.target, "dev", "en", cfg.data.root)
    assert len(examples) == len(features) == 30 and rows["indices"] != list(range(30))
    assert examples["text_a"] == full.select(rows["indices"])["text_a"]
    shares = {label: n / len(full) for label, n in Counter(full["label"]).items()}
    assert {label: n / 30 for label, n in Counter(examples["label"]).items()} == pytest.approx(shares, abs=1 / 30)
    assert sample(1)[2] == rows and sample(2)[2]["indices"] != rows["indices"]


def test_a_task_that_learns_its_labels_from_the_data_trains_through_phase1(cache_dir: Path, tmp_path: Path):
    """CCG's ~1,300 supertags are read with its data: its head is sized after the format exists."""
    assert run_cli("intermediate=ccg", "target=udpos", "target.languages=[en]", "target.eval_splits=[test]",
                   "intermediate.train.max_steps=3", "target.train.max_steps=3",
                   run_dir=tmp_path / "run", cache_dir=cache_dir) == 0
    meta = json.loads(next(cache_dir.glob("intermediate/ccg-*/meta.json")).read_text())
    assert meta["steps"] == 3
