"""Turning examples into features: `encode_indexed` hands `datasets` Arrow tables it builds
itself (`arrow_batch`), which must be what `datasets` would have made of the lists, and the
tagging format aligns labels to first subwords over a whole batch at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pytest
from datasets.fingerprint import generate_random_fingerprint
from omegaconf import OmegaConf

from xfer_scale import formats, modeling, tiny
from xfer_scale.config import TinyModelConfig
from xfer_scale.formats.arrow import arrow_batch
from xfer_scale.formats.batching import IGNORE_INDEX
from xfer_scale.formats.tagging import first_subword_labels

X = IGNORE_INDEX  # an ignored position
INT_FEATURES = datasets.Features({"example_index": datasets.Value("int64"),
                                  "input_ids": datasets.List(datasets.Value("int32")),
                                  "attention_mask": datasets.List(datasets.Value("int8"))})


@pytest.fixture(scope="module")
def tokenizer(cache_dir: Path) -> Any:
    return modeling.load_tokenizer(str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig()))))


def plain_map(examples: datasets.Dataset, tokenize: Any) -> datasets.Dataset:
    """What `encode_indexed` made before `arrow_batch`: `datasets` converting the lists."""
    indexed = examples.add_column("example_index", list(range(len(examples))),
                                  new_fingerprint=generate_random_fingerprint())
    return indexed.map(tokenize, batched=True, remove_columns=indexed.column_names,
                       new_fingerprint=generate_random_fingerprint())


def assert_identical(got: datasets.Dataset, expected: datasets.Dataset) -> None:
    assert got.features == expected.features
    assert got.data.schema == expected.data.schema  # column order and types
    assert got.data.table.equals(expected.data.table)


# ---- arrow_batch against datasets' own conversion ------------------------------------------

def via_datasets(batch: dict[str, list], convert: bool) -> datasets.Dataset:
    rows = len(next(iter(batch.values())))
    source = datasets.Dataset.from_dict({"example_index": list(range(rows))})
    inputs = dict(zip(source.features.arrow_schema.names, source.features.arrow_schema.types))
    return source.map(lambda _: arrow_batch(batch, inputs) if convert else batch, batched=True,
                      remove_columns=["example_index"], new_fingerprint=generate_random_fingerprint())


BATCHES = {
    "tokenizer": {"input_ids": [[0, 5, 2], [0, 2]], "attention_mask": [[1, 1, 1], [1, 1]],
                  "token_type_ids": [[0, 0, 1], [0, 0]], "special_tokens_mask": [[1, 0, 1], [1, 1]],
                  "example_index": [0, 1], "labels": [2, 0]},
    "multiple choice": {"input_ids": [[[0, 5, 2], [0, 2]], [[0, 7, 2], [0, 9, 9, 2]]],
                        "attention_mask": [[[1, 1, 1], [1, 1]], [[1, 1, 1], [1, 1, 1, 1]]], "labels": [1, 0]},
    "span qa": {"input_ids": [[0, 5, 2]] * 2, "start_positions": [1, 0], "end_positions": [2, 0],
                "offset_start": [[-1, 0, -1], [-1, 4, -1]], "example_index": [0, 0]},
    "values": {"score": [0.5, 1], "text": ["a", "b"], "flag": [True, False], "ids": [["s0"], []],
               "maybe": [None, [1, 2]], "holes": [[1, None], [3]]},
    "too large for int8": {"input_ids": [[2 ** 40]], "attention_mask": [[300]], "example_index": [0]},
    "mixed": {"x": [[1, 2], ["a"]]},
    "dicts": {"x": [{"a": 1}, {"b": 2}]},
    "empty lists": {"x": [[], []]},
    "none": {"x": [None, None]},
    "numpy": {"x": [np.array([1, 2], dtype=np.int32), np.array([3], dtype=np.int32)]},
    "float in input column": {"example_index": [0.5, 1.5]},
}


@pytest.mark.parametrize("name", list(BATCHES))
def test_arrow_batch_writes_what_datasets_writes(name: str) -> None:
    batch = BATCHES[name]
    assert_identical(via_datasets(batch, convert=True), via_datasets(batch, convert=False))


def test_arrow_batch_builds_plain_columns_and_leaves_the_rest() -> None:
    inputs = {"example_index": pa.int64()}
    table = arrow_batch(BATCHES["tokenizer"], inputs)
    assert isinstance(table, pa.Table)
    assert table.column_names[0] == "example_index"  # datasets puts the input's columns first
    assert dict(zip(table.column_names, table.schema.types)) == {
        "example_index": pa.int64(), "input_ids": pa.list_(pa.int32()), "attention_mask": pa.list_(pa.int8()),
        "token_type_ids": pa.list_(pa.int8()), "special_tokens_mask": pa.list_(pa.int8()), "labels": pa.int64()}
    for name in ("mixed", "dicts", "empty lists", "none", "numpy", "float in input column"):
        assert not isinstance(arrow_batch(BATCHES[name], inputs), pa.Table), name
    labels = pa.array([[1, 2]])
    assert arrow_batch({"x": [{"a": 1}], "labels": labels}, inputs) == {"x": [{"a": 1}], "labels": [[1, 2]]}


# ---- tagging --------------------------------------------------------------------------------

def tagging_task() -> Any:
    return OmegaConf.create({"name": "ner", "format": "tagging", "metric": "seqeval",
                             "label_names": ["O", "B-PER", "I-PER", "B-LOC"]})


TAGGING_ROWS = [
    # every word one subword but "." (two: "▁" and ".")
    (["The", "farmer", "buys", "the", "red", "car", "."], [1, 0, 0, 0, 0, 2, 0]),
    # "Berlin": "▁B" "er" "l" "in"
    (["Berlin"], [3]),
    # a label-less test file: 0 at first subwords
    (["The", "car"], []),
    # 14 tokens left by max_length=16: three words and the first subwords of the fourth
    (["Berlin", "in"] * 5, [3, 0, 3, 1, 3, 2, 3, 0, 3, 1]),
]
TAGGING_LABELS = [
    [X, 1, 0, 0, 0, 0, 2, 0, X, X],
    [X, 3, X, X, X, X],
    [X, 0, 0, X],
    [X, 3, X, X, X, 0, 3, X, X, X, 1, 3, X, X, X, X],
]


def tagging_examples(rows: list[tuple[list[str], list[int]]]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"tokens": [t for t, _ in rows], "tags": [g for _, g in rows]},
                                      features=datasets.Features({
                                          "tokens": datasets.List(datasets.Value("string")),
                                          "tags": datasets.List(datasets.Value("int64"))}))


def loop_tokenize(tokenizer: Any, max_length: int) -> Any:
    """The per-token alignment `first_subword_labels` replaced, on Python lists."""
    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        out = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length)
        labels = []
        for row, tags in enumerate(batch["tags"]):
            previous, row_labels = None, []
            for word in out.word_ids(row):
                first_subword = word is not None and word != previous
                row_labels.append((tags[word] if tags else 0) if first_subword else IGNORE_INDEX)
                previous = word
            labels.append(row_labels)
        out["labels"] = labels
        out["example_index"] = batch["example_index"]
        return out

    return tokenize


def test_tagging_labels_first_subwords(tokenizer: Any) -> None:
    features = formats.get(tagging_task()).encode(tagging_examples(TAGGING_ROWS), tokenizer, 16)
    assert features["labels"] == TAGGING_LABELS
    assert features["example_index"] == [0, 1, 2, 3]
    assert features.features == datasets.Features({**INT_FEATURES, "labels": datasets.List(datasets.Value("int64"))})


def test_tagging_encode_equals_the_per_token_loop(tokenizer: Any) -> None:
    rng = np.random.default_rng(0)
    vocabulary = ["The", "farmer", "Berlin", "Xylophones", "in", ".", "Quebec", "car"]
    rows = [([vocabulary[w] for w in rng.integers(0, len(vocabulary), rng.integers(1, 30))], None)
            for _ in range(2500)]  # three batches of the map
    rows = [(words, [] if i % 7 == 0 else rng.integers(0, 4, len(words)).tolist()) for i, (words, _) in enumerate(rows)]
    examples = tagging_examples(rows)
    got = formats.get(tagging_task()).encode(examples, tokenizer, 24)
    assert_identical(got, plain_map(examples, loop_tokenize(tokenizer, 24)))


def test_first_subword_labels_edges() -> None:
    assert first_subword_labels([], []).to_pylist() == []
    assert first_subword_labels([[None, None], [], [None, 0, 0, 1, 1, None]], [[], [], [5, 6]]).to_pylist() == \
        [[X, X], [], [X, 5, X, 6, X, X]]
    with pytest.raises(IndexError):
        first_subword_labels([[None, 0, 1, None]], [[5]])


# ---- classification -------------------------------------------------------------------------

def test_classification_encode_equals_datasets(tokenizer: Any) -> None:
    task = OmegaConf.create({"name": "nli", "format": "classification", "metric": "accuracy",
                             "label_names": ["entailment", "neutral", "contradiction"]})
    examples = datasets.Dataset.from_dict({
        "text_a": ["The farmer buys the red car.", "Berlin", "The man sees the car in the park." * 5],
        "text_b": ["The farmer sells a car.", "Quebec", "The man sleeps."],
        "label": [0, 2, 1]})

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        out = tokenizer(batch["text_a"], batch["text_b"], truncation=True, max_length=32)
        out["labels"] = batch["label"]
        out["example_index"] = batch["example_index"]
        return out

    features = formats.get(task).encode(examples, tokenizer, 32)
    assert features["labels"] == [0, 2, 1] and max(map(len, features["input_ids"])) == 32
    assert features.features == datasets.Features({**INT_FEATURES, "labels": datasets.Value("int64")})
    assert_identical(features, plain_map(examples, tokenize))
