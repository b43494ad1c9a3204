"""Evaluation batches gathered from whole Arrow columns: the tensors (and so the logits) that
padding each batch's rows with `pad_batch` gives, for tagging, span-QA and multiple-choice features."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from xfer_scale import evaluation, formats
from xfer_scale.formats.base import IGNORE_INDEX, pad_batch

PAD = 1


def tagging_features(n: int, rng: np.random.Generator) -> datasets.Dataset:
    lengths = rng.integers(1, 40, n)
    return datasets.Dataset.from_dict({
        "input_ids": [rng.integers(4, 50, k).tolist() for k in lengths],
        "attention_mask": [[1] * k for k in lengths],
        "labels": [[int(rng.integers(0, 7)) if rng.random() < 0.6 else IGNORE_INDEX for _ in range(k)] for k in lengths],
        "example_index": list(range(n)),
    })


def span_qa_features(n: int, rng: np.random.Generator) -> datasets.Dataset:
    """Scalar answer positions, and columns the model never sees (offsets: lists of pairs)."""
    lengths = rng.integers(5, 60, n)
    return datasets.Dataset.from_dict({
        "input_ids": [rng.integers(4, 50, k).tolist() for k in lengths],
        "attention_mask": [[1] * k for k in lengths],
        "start_positions": rng.integers(0, 5, n).tolist(),
        "end_positions": rng.integers(0, 5, n).tolist(),
        "offset_mapping": [[[i, i + 1] for i in range(k)] for k in lengths],
        "example_index": list(range(n)),
    })


def choice_features(n: int, rng: np.random.Generator) -> datasets.Dataset:
    """Two choices of their own lengths per feature (choices x tokens), a scalar label."""
    ids = [[rng.integers(4, 50, int(rng.integers(2, 20))).tolist() for _ in range(2)] for _ in range(n)]
    return datasets.Dataset.from_dict({
        "input_ids": ids, "attention_mask": [[[1] * len(c) for c in row] for row in ids],
        "labels": rng.integers(0, 2, n).tolist(), "example_index": list(range(n)),
    })


def task_format(kind: str) -> formats.Format:
    options = {
        "tagging": {"format": "tagging", "label_names": ["O", "B-PER", "I-PER"]},
        "span_qa": {"format": "span_qa", "metric": "squad", "format_options": {}},
        "multiple_choice": {"format": "multiple_choice", "label_names": ["0", "1"], "format_options": {}},
    }[kind]
    return formats.get(OmegaConf.create({"name": kind, **options}))


def row_batches(features: datasets.Dataset, fmt: formats.Format, order: list[int], batch_size: int) -> list:
    """Each batch's rows read as Python lists and padded by `pad_batch`: the oracle."""
    columns = [c for c in fmt.model_inputs if c in features.column_names]
    return [
        (chunk, pad_batch([{c: features[i][c] for c in columns} for i in chunk], PAD))
        for chunk in (order[s:s + batch_size] for s in range(0, len(order), batch_size))
    ]


CASES = [("tagging", tagging_features), ("span_qa", span_qa_features), ("multiple_choice", choice_features)]


@pytest.mark.parametrize(("kind", "make"), CASES, ids=[kind for kind, _ in CASES])
@pytest.mark.parametrize("selected", [False, True], ids=["table", "selection"])
def test_model_batches_equal_padding_rows_one_by_one(kind, make, selected):
    rng = np.random.default_rng(0)
    features = make(90, rng)
    if selected:  # an indices mapping over the table, and a contiguous slice of it
        features = features.select(rng.permutation(90)[:70]).select(range(5, 65))
    order = rng.permutation(len(features)).tolist()
    fmt = task_format(kind)
    got, expected = evaluation.model_batches(features, fmt, order, 16, PAD), row_batches(features, fmt, order, 16)
    assert [chunk for chunk, _ in got] == [chunk for chunk, _ in expected]
    for (_, batch), (_, oracle) in zip(got, expected, strict=True):
        assert batch.keys() == oracle.keys()
        for name, tensor in batch.items():
            assert tensor.dtype == oracle[name].dtype and torch.equal(tensor, oracle[name]), name


class TokenScores(nn.Module):
    """Logits that depend on every input: per token for tagging, pooled for span QA."""

    def __init__(self, outputs: int):
        super().__init__()
        self.embed = nn.Embedding(64, outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **positions: torch.Tensor) -> torch.Tensor:
        scores = self.embed(input_ids) * attention_mask[..., None]
        for value in positions.values():
            scores = scores + value[:, None, None]
        return scores


@pytest.mark.parametrize(("kind", "make"), CASES[:2], ids=[kind for kind, _ in CASES[:2]])
def test_predict_logits_equal_the_model_on_row_padded_batches(kind, make):
    features, fmt = make(70, np.random.default_rng(1)), task_format(kind)
    model = TokenScores(3)
    logits = evaluation.predict_logits(model, features, fmt, 8, torch.device("cpu"), PAD)
    lengths = [len(ids) for ids in features["input_ids"]]
    with torch.inference_mode():
        for chunk, batch in row_batches(features, fmt, list(range(len(features))), 8):
            expected = model(**{k: v for k, v in batch.items() if k != "labels"})
            for row, index in zip(expected, chunk):
                assert torch.equal(logits[index], row[: lengths[index]])
