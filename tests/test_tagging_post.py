"""Tagging post-processing (predictions and references as label names) read columns whole and
argmax every logit at once: the same words as reading them row by row."""

from __future__ import annotations

import random

import datasets
import torch
from omegaconf import OmegaConf

from xfer_scale import formats
from xfer_scale.formats.batching import IGNORE_INDEX

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def tagging_split(n: int, max_length: int, seed: int = 0) -> tuple[datasets.Dataset, datasets.Dataset, list]:
    """Examples, their features as `Tagging.encode` lays them out (a label at each word's first
    subword, IGNORE_INDEX elsewhere and at the special tokens, long sentences cut at `max_length`),
    and one logit row per subword."""
    rng = random.Random(seed)
    tokens, tags, labels = [], [], []
    for _ in range(n):
        words = rng.randint(1, 40)
        tokens.append([f"w{rng.randint(0, 99)}" for _ in range(words)])
        tags.append([rng.randrange(len(LABELS)) for _ in range(words)])
        row = [IGNORE_INDEX]
        for tag in tags[-1]:
            row += [tag] + [IGNORE_INDEX] * rng.randint(0, 2)
        labels.append(row[: max_length - 1] + [IGNORE_INDEX])
    examples = datasets.Dataset.from_dict({"tokens": tokens, "tags": tags})
    features = datasets.Dataset.from_dict({
        "input_ids": [[5] * len(row) for row in labels], "labels": labels, "example_index": list(range(n)),
    })
    generator = torch.Generator().manual_seed(seed)
    logits = [torch.randn(len(row), len(LABELS), generator=generator) for row in labels]
    return examples, features, logits


def row_by_row_predict(logits: list, features: datasets.Dataset, examples: datasets.Dataset) -> list[list[str]]:
    """The words read one feature at a time: the oracle, and how predictions were made before."""
    predicted = {}
    for index, labels, feature_logits in zip(features["example_index"], features["labels"], logits):
        first_subword = [label != IGNORE_INDEX for label in labels]
        ids = feature_logits.argmax(-1).tolist()
        predicted[index] = [LABELS[i] for i, first in zip(ids, first_subword) if first]
    return [predicted[i] + [LABELS[0]] * (len(tokens) - len(predicted[i])) for i, tokens in enumerate(examples["tokens"])]


def tagging_format():
    return formats.get(OmegaConf.create({"name": "panx", "format": "tagging", "label_names": LABELS}))


def test_predictions_equal_reading_row_by_row_truncated_words_included():
    examples, features, logits = tagging_split(300, max_length=24)
    predictions = tagging_format().predict(logits, features, examples)
    assert predictions == row_by_row_predict(logits, features, examples)
    assert any(len(p) > sum(label != IGNORE_INDEX for label in row) for p, row in zip(predictions, features["labels"]))


def test_predictions_follow_example_index_not_feature_order():
    """Features selected out of order (an indices mapping over the table) still land on their examples."""
    examples, features, logits = tagging_split(50, max_length=64, seed=1)
    order = list(range(50))
    random.Random(2).shuffle(order)
    shuffled, shuffled_logits = features.select(order), [logits[i] for i in order]
    predictions = tagging_format().predict(shuffled_logits, shuffled, examples)
    assert predictions == row_by_row_predict(logits, features, examples)


def test_contiguous_selections_read_their_own_rows():
    """A contiguous `select` slices the Arrow table instead of mapping indices: offsets no longer start at 0."""
    examples, features, logits = tagging_split(80, max_length=24, seed=4)
    features = features.map(lambda row: {"example_index": row["example_index"] - 20})
    part, part_features, part_logits = examples.select(range(20, 60)), features.select(range(20, 60)), logits[20:60]
    fmt = tagging_format()
    assert fmt.predict(part_logits, part_features, part) == row_by_row_predict(part_logits, part_features, part)
    assert fmt.references(part) == [[LABELS[t] for t in tags] for tags in part["tags"]]


def test_references_are_the_gold_tag_names():
    examples, _, _ = tagging_split(100, max_length=64, seed=3)
    assert tagging_format().references(examples) == [[LABELS[t] for t in tags] for tags in examples["tags"]]
