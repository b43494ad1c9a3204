"""Packed batches (`train.packing`): the heads see what they see in padded batches, every
format gives the padded logits and loss, and packed training takes the same steps."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf
from torch import nn
from torch.nested._internal import nested_tensor

from tests.test_config import compose_cfg
from xfer_scale import config, data, formats, modeling, tiny, training
from xfer_scale.config import TinyModelConfig
from xfer_scale.errors import UserError
from xfer_scale.formats.batching import feature_lengths, pad_batch
from xfer_scale.packing import PackedCollate, pack

#: one target of each trainable format: classification, tagging, span_qa, multiple_choice
TARGETS = ["xnli", "udpos", "xquad", "xcopa"]


@pytest.fixture(scope="module")
def tiny_path(cache_dir: Path) -> str:
    return str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig())))


def smoke_features(target: str, tokenizer, examples: int):
    cfg = compose_cfg("experiment=smoke", f"target={target}")
    fmt = formats.get(cfg.target)
    rows = data.load_split(cfg.target, "train", "en", cfg.data.root)
    return fmt, fmt.encode(rows.select(range(examples)), tokenizer, 64)


def without_dropout(model: nn.Module) -> nn.Module:
    """Dropout draws differ between a padded and a packed batch; without it both must agree."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def test_pack_lays_sequences_end_to_end_and_positions_restart_for_each():
    batch = pad_batch([{"input_ids": [0, 5, 6, 2], "attention_mask": [1, 1, 1, 1], "labels": 1},
                       {"input_ids": [0, 7, 2], "attention_mask": [1, 1, 1], "labels": 0}], pad_token_id=1)
    packed = pack(batch)
    assert packed["input_ids"].tolist() == [[0, 5, 6, 2, 0, 7, 2]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2]]
    assert packed["cu_seq_lens"].tolist() == [0, 4, 7] and (packed["min_length"], packed["max_length"]) == (3, 4)
    assert packed["unpack_index"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]  # 7: padding, one past the end
    assert packed["attention_mask"] is batch["attention_mask"] and packed["labels"] is batch["labels"]


def test_pack_flattens_the_choices_of_multiple_choice():
    batch = pad_batch([{"input_ids": [[0, 5, 2], [0, 5, 6, 2]], "attention_mask": [[1, 1, 1], [1, 1, 1, 1]]}], 1)
    packed = pack(batch)
    assert packed["input_ids"].tolist() == [[0, 5, 2, 0, 5, 6, 2]]
    assert packed["unpack_index"].tolist() == [[0, 1, 2, 7], [3, 4, 5, 6]]
    assert (packed["min_length"], packed["max_length"]) == (3, 4)


@pytest.mark.parametrize("target", TARGETS)
def test_packed_batch_gives_the_padded_logits_and_loss(target: str, tiny_path: str):
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features(target, tokenizer, 12)
    batch = fmt.collator(features, tokenizer.pad_token_id)([features[i] for i in range(len(features))])
    packed = pack(batch)
    real = int(batch["attention_mask"].sum())
    assert packed["input_ids"].numel() == real < batch["input_ids"].numel()  # the batch had padding
    model = modeling.load(tiny_path, fmt, with_head=False).eval()
    with torch.no_grad():
        padded_logits, packed_logits = model(**batch), model(**packed)
    if padded_logits.shape[:-1] == batch["attention_mask"].shape:  # per token: only real tokens count
        keep = batch["attention_mask"].bool()
        padded_logits, packed_logits = padded_logits[keep], packed_logits[keep]
    torch.testing.assert_close(packed_logits, padded_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fmt.loss(model(**packed), batch, None), fmt.loss(model(**batch), batch, None), atol=1e-5, rtol=1e-5)


