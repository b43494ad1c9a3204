"""`model.compile`: batches padded to length buckets, one compiled graph per bucket, and the
same training as eager.

The compiler here is dynamo with AOT autograd (`aot_eager`): the graph capture, the
recompilation per shape and the compiled backward are the real ones; inductor's code
generation (the default) takes about 30 s a shape on this machine's CPU and is left to the
GPU benchmark (`scripts/bench_train.py --suite`).
"""

from __future__ import annotations

import functools

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf

from tests.test_packing import smoke_features, tiny_path, without_dropout  # noqa: F401 (a fixture)
from xfer_scale import config, modeling, training
from xfer_scale.errors import UserError
from xfer_scale.formats.batching import feature_lengths, pad_batch
from xfer_scale.shape_buckets import BucketPad, bucket


def test_lengths_round_up_to_buckets_but_not_past_max_length():
    assert [bucket(n, 32, 128) for n in (1, 32, 33, 64, 65, 128)] == [32, 32, 64, 64, 96, 128]
    assert bucket(100, 32, 100) == 100 and bucket(90, 32, 100) == 96 and bucket(120, 32, 100) == 120


def test_bucket_padding_pads_token_columns_with_their_own_values():
    collate = BucketPad(functools.partial(pad_batch, pad_token_id=1), multiple=8, limit=64, pad_token_id=1)
    batch = collate([{"input_ids": [0, 5, 2], "attention_mask": [1, 1, 1], "labels": [-100, 3, -100]},
                     {"input_ids": [0, 2], "attention_mask": [1, 1], "labels": [-100, -100]}])
    assert batch["input_ids"].tolist() == [[0, 5, 2, 1, 1, 1, 1, 1], [0, 2, 1, 1, 1, 1, 1, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]
    assert batch["labels"].tolist()[0] == [-100, 3] + [-100] * 6
    scalar = collate([{"input_ids": [0, 5, 2], "labels": 2}, {"input_ids": [0, 2], "labels": 0}])
    assert scalar["labels"].tolist() == [2, 0]  # one label a row: no token column


def _train(tiny_path: str, features, fmt, tokenizer, compile_bucket: int | None):
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    torch.manual_seed(0)  # the same fresh head
    model = without_dropout(modeling.load(tiny_path, fmt, with_head=False))
    initial = model.state_dict()["head.out.weight"].clone()
    cfg = OmegaConf.structured(config.TrainConfig(learning_rate=1e-3, epochs=2, batch_size=16, warmup_ratio=0.0,
                                                  eval_every_steps=1000, max_length=64))
    stats = training.train(phase="test", model=model, fmt=fmt, features=features, dev=None, cfg=cfg,
                           accelerator=Accelerator(cpu=True), seed=3, pad_token_id=tokenizer.pad_token_id,
                           compile_bucket=compile_bucket)
    return stats, initial, {k: v.clone() for k, v in model.state_dict().items()}


def test_compiled_training_compiles_once_per_bucket_and_trains_as_eager(tiny_path: str,
                                                                        monkeypatch: pytest.MonkeyPatch):
    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 48)  # sentences of 10 to 19 tokens: buckets of 8 are 16 and 24
    eager, initial, eager_weights = _train(tiny_path, features, fmt, tokenizer, None)
    torch._dynamo.reset()
    counters.clear()
    compiled, _, compiled_weights = _train(tiny_path, features, fmt, tokenizer, 8)

    assert compiled.steps == eager.steps == 6  # 48 / 16 = 3 batches an epoch, all of 16 rows
    assert (compiled.examples, compiled.tokens) == (eager.examples, eager.tokens)
    assert compiled.padded_tokens > eager.padded_tokens and compiled.padded_tokens % 8 == 0
    buckets = {bucket(int(length), 8, 64) for length in feature_lengths(features)}
    assert buckets == {16, 24}
    assert counters["stats"]["unique_graphs"] <= len(buckets)  # one graph per bucket, no recompiles
    assert counters["stats"]["unique_graphs"] >= 1
    assert (compiled_weights["head.out.weight"] - initial).abs().max() > 1e-3  # it trained
    for name, weight in eager_weights.items():
        torch.testing.assert_close(compiled_weights[name], weight, atol=5e-5, rtol=1e-4, msg=name)


def test_compiling_a_packed_phase_is_refused(tiny_path: str):
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 16)
    AcceleratorState._reset_state(reset_partial_state=True)
    cfg = OmegaConf.structured(config.TrainConfig(max_steps=1, packing=True))
    with pytest.raises(UserError, match="model.compile=true and target.train.packing=true"):
        training.train(phase="target", model=modeling.load(tiny_path, fmt, with_head=False), fmt=fmt,
                       features=features, dev=None, cfg=cfg, accelerator=Accelerator(cpu=True), seed=1,
                       pad_token_id=tokenizer.pad_token_id, compile_bucket=32)
