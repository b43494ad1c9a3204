"""run.json's `data`: which hub commits and local files a run's numbers come from, from a config
and a hand-made hub cache (no network)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_module

from xfer_scale import data_sources
from xfer_scale.config import setup

XTREME = "a" * 40
GLUE = "0123456789abcdef" * 2 + "01234567"
COPA_PARQUET = "f" * 40


def compose_cfg(*overrides: str):
    setup()
    with initialize_config_module("xfer_scale.conf", version_base=None):
        return compose("config", overrides=list(overrides))


def hub_cache(root: Path) -> Path:
    """A huggingface_hub cache as `datasets.load_dataset` leaves it: each asked revision's commit
    under refs/ (a branch name with slashes nests, as the parquet branch does)."""
    for repo, ref, commit in (("google/xtreme", "main", XTREME), ("nyu-mll/glue", "main", GLUE),
                              ("aps/super_glue", "refs/convert/parquet", COPA_PARQUET)):
        path = root / f"datasets--{repo.replace('/', '--')}" / "refs" / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(commit)
    return root


def test_the_commit_a_revision_resolved_to_comes_from_the_hub_cache(tmp_path: Path):
    cache = hub_cache(tmp_path)
    assert data_sources.resolved_commit("google/xtreme", None, cache) == XTREME  # no revision: main
    assert data_sources.resolved_commit("aps/super_glue", "refs/convert/parquet", cache) == COPA_PARQUET
    assert data_sources.resolved_commit("google/xtreme", "v2", cache) is None  # never loaded at that revision
    assert data_sources.resolved_commit("google/xquad", None, cache) is None  # never loaded
    assert data_sources.resolved_commit("google/xquad", GLUE, cache) == GLUE  # a commit is its own


def test_a_hub_target_records_each_source_with_its_languages_and_commit(tmp_path: Path):
    cfg = compose_cfg("target=xnli", "target.languages=[de,sw]", f"cache.dir={tmp_path / 'cache'}")
    record = data_sources.data_record(cfg, hub_cache(tmp_path / "hub"))
    by_split = {entry["split"]: entry for entry in record}
    assert [entry["split"] for entry in record] == ["train", "dev", "test"]  # phase 2, then phase 3
    assert by_split["train"]["hub"] == [{"path": "nyu-mll/glue", "name": "mnli", "split": "train", "revision": None,
                                         "resolved": GLUE}]
    assert by_split["train"]["languages"] == ["en"] and by_split["train"]["files"] == []
    test = by_split["test"]
    assert test["languages"] == ["de", "sw"]  # one source for both: one entry
    assert test["hub"] == [{"path": "google/xtreme", "name": "XNLI", "split": "test", "revision": None,
                            "resolved": XTREME}]
    assert data_sources.revisions(record) == f"google/xtreme@{XTREME[:12]} nyu-mll/glue@{GLUE[:12]}"


def test_a_parquet_branch_source_records_its_folder_and_an_unknown_commit_says_so(tmp_path: Path):
    cfg = compose_cfg("target=xcopa", "benchmark=xtreme-r", "target.languages=[et]", f"cache.dir={tmp_path / 'c'}")
    record = data_sources.data_record(cfg, hub_cache(tmp_path / "hub"))
    copa = next(entry for entry in record if entry["split"] == "train")["hub"]
    assert copa == [{"path": "aps/super_glue", "data_dir": "copa", "split": "train",
                     "revision": "refs/convert/parquet", "resolved": COPA_PARQUET}]
    unknown = data_sources.data_record(cfg, tmp_path / "empty")
    assert data_sources.revisions(unknown).split() == ["aps/super_glue@refs/convert/parquet?", "cambridgeltl/xcopa@main?"]

