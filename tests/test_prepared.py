"""The prepared-data cache (`feature_cache`): later cells read examples and features from
disk, every input of an entry keys it, builders share one entry, damaged entries are rebuilt;
the memoised reads of multi-language files (`data`), and parallel tokenization (`encode_indexed`)."""

from __future__ import annotations

import copy
import errno
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import datasets
import pytest

from xfer_scale import data, feature_cache, formats, modeling, readers
from xfer_scale.formats import TrainingSet, arrow
from xfer_scale.formats.classification import Classification
from xfer_scale.formats.span_qa import SpanQA
from tests.test_config import compose_cfg

SMOKE_DATA = Path(__file__).resolve().parents[1] / "src" / "xfer_scale" / "smoke_data"


@pytest.fixture(scope="module")
def tokenizer(cache_dir: Path) -> Any:
    return modeling.load_tokenizer(modeling.resolve(compose_cfg("experiment=smoke").model, str(cache_dir)))


def smoke(tmp_path: Path, *overrides: str):
    return compose_cfg("experiment=smoke", f"cache.dir={tmp_path / 'cache'}", *overrides)


def prepare(cfg, tokenizer: Any, split: str = "test", language: str = "de", task: Any = None):
    task = task or cfg.target
    examples = feature_cache.load_split(cfg, task, split, language)
    key = feature_cache.tokenizer_identity(tokenizer)
    return examples.dataset, feature_cache.encode(formats.get(task), examples, tokenizer, task.train.max_length, key)


def entries(cfg) -> list[str]:
    folder = feature_cache.folder(cfg)
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def assert_same(got: datasets.Dataset, expected: datasets.Dataset) -> None:
    assert sorted(got.column_names) == sorted(expected.column_names) and len(got) == len(expected)
    for column in expected.column_names:
        assert got[column] == expected[column], column


def copied_data(tmp_path: Path, *tasks: str) -> Path:
    root = tmp_path / "data"
    for task in tasks:
        shutil.copytree(SMOKE_DATA / task, root / task)
    return root


def test_a_later_cell_reads_examples_and_features_from_disk(tmp_path: Path, tokenizer: Any, monkeypatch) -> None:
    cfg = smoke(tmp_path)
    examples, features = prepare(cfg, tokenizer)
    built = entries(cfg)
    assert len(built) == 2  # the examples, and their features

    def unread(*_: Any, **__: Any) -> None:
        raise AssertionError("a cached split was read or tokenized again")

    monkeypatch.setattr(data, "load_split", unread)
    monkeypatch.setattr(readers, "read", unread)
    monkeypatch.setattr(Classification, "encode", unread)
    again, again_features = prepare(smoke(tmp_path), tokenizer)
    assert entries(cfg) == built
    assert_same(again, examples)
    assert_same(again_features, features)
    assert all(Path(f["filename"]).is_relative_to(feature_cache.folder(cfg)) for f in again_features.cache_files)


@pytest.mark.parametrize("target, split, language", [
    ("xnli", "test", "de"), ("xquad", "test", "de"), ("panx", "dev", "de"), ("xcopa", "test", "sw"),
    ("tatoeba", "test", "de"),
])
def test_cached_features_equal_fresh_ones(tmp_path: Path, tokenizer: Any, target: str, split: str,
                                          language: str) -> None:
    cfg = smoke(tmp_path, f"target={target}")
    fmt = formats.get(cfg.target)
    fresh_examples = data.load_split(cfg.target, split, language, cfg.data.root)
    fresh = fmt.encode(fresh_examples, tokenizer, cfg.target.train.max_length)
    for _ in ("built", "read"):
        examples, features = prepare(cfg, tokenizer, split, language)
        assert_same(examples, fresh_examples)
        assert_same(features, fresh)


def test_subsets_take_their_features_from_the_full_split(tmp_path: Path, tokenizer: Any) -> None:
    """Phase 1's nested subsample and the dev rows that select checkpoints, on SQuAD: an example
    gives several features, which keep their order and are numbered within the subset."""
    cfg = smoke(tmp_path, "intermediate=squad_v1")
    task, max_length = cfg.intermediate, cfg.intermediate.train.max_length
    fmt, load, key = formats.get(task), feature_cache.loader(cfg, "en"), feature_cache.tokenizer_identity(tokenizer)
    found = fmt.training_set(load, formats.Amount(0.5, None, 3))
    assert_same(feature_cache.encode(fmt, feature_cache.training_examples(load, found), tokenizer, max_length, key),
                fmt.encode(found.examples, tokenizer, max_length))
    dev = feature_cache.load_split(cfg, task, "dev", "en").select([7, 2, 5, 30])
    assert_same(feature_cache.encode(fmt, dev, tokenizer, max_length, key), fmt.encode(dev.dataset, tokenizer, max_length))
    twice = dev.select([3, 0])  # rows 30 and 7 of the split
    assert_same(feature_cache.encode(fmt, twice, tokenizer, max_length, key),
                fmt.encode(twice.dataset, tokenizer, max_length))
    assert len([name for name in entries(cfg) if "span_qa" in name]) == 2  # train's and dev's features, whole


