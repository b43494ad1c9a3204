"""Prediction and scoring of one data set: length-sorted batches, no gradients."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from accelerate.utils import extract_model_from_parallel, gather_object
from tqdm.auto import tqdm

from xfer_scale.formats import DevTuned, Format
from xfer_scale.formats.batching import feature_lengths, pad_value


@dataclass(frozen=True)
class EvalBatching:
    """How evaluation cuts features into batches: as many as fit in `tokens` padded tokens
    (rows x the batch's longest row, each choice of a multiple-choice feature a row) where
    that is set, else `sentences` features a batch.

    A fixed count leaves a GPU idle on short sentences (64 PAN-X sentences are ~2.5k tokens)
    and makes batches of long ones large; a token budget keeps every batch about as large,
    and the features, sorted by length, still pad little. Predictions do not depend on how
    features are batched, up to float rounding.
    """

    sentences: int = 64
    tokens: int | None = None

    @classmethod
    def of(cls, eval_cfg: Any) -> EvalBatching:
        """The batching a config's `eval` section asks for (`batch_size`, `batch_tokens`)."""
        return cls(eval_cfg.batch_size, eval_cfg.batch_tokens)

    def cut(self, features: datasets.Dataset, order: list[int]) -> list[list[int]]:
        """`order` (features by index) cut into consecutive batches."""
        if self.tokens is None:
            starts = list(range(0, len(order), self.sentences))
        else:
            picked = np.asarray(order, dtype=np.int64)
            starts = _budget_starts(feature_lengths(features)[picked].tolist(),
                                    sequences_per_feature(features)[picked].tolist(), self.tokens)
        return [order[start:end] for start, end in zip(starts, [*starts[1:], len(order)])]


def _budget_starts(widths: list[int], rows: list[int], budget: int) -> list[int]:
    """Where each batch starts: greedily as many features as fit in `budget` padded tokens
    (rows x the widest feature so far), always at least one, so a feature larger than the
    budget goes alone. Any order works; sorted longest first, a batch's width is its first's."""
    starts: list[int] = []
    width = count = 0
    for position, (feature_width, feature_rows) in enumerate(zip(widths, rows)):
        width, count = max(width, feature_width), count + feature_rows
        if not starts or width * count > budget:
            starts.append(position)
            width, count = feature_width, feature_rows
    return starts


def sequences_per_feature(features: datasets.Dataset) -> np.ndarray:
    """How many sequences (rows of a padded batch) each feature holds: its choices for a
    multiple-choice feature (choices x tokens), else 1."""
    column = features.with_format("arrow")["input_ids"]
    if pa.types.is_list(column.type.value_type):
        return pc.list_value_length(column).to_numpy()
    return np.ones(len(column), dtype=np.int64)


def as_batching(batch_size: EvalBatching | int) -> EvalBatching:
    """An `EvalBatching`, or a count of sentences a batch (as callers before token budgets gave)."""
    return batch_size if isinstance(batch_size, EvalBatching) else EvalBatching(sentences=batch_size)


def model_batches(features: datasets.Dataset, fmt: Format, order: list[int], batch_size: EvalBatching | int,
                  pad_token_id: int) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
    """The features in `order`, cut into batches as `batch_size` says (`as_batching`) and
    padded as `pad_batch` pads.

    Each input column is read from Arrow once and every batch gathered and padded with numpy:
    reading a batch's rows as Python lists and copying them back into arrays cost a tenth of the
    tiny model's forward pass (0.12 of 1.2 s on 10k PAN-X-like sentences), gathering 0.015 s.
    """
    columns = [_Column(features, c, pad_value(c, pad_token_id))
               for c in fmt.model_inputs if c in features.column_names]
    out = []
    for chunk in as_batching(batch_size).cut(features, order):
        rows = np.asarray(chunk, dtype=np.int64)
        out.append((chunk, {column.name: column.batch(rows) for column in columns}))
    return out


class _Column:
    """One model input of every feature: its innermost values concatenated, and per nesting level
    (a multiple-choice feature: choices, then tokens) each list's length and first position."""

    def __init__(self, features: datasets.Dataset, name: str, pad: int):
        self.name, self.pad = name, pad
        column = features.with_format("arrow")[name]  # follows a `select`'s indices, unlike `features.data`
        self.lengths: list[np.ndarray] = []
        while any(is_list(column.type) for is_list in (pa.types.is_list, pa.types.is_large_list,
                                                        pa.types.is_fixed_size_list)):
            self.lengths.append(pc.list_value_length(column).to_numpy())
            column = pc.list_flatten(column)
        self.values = column.to_numpy()
        self.starts = [np.cumsum(n) - n for n in self.lengths]

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        """The rows as one tensor: scalars as `torch.tensor` makes them, sequences padded to the
        longest in the batch, under the row's outer shape (its first row's, as `pad_batch`)."""
        if not self.lengths:
            return torch.tensor(self.values[rows].tolist())
        lists, shape = rows, [len(rows)]
        for lengths, starts in zip(self.lengths[:-1], self.starts[:-1]):  # rows -> their inner lists
            shape.append(int(lengths[lists[0]]))
            lists = _ranges(starts[lists], lengths[lists])
        lengths, starts = self.lengths[-1][lists], self.starts[-1][lists]
        width = int(lengths.max())
        inside = np.arange(width) < lengths[:, None]
        padded = np.full((len(lists), width), self.pad, dtype=np.int64)
        padded[inside] = self.values[(starts[:, None] + np.arange(width))[inside]]
        return torch.from_numpy(padded.reshape(*shape, width))


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`starts[i], ..., starts[i] + counts[i] - 1` for every i, concatenated."""
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())


def inference_model(model: torch.nn.Module,
                    autocast_dtype: torch.dtype | None) -> tuple[torch.nn.Module, torch.dtype | None]:
    """The model to predict with, and the autocast dtype to predict under.

    Under bf16, a bf16 copy of `model` and no autocast: autocast casts every weight of every
    matrix product again for each batch (thousands in a phase 3 over every language), where
    one cast serves them all. bf16 has float32's range, so nothing overflows; fp16, which
    has not, and float32 keep `model` and autocast as they are. `model` itself is left as it
    is (a training phase's model may yet be saved or trained), and the copy loses the
    autocast wrapper accelerate's `prepare` puts around a model's forward. Its outputs are
    bf16: `predict_logits` stores them as float32, which all post-processing reads.
    """
    if autocast_dtype != torch.bfloat16:
        return model, autocast_dtype
    plain = extract_model_from_parallel(copy.deepcopy(model), keep_fp32_wrapper=False)
    return plain.to(torch.bfloat16).requires_grad_(False), None


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, features: datasets.Dataset, fmt: Format, batch_size: EvalBatching | int,
                   device: torch.device, pad_token_id: int, autocast_dtype: torch.dtype | None = None,
                   progress: str | None = None, shard: tuple[int, int] = (0, 1)) -> list[torch.Tensor | None]:
    """Per-feature logits in the features' order, each cut to its own length, as float32
    whatever the model computes in (a bf16 model's scores feed softmaxes and sums).

    Sorting by length first keeps padding (and so wasted compute) near zero; batches are cut
    as `batch_size` says (`as_batching`). Each batch's
    logits are copied to the host (which waits for the device) only after the next batch is
    queued, so the device never idles while the host cuts and stores results. With `shard`
    = (process index, processes), this process predicts every n-th feature of the sorted
    order (so every process gets a like mix of lengths) and leaves the others None.
    """
    lengths = feature_lengths(features)
    index, processes = shard
    order = np.argsort(-lengths, kind="stable")[index::processes].tolist()
    result: list[torch.Tensor | None] = [None] * len(features)
    was_training = model.training
    model.eval()
    batches = model_batches(features, fmt, order, batch_size, pad_token_id)
    pinned = device.type == "cuda"  # only a copy from pinned memory leaves the host free

    def store(chunk: list[int], logits: torch.Tensor) -> None:
        for row, index in zip(logits.float().cpu(), chunk):
            result[index] = row[: lengths[index]] if row.dim() > 1 else row

    pending: tuple[list[int], torch.Tensor] | None = None
    for chunk, batch in tqdm(batches, desc=progress, disable=progress is None, leave=False):
        batch = {k: (v.pin_memory() if pinned else v).to(device, non_blocking=True)
                 for k, v in batch.items() if k != "labels"}
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(**batch)
        if pending is not None:
            store(*pending)
        pending = (chunk, logits)
    if pending is not None:
        store(*pending)
    model.train(was_training)
    return result  # type: ignore[return-value]


def all_logits(model: torch.nn.Module, features: datasets.Dataset, fmt: Format, batch_size: EvalBatching | int,
               device: torch.device, pad_token_id: int, autocast_dtype: torch.dtype | None = None,
               progress: str | None = None, shard: tuple[int, int] = (0, 1)) -> list[torch.Tensor]:
    """`predict_logits` of every feature in every process: each process predicts its `shard`,
    then all exchange theirs."""
    logits = predict_logits(model, features, fmt, batch_size, device, pad_token_id, autocast_dtype, progress, shard)
    if shard[1] > 1:
        for feature, row in gather_object([(i, row) for i, row in enumerate(logits) if row is not None]):
            logits[feature] = row
    return logits  # type: ignore[return-value]


@dataclass(frozen=True)
class Evaluated:
    """A data set's predictions (one per example), its metrics on XTREME's 0-100 scale, the
    examples they are over (one per reference: BUCC's rows hold both sides of a pair, its
    references are the pairs), and the basis the predictions rested on (`Format.basis`)."""

    predictions: list[Any]
    scores: dict[str, float]
    examples: int
    basis: Any


def evaluate(model: torch.nn.Module, fmt: Format, examples: datasets.Dataset, features: datasets.Dataset,
             language: str, batch_size: EvalBatching | int, device: torch.device, pad_token_id: int,
             autocast_dtype: torch.dtype | None = None, progress: str | None = None,
             shard: tuple[int, int] = (0, 1), tune: bool = False, basis: Any = None) -> Evaluated:
    """The data set's predictions and scores, resting on `basis`, or, with `tune` (a dev split)
    and a format whose basis is `DevTuned`, on the basis fitted on this data set.

    Every process of a data-parallel run calls this with its `shard`; each predicts its
    share, and all of them then hold every logit, so all compute the same predictions.
    """
    logits = all_logits(model, features, fmt, batch_size, device, pad_token_id, autocast_dtype, progress, shard)
    if tune and isinstance(fmt.basis, DevTuned):
        basis = fmt.basis.fit(logits, features, examples)
    predictions = fmt.predict(logits, features, examples, basis)
    return Evaluated(predictions, fmt.score(predictions, examples, language), len(fmt.references(examples)), basis)