@pytest.fixture
def bounds_read_by_attention(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (shortest, longest) sequence length the packed attention's jagged query, key and
    value each hold, read as a GPU's SDPA reads them to pick its kernel (on a CPU, which runs
    the math kernel, nothing reads them); computing one instead (an `.item()`, a host sync
    on a GPU) fails the test."""
    def no_sync(func: object, lengths: torch.Tensor) -> int:
        raise AssertionError("a sequence-length bound was computed from the device offsets")

    monkeypatch.setattr(nested_tensor, "_get_sdpa_extreme_seqlen", no_sync)
    bounds: list[tuple[int, int]] = []
    attention = torch.nn.functional.scaled_dot_product_attention

    def reading_bounds(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **kwargs: object) -> torch.Tensor:
        if query.is_nested:
            seen = {(t._get_min_seqlen(), t._get_max_seqlen()) for t in (query, key, value)}
            assert len(seen) == 1
            bounds.append(seen.pop())
        return attention(query, key, value, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", reading_bounds)
    return bounds


def test_packed_attention_gets_the_length_bounds_the_collator_counted(tiny_path: str, bounds_read_by_attention):
    """Every layer's attention reads the bounds that travel with the batch, as plain ints
    counted on the host by `PackedCollate`; outputs stay the padded batch's."""
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 12)  # sentences of 10-19 tokens
    rows = [features[i] for i in range(len(features))]
    padded = fmt.collator(features, tokenizer.pad_token_id)(rows)
    packed = PackedCollate(fmt.collator(features, tokenizer.pad_token_id))(rows)
    lengths = [len(ids) for ids in features["input_ids"]]
    assert (packed["min_length"], packed["max_length"]) == (min(lengths), max(lengths)) == (10, 19)
    assert all(type(packed[key]) is int for key in ("min_length", "max_length"))
    model = modeling.load(tiny_path, fmt, with_head=False).eval()
    with torch.no_grad():
        packed_logits, padded_logits = model(**packed), model(**padded)
    assert bounds_read_by_attention == [(10, 19)] * model.encoder.config.num_hidden_layers
    keep = padded["attention_mask"].bool()
    torch.testing.assert_close(packed_logits[keep], padded_logits[keep], atol=1e-5, rtol=1e-4)


def test_packed_training_takes_the_same_steps_without_padding(tiny_path: str, bounds_read_by_attention):
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("udpos", tokenizer, 48)  # sentences of 10-19 tokens
    results = {}
    for packing in (False, True):
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
        torch.manual_seed(0)  # the same fresh head
        model = without_dropout(modeling.load(tiny_path, fmt, with_head=False))
        initial = model.state_dict()["head.out.weight"].clone()
        cfg = OmegaConf.structured(config.TrainConfig(
            learning_rate=1e-3, epochs=2, batch_size=16, warmup_ratio=0.0, eval_every_steps=1000, packing=packing))
        stats = training.train(phase="test", model=model, fmt=fmt, features=features, dev=None, cfg=cfg,
                               accelerator=Accelerator(cpu=True), seed=3, pad_token_id=tokenizer.pad_token_id)
        results[packing] = stats, {k: v.clone() for k, v in model.state_dict().items()}
    (padded, padded_weights), (packed, packed_weights) = results[False], results[True]
    assert packed.steps == padded.steps == 6
    assert (packed.examples, packed.tokens) == (padded.examples, padded.tokens) == (96, 2 * sum(feature_lengths(features)))
    assert packed.padding_fraction == 0.0 < padded.padding_fraction
    # the bounds came through the loader to every layer of every step
    assert len(bounds_read_by_attention) == TinyModelConfig().num_hidden_layers * packed.steps
    assert (packed_weights["head.out.weight"] - initial).abs().max() > 1e-3  # training changed the weights, so equal weights below mean equal steps
    for name, weight in padded_weights.items():
        torch.testing.assert_close(packed_weights[name], weight, atol=2e-5, rtol=1e-4, msg=name)


def test_attention_implementation_is_checked_and_a_missing_kernel_names_the_fix(tiny_path: str):
    with pytest.raises(UserError, match="model.attention='eager'.*sdpa, flash_attention_2"):
        config.validate(compose_cfg("experiment=smoke", "model.attention=eager"))
    if importlib.util.find_spec("flash_attn") is None:  # CPU machines, CI
        with pytest.raises(UserError, match="model.attention=flash_attention_2: .*use model.attention=sdpa"):
            modeling.load_encoder(tiny_path, attention="flash_attention_2")


def test_attention_that_would_cross_sequences_is_refused(tiny_path: str):
    tokenizer = modeling.load_tokenizer(tiny_path)
    fmt, features = smoke_features("xnli", tokenizer, 4)
    packed = pack(fmt.collator(features, tokenizer.pad_token_id)([features[i] for i in range(4)]))
    model = modeling.load(tiny_path, fmt, with_head=False)
    model.encoder.config._attn_implementation = "sdpa"  # transformers' own: ignores sequence boundaries
    with pytest.raises(ValueError, match="not 'sdpa'"):
        model(**packed)