def test_a_format_that_draws_its_own_rows_keeps_their_cached_features(tmp_path: Path, tokenizer: Any,
                                                                      monkeypatch) -> None:
    """A hit follows from what a training set says it is (rows of one split), not from which
    object the caller holds: a format with a `training_set` of its own keeps the split's features."""

    class EveryThird(Classification):
        def training_set(self, load: Any, amount: Any) -> TrainingSet:
            full = load(self.task, "train")
            rows = list(range(0, len(full), 3))
            return TrainingSet(full.select(rows), len(full), rows, drawn_from=self.task)

    cfg = smoke(tmp_path)
    fmt, load, key = EveryThird(cfg.target), feature_cache.loader(cfg, "en"), feature_cache.tokenizer_identity(tokenizer)
    split = feature_cache.encode(fmt, feature_cache.load_split(cfg, cfg.target, "train", "en"), tokenizer, 64, key)

    def unread(*_: Any, **__: Any) -> None:
        raise AssertionError("the drawn rows were tokenized again")

    monkeypatch.setattr(Classification, "encode", unread)
    found = fmt.training_set(load, None)
    drawn = feature_cache.encode(fmt, feature_cache.training_examples(load, found), tokenizer, 64, key)
    assert drawn["input_ids"] == split.select(found.indices)["input_ids"]
    assert drawn["example_index"] == list(range(len(found.indices)))  # numbered within the drawn rows


