"""The scientific identity: what it holds decides reuse (phase 1) and "already complete" (runs).

Bookkeeping (where things are written, how often to checkpoint or log, trackers) must not
make a new experiment; anything that changes the numbers (recipe, data, processes) must.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import identity

BASE = ("experiment=smoke",)


def keys(*overrides: str, world_size: int = 1) -> tuple[str, str]:
    cfg = compose_cfg(*BASE, *overrides)
    return identity.phase1_key(cfg, world_size), identity.run_id(cfg, world_size)


@pytest.mark.parametrize("override", [
    "intermediate.train.checkpoint_every_steps=7", "target.train.checkpoint_every_steps=7", "cache.dir=/elsewhere",
    "tracking=tensorboard", "log_every_steps=3", "eval.batch_size=8", "data.num_workers=2", "name=renamed",
    "intermediate.train.checkpoint_every_minutes=5", "target.train.checkpoint_every_minutes=null",
    "model.compile=true", "model.compile_bucket=64", "eval.batch_tokens=4096",
])
def test_bookkeeping_changes_neither_the_phase1_key_nor_the_run(override: str):
    assert keys(override) == keys()


@pytest.mark.parametrize("override, same_phase1", [
    ("intermediate.train.learning_rate=0.01", False), ("intermediate.fraction=0.5", False), ("seed=2", False),
    ("intermediate.train.eval_every_steps=10", False),  # mnli has a dev split: selection depends on it
    ("intermediate.budget=full_data_steps", False), ("model.revision=abc", False),
    ("target=udpos", True), ("target.train.learning_rate=0.01", True), ("benchmark=xtreme", True),
    ("eval.max_examples=10", True), ("phases=[intermediate,target]", True),
])
def test_what_changes_the_numbers_changes_the_identity(override: str, same_phase1: bool):
    phase1, run = keys()
    changed_phase1, changed_run = keys(override)
    assert changed_run != run
    assert (changed_phase1 == phase1) == same_phase1


def test_the_number_of_processes_is_part_of_both():
    phase1, run = keys()
    phase1_two, run_two = keys(world_size=2)
    assert phase1_two != phase1 and run_two != run


def test_selection_settings_count_only_where_a_dev_split_selects():
    """A multitask has no dev split: its evaluation interval changes nothing it trains."""
    tasks = ("intermediate=multitask",)
    assert keys(*tasks, "intermediate.train.eval_every_steps=10")[0] == keys(*tasks)[0]


def test_the_data_is_identified_by_its_files_not_by_where_they_are(tmp_path: Path):
    smoke = Path(str(resources.files("xfer_scale") / "smoke_data"))
    for name in ("a", "b"):
        shutil.copytree(smoke, tmp_path / name, copy_function=shutil.copy2)  # keeps modification times
    assert keys(f"data.root={tmp_path / 'a'}") == keys(f"data.root={tmp_path / 'b'}")
    with (tmp_path / "b" / "mnli" / "train.tsv").open("a") as edited:
        edited.write("\n")
    assert keys(f"data.root={tmp_path / 'a'}")[0] != keys(f"data.root={tmp_path / 'b'}")[0]


def test_a_run_differing_only_in_bookkeeping_reuses_phase1(smoke_run: Path, cache_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "bookkeeping"
    assert run_cli("intermediate.train.checkpoint_every_steps=3", "target.train.checkpoint_every_steps=3",
                   "tracking=tensorboard", "log_every_steps=5", "target.languages=[en]",
                   run_dir=run_dir, cache_dir=cache_dir) == 0
    phases = pd.read_parquet(run_dir / "phases.parquet").set_index("phase")
    assert bool(phases.loc["intermediate", "cache_hit"])
    first = pd.read_parquet(smoke_run / "results.parquet")
    assert pd.read_parquet(run_dir / "results.parquet").run_id.iloc[0] != first.run_id.iloc[0]  # fewer languages


def arms(*overrides: str) -> tuple[str, str, str]:
    cfg = compose_cfg(*BASE, *overrides)
    keys = identity.run_keys(cfg, 1)
    return keys.arm, keys.series, keys.baseline_key


def test_seeds_are_replicates_of_one_arm_and_amounts_points_of_one_series():
    arm, series, baseline = arms("seed=1")
    assert arms("seed=2") == (arm, series, baseline)  # the subsample seed follows the seed
    half = arms("intermediate.fraction=0.5")
    assert half[0] != arm and half[1:] == (series, baseline)
    assert arms("intermediate.examples=100")[1] == series


@pytest.mark.parametrize("override", ["intermediate.budget=full_data_steps", "intermediate.subsample_seed=0",
                                      "intermediate.train.learning_rate=0.01", "intermediate=qqp"])
def test_another_phase1_setting_is_another_series_with_the_same_baseline(override: str):
    arm, series, baseline = arms()
    changed = arms(override)
    assert changed[0] != arm and changed[1] != series and changed[2] == baseline


@pytest.mark.parametrize("override", ["target.train.learning_rate=0.01", "recipe=xtreme", "benchmark=xtreme",
                                      "model.revision=abc"])
def test_the_baseline_key_holds_the_target_side(override: str):
    assert arms(override)[2] != arms()[2]
    assert arms("intermediate=none", override)[2] == arms(override)[2]  # a baseline run has the key it serves


def test_the_subsample_seed_follows_the_seed_unless_set():
    from xfer_scale import config

    assert config.subsample_seed(compose_cfg(*BASE, "seed=3")) == 3
    assert config.subsample_seed(compose_cfg(*BASE, "seed=3", "intermediate.subsample_seed=0")) == 0


def test_a_files_hash_is_remembered_by_path_size_and_mtime(tmp_path: Path):
    import hashlib
    import os

    from xfer_scale import file_hashes

    data = tmp_path / "train.tsv"
    data.write_text("a\tb\n")
    hashes = tmp_path / "hashes"
    real = hashlib.sha256(b"a\tb\n").hexdigest()
    assert file_hashes.content_hash(data, hashes) == real
    (entry,) = [p for p in hashes.rglob("*") if p.is_file()]
    entry.write_text("remembered\n")  # what a second call reads instead of hashing again
    assert file_hashes.content_hash(data, hashes) == "remembered"
    os.utime(data, ns=(1, 1))  # another version of the file (as far as the cache can tell): hashed again
    assert file_hashes.content_hash(data, hashes) == real
    assert file_hashes.content_hash(data, None) == real  # no cache folder: hashed every time
