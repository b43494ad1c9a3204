"""Prediction and scoring of one data set: length-sorted batches, no gradients."""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np
import torch
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from xfer_scale.formats import Format
from xfer_scale.formats.base import feature_lengths, pad_batch


def model_batches(features: datasets.Dataset, fmt: Format, order: list[int], batch_size: int,
                  pad_token_id: int) -> list[tuple[list[int], dict[str, torch.Tensor]]]:
    columns = [c for c in fmt.model_inputs if c in features.column_names]
    rows = features.select_columns(columns)
    out = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        block = rows[chunk]  # one read per batch: row-by-row reads cost 3-6 times as much
        out.append((chunk, pad_batch([{c: block[c][j] for c in columns} for j in range(len(chunk))], pad_token_id)))
    return out


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, features: datasets.Dataset, fmt: Format, batch_size: int,
                   device: torch.device, pad_token_id: int, autocast_dtype: torch.dtype | None = None,
                   progress: str | None = None, shard: tuple[int, int] = (0, 1)) -> list[torch.Tensor | None]:
    """Per-feature logits in the features' order, each cut to its own length.

    Sorting by length first keeps padding (and so wasted compute) near zero. Each batch's
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


def evaluate(model: torch.nn.Module, fmt: Format, examples: datasets.Dataset, features: datasets.Dataset,
             language: str, batch_size: int, device: torch.device, pad_token_id: int,
             autocast_dtype: torch.dtype | None = None, progress: str | None = None,
             shard: tuple[int, int] = (0, 1), tune: bool = False,
             calibration: Any = None) -> tuple[list[Any], dict[str, float], Any]:
    """Predictions (one per example), metrics on XTREME's 0-100 scale, and the calibration
    they used: tuned on this data set with `tune` (a dev split), else the one given.

    Every process of a data-parallel run calls this with its `shard`; each predicts its
    share, and all of them then hold every logit, so all compute the same predictions.
    """
    logits = predict_logits(model, features, fmt, batch_size, device, pad_token_id, autocast_dtype, progress, shard)
    if shard[1] > 1:
        for feature, row in gather_object([(i, row) for i, row in enumerate(logits) if row is not None]):
            logits[feature] = row
    if tune:
        calibration = fmt.calibrate(logits, features, examples)
    predictions = fmt.predict(logits, features, examples, calibration)
    return predictions, fmt.score(predictions, examples, language), calibration
