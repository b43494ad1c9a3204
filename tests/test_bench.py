"""scripts/bench_train.py and scripts/bench_prep.py on tiny settings: what they count and report
(never how fast), and the host-side pieces bench_train made faster (pad_batch, feature_lengths,
predict_logits)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from torch import nn

from xfer_scale import evaluation
from xfer_scale.errors import UserError
from xfer_scale.formats.base import IGNORE_INDEX, feature_lengths, pad_batch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"
PREP_SCRIPT = SCRIPT.with_name("bench_prep.py")
TRAIN_KEYS = {"speedup", "speedup_vs_tuned", "tokens_per_s", "baseline_tokens_per_s", "tuned_tokens_per_s",
              "padding_fraction", "baseline_padding_fraction", "tuned_padding_fraction", "device", "mfu",
              "optimizer_step_share", "peak_memory_gb", "flops_per_token", "runs"}


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_script(SCRIPT)
prep = _load_script(PREP_SCRIPT)


@pytest.fixture(scope="module")
def train_result(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    spec = bench.Spec(examples=48, batch_size=16, cache_dir=str(cache_dir))
    return bench.run_benchmark(spec, tmp_path_factory.mktemp("bench"))


def test_train_report_has_every_key_and_is_json(train_result: dict) -> None:
    assert TRAIN_KEYS <= set(train_result)
    assert json.loads(json.dumps(train_result))["device"] == "cpu"
    assert train_result["mfu"] is None and train_result["peak_memory_gb"] is None  # CPU: no peak to compare with


def test_train_methods_see_the_same_tokens(train_result: dict) -> None:
    runs = train_result["runs"]
    assert [r["method"] for r in runs] == ["ours", "hf-default", "hf-tuned"]
    expected = int(bench.sample_lengths(48, "classification", 1).sum())
    assert {r["tokens"] for r in runs} == {expected}
    assert {r["rows"] for r in runs} == {48}


def test_train_padding_is_counted_per_method(train_result: dict) -> None:
    tokens = train_result["runs"][0]["tokens"]
    assert train_result["baseline_padding_fraction"] == pytest.approx(1 - tokens / (48 * 128))  # all at max length
    assert train_result["padding_fraction"] < train_result["baseline_padding_fraction"]
    assert train_result["speedup"] == pytest.approx(train_result["tokens_per_s"] / train_result["baseline_tokens_per_s"])
    assert 0 < train_result["optimizer_step_share"] < 1


def test_packing_computes_no_padding_on_the_same_tokens(cache_dir: Path, tmp_path: Path) -> None:
    spec = bench.Spec(examples=48, batch_size=16, packing=True, cache_dir=str(cache_dir))
    result = bench.run_benchmark(spec, tmp_path)
    ours, hf_default, _ = result["runs"]
    assert ours["tokens"] == ours["padded_tokens"] == hf_default["tokens"] and ours["rows"] == 48
    assert result["padding_fraction"] == 0.0 and result["spec"]["packing"] is True


def test_eval_counts_every_sentence_of_every_language(cache_dir: Path, tmp_path: Path) -> None:
    spec = bench.Spec(eval=True, languages=["en", "sw"], eval_examples=20, eval_batch_size=8,
                      cache_dir=str(cache_dir))
    result = bench.run_benchmark(spec, tmp_path)
    assert {"sentences_per_s", "baseline_sentences_per_s", "tuned_sentences_per_s", "speedup"} <= set(result)
    assert {r["rows"] for r in result["runs"]} == {40}
    assert len({r["tokens"] for r in result["runs"]}) == 1
    assert result["speedup"] == pytest.approx(result["sentences_per_s"] / result["baseline_sentences_per_s"])


def test_probe_counts_padding_on_a_hand_case() -> None:
    """Lengths 2 and 4 padded to 4: 6 real of 8 tokens, padding 0.25."""
    class Echo(nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return input_ids

    model = Echo()
    probe = bench.TokenProbe(model, torch.device("cpu"))
    model(**pad_batch([{"input_ids": [0, 2], "attention_mask": [1, 1]},
                       {"input_ids": [0, 5, 6, 2], "attention_mask": [1, 1, 1, 1]}], pad_token_id=1))
    tokens = probe.close()
    assert (probe.rows, tokens, probe.padded) == (2, 6, 8)
    assert bench.padding_fraction(tokens, probe.padded) == 0.25


def test_flops_per_token_by_hand() -> None:
    """6N + 12*L*H*T with T = (1 + 9) / (1 + 3) = 2.5."""
    cfg = bench.XLMRobertaConfig(num_hidden_layers=2, hidden_size=3)
    assert bench.flops_per_token(10, cfg, np.array([1, 3])) == 6 * 10 + 12 * 2 * 3 * 2.5


def test_lengths_are_long_tailed_and_within_the_window() -> None:
    lengths = bench.sample_lengths(20000, "classification", 0)
    assert 35 < lengths.mean() < 45 and lengths.min() >= bench.MIN_LENGTH and lengths.max() == 128
    assert 0.001 < (lengths == 128).mean() < 0.02  # the tail past 128, cut to it


def test_settings_that_cannot_compare_fairly_are_refused() -> None:
    with pytest.raises(UserError, match="multiple of the effective batch"):
        bench.check(bench.Spec(examples=50, batch_size=16))
    with pytest.raises(UserError, match="multiple of 8"):
        bench.check(bench.Spec(examples=60, batch_size=12))


def test_pad_batch_flat_and_nested() -> None:
    flat = pad_batch([{"input_ids": [0, 5, 2], "labels": [IGNORE_INDEX, 3, IGNORE_INDEX], "y": 1},
                      {"input_ids": [0, 2], "labels": [IGNORE_INDEX, IGNORE_INDEX], "y": 0}], pad_token_id=1)
    assert flat["input_ids"].tolist() == [[0, 5, 2], [0, 2, 1]]
    assert flat["labels"].tolist() == [[-100, 3, -100], [-100, -100, -100]]
    assert flat["y"].tolist() == [1, 0] and flat["input_ids"].dtype == torch.int64
    nested = pad_batch([{"input_ids": [[0, 5, 2], [0, 2]], "attention_mask": [[1, 1, 1], [1, 1]]},
                        {"input_ids": [[0, 2], [0, 7, 8, 2]], "attention_mask": [[1, 1], [1, 1, 1, 1]]}], pad_token_id=1)
    assert nested["input_ids"].tolist() == [[[0, 5, 2, 1], [0, 2, 1, 1]], [[0, 2, 1, 1], [0, 7, 8, 2]]]
    assert nested["attention_mask"].sum().item() == 11 and nested["attention_mask"].shape == (2, 2, 4)


def test_feature_lengths_follow_a_selection() -> None:
    features = datasets.Dataset.from_dict({"input_ids": [[1] * n for n in (3, 7, 2, 5)]})
    assert feature_lengths(features).tolist() == [3, 7, 2, 5]
    assert feature_lengths(features.select([3, 0])).tolist() == [5, 3]


def test_predict_logits_returns_every_feature_in_order() -> None:
    """Batches run longest first and are copied back one batch late; the result is still per
    feature, in the features' order, cut to each feature's length."""
    class Tagger(nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.stack([input_ids, attention_mask], dim=-1).float()

    class Fmt:
        model_inputs = ("input_ids", "attention_mask")

    ids = [[0, 11, 2], [0, 12, 13, 14, 2], [0, 2], [0, 15, 16, 2], [0, 17, 2]]
    features = datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids]})
    logits = evaluation.predict_logits(Tagger(), features, Fmt(), batch_size=2, device=torch.device("cpu"), pad_token_id=1)
    assert [row[:, 0].int().tolist() for row in logits] == ids


def test_prep_counts_every_example_of_every_cell(cache_dir: Path, tmp_path: Path) -> None:
    """A first cell builds an examples and a features entry per read, a later one none; every
    cell prepares the same features; evaluation counts the English test sentences."""
    spec = prep.Spec(pairs=120, questions=20, panx_languages=2, panx_sentences=15, xnli_languages=2, xnli_dev=10,
                     xnli_test=12, repeats=1, processes=False, cache_dir=str(cache_dir))
    result = json.loads(json.dumps(prep.run_benchmark(spec, tmp_path)))
    workloads = result["workloads"]
    assert list(workloads) == list(prep.WORKLOADS)
    examples = {"xnli-train": 120, "xquad-train": 20, "panx-eval": 2 * 2 * 15, "xnli-eval": 2 * (10 + 12)}
    reads = {"xnli-train": 1, "xquad-train": 1, "panx-eval": 4, "xnli-eval": 4}
    for name, found in workloads.items():
        assert found["examples"] == examples[name]
        assert len(set(found["features_by_cell"].values())) == 1 and found["features"] >= found["examples"]
        assert found["entries_built"] == {"first": 2 * reads[name], "later": 0, "uncached": 0}
        assert found["first_over_later"] == pytest.approx(found["first_s"] / found["later_s"])
        assert found["first_over_raw"] == pytest.approx(found["first_s"] / found["raw_s"])
    evaluation = result["evaluation"]
    assert evaluation["sentences"] == 15 and evaluation["batches"] == 1
    assert evaluation["evaluate_over_forward"] == pytest.approx(evaluation["evaluate_s_per_10k"] / evaluation["forward_s_per_10k"])
    assert "first/later" in prep.table(result)