def test_max_length_data_and_tokenizer_each_key_their_own_entry(tmp_path: Path, tokenizer: Any) -> None:
    cfg = smoke(tmp_path, f"data.root={copied_data(tmp_path, 'xnli')}")
    prepare(cfg, tokenizer)
    assert len(entries(cfg)) == 2
    prepare(cfg, tokenizer)
    assert len(entries(cfg)) == 2
    cfg.target.train.max_length = 32
    prepare(cfg, tokenizer)
    assert len(entries(cfg)) == 3  # new features of the same examples
    other = copy.deepcopy(tokenizer)
    other.add_tokens(["qqzx"])
    prepare(cfg, other)
    assert len(entries(cfg)) == 4
    test_file = Path(cfg.data.root) / "xnli" / "xnli.test.tsv"
    test_file.write_text(test_file.read_text().replace("The farmer", "The gardener"))
    _, features = prepare(cfg, tokenizer)
    assert len(entries(cfg)) == 6  # the edited file's examples and their features
    assert_same(features, formats.get(cfg.target).encode(data.load_split(cfg.target, "test", "de", cfg.data.root),
                                                          tokenizer, 32))
    stat = test_file.stat()
    os.utime(test_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    prepare(cfg, tokenizer)
    assert len(entries(cfg)) == 6  # touched, not edited: the same content, the same entries


def test_concurrent_builders_leave_one_intact_entry(tmp_path: Path, monkeypatch) -> None:
    cfg = smoke(tmp_path)
    calls = []
    load_split = data.load_split

    def slow(*args: Any) -> datasets.Dataset:
        calls.append(args)
        time.sleep(0.5)
        return load_split(*args)

    monkeypatch.setattr(data, "load_split", slow)
    results: list[datasets.Dataset] = []
    builders = [threading.Thread(
        target=lambda: results.append(feature_cache.load_split(cfg, cfg.target, "test", "de").dataset)) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert len(calls) == 1 and len(results) == 2
    assert_same(results[0], results[1])
    assert len(entries(cfg)) == 1
    assert not [p for p in feature_cache.folder(cfg).iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_entry_is_moved_aside_and_rebuilt(tmp_path: Path, tokenizer: Any, caplog) -> None:
    cfg = smoke(tmp_path)
    _, features = prepare(cfg, tokenizer)
    expected = features.to_dict()
    entry = Path(features.cache_files[0]["filename"]).parent
    del features
    arrow = next(entry.glob("*.arrow"))
    with arrow.open("r+b") as file:  # same size, other bytes: only the hash tells
        file.seek(arrow.stat().st_size // 2)
        file.write(b"\0" * 16)
    with caplog.at_level(logging.WARNING, logger="xfer_scale.feature_cache"):
        _, rebuilt = prepare(cfg, tokenizer)
    assert "does not match its sha256" in caplog.text
    assert rebuilt.to_dict() == expected
    assert len(list(entry.parent.glob(f"{entry.name}.damaged-*"))) == 1


def test_a_cache_that_cannot_be_written_is_read_or_bypassed(tmp_path: Path, tokenizer: Any, monkeypatch,
                                                            caplog) -> None:
    cfg = smoke(tmp_path)
    examples, features = prepare(cfg, tokenizer)
    built = entries(cfg)

    class ReadOnly:
        def __init__(self, path: str):
            raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(feature_cache, "FileLock", ReadOnly)
    _, again = prepare(cfg, tokenizer)
    assert_same(again, features)
    cfg.target.train.max_length = 32
    with caplog.at_level(logging.WARNING, logger="xfer_scale.feature_cache"):
        _, shorter = prepare(cfg, tokenizer)
    assert "not writable" in caplog.text and entries(cfg) == built
    assert_same(shorter, formats.get(cfg.target).encode(examples, tokenizer, 32))


def test_switched_off_nothing_is_stored(tmp_path: Path, tokenizer: Any) -> None:
    cfg = smoke(tmp_path, "cache.features=false")
    assert type(feature_cache.loader(cfg, "en")) is formats.base.Loader
    _, features = prepare(cfg, tokenizer)
    assert len(features) and not feature_cache.folder(cfg).exists()


def test_labels_learnt_from_the_data_come_back_with_cached_examples(tmp_path: Path, monkeypatch) -> None:
    cfg = smoke(tmp_path, "intermediate=ccg")
    learnt = data.label_names(feature_cache.load_split(cfg, cfg.intermediate, "train", "en").dataset)
    assert len(learnt) == 8 and not cfg.intermediate.label_names  # learnt into the examples, not the config
    dev = data.label_names(feature_cache.load_split(cfg, cfg.intermediate, "dev", "en", learnt).dataset)
    assert dev[:len(learnt)] == learnt  # read with the index learnt on train
    monkeypatch.setattr(data, "load_split", None)  # read from the cache, or fail
    again = smoke(tmp_path, "intermediate=ccg")
    assert data.label_names(feature_cache.load_split(again, again.intermediate, "train", "en").dataset) == learnt
    assert data.label_names(feature_cache.load_split(again, again.intermediate, "dev", "en", learnt).dataset) == dev
    with pytest.raises(TypeError):  # read without train's names, dev is another entry: not in the cache
        feature_cache.load_split(again, again.intermediate, "dev", "en")


def test_a_file_of_every_language_is_parsed_once(tmp_path: Path, monkeypatch) -> None:
    cfg = smoke(tmp_path, f"data.root={copied_data(tmp_path, 'xnli')}")
    monkeypatch.setattr(data, "_READ_MEMO", {})
    calls = []
    read = readers.read

    def counted(reader: str, path: Path, **options: Any):
        calls.append(path.name)
        return read(reader, path, **options)

    monkeypatch.setattr(readers, "read", counted)
    sizes = [len(data.load_split(cfg.target, "test", lang, cfg.data.root)) for lang in ("de", "es", "fr")]
    assert calls == ["xnli.test.tsv"] and sizes == [90, 90, 90]
    data.load_split(cfg.target, "dev", "de", cfg.data.root)
    data.load_split(cfg.target, "test", "sw", cfg.data.root)
    assert calls == ["xnli.test.tsv", "xnli.dev.tsv"]
    test_file = Path(cfg.data.root) / "xnli" / "xnli.test.tsv"
    stat = test_file.stat()
    os.utime(test_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    data.load_split(cfg.target, "test", "de", cfg.data.root)
    assert calls == ["xnli.test.tsv", "xnli.dev.tsv", "xnli.test.tsv"]


def test_parallel_tokenization_equals_serial(tokenizer: Any, monkeypatch) -> None:
    cfg = compose_cfg("experiment=smoke", "target=xquad")
    fmt = formats.get(cfg.target)
    assert isinstance(fmt, SpanQA)
    examples = data.load_split(cfg.target, "train", "en", cfg.data.root)
    assert arrow.processes(len(examples)) is None  # too few to pay for processes
    serial = fmt.encode(examples, tokenizer, 64)
    monkeypatch.setattr(arrow, "PARALLEL_EXAMPLES", 1)
    monkeypatch.setattr(arrow.os, "sched_getaffinity", lambda _: {0, 1, 2})
    assert arrow.processes(len(examples)) == 3
    parallel = fmt.encode(examples, tokenizer, 64)
    assert len(parallel) > len(examples)  # several windows for some questions
    assert_same(parallel, serial)
