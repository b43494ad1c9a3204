"""Evaluation batches gathered from whole Arrow columns: the tensors (and so the logits) that
padding each batch's rows with `pad_batch` gives, for tagging, span-QA and multiple-choice features;
batches cut by a token budget, which score as fixed-size ones do; and phase 3's bf16 copy of
the model, which predicts as autocast does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf
from torch import nn

from tests.test_config import compose_cfg
from xfer_scale import data, evaluation, formats, modeling, tiny, training
from xfer_scale.config import TinyModelConfig
from xfer_scale.formats.batching import IGNORE_INDEX, feature_lengths, pad_batch

PAD = 1
CPU = torch.device("cpu")


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


def row_batches(features: datasets.Dataset, fmt: formats.Format, chunks: list[list[int]]) -> list:
    """Each batch's rows read as Python lists and padded by `pad_batch`: the oracle."""
    columns = [c for c in fmt.model_inputs if c in features.column_names]
    return [(chunk, pad_batch([{c: features[i][c] for c in columns} for i in chunk], PAD)) for chunk in chunks]


def fixed_chunks(order: list[int], batch_size: int) -> list[list[int]]:
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


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
    got, expected = evaluation.model_batches(features, fmt, order, 16, PAD), row_batches(features, fmt, fixed_chunks(order, 16))
    assert_batches_equal(got, expected)


def assert_batches_equal(got: list, expected: list) -> None:
    assert [chunk for chunk, _ in got] == [chunk for chunk, _ in expected]
    for (_, batch), (_, oracle) in zip(got, expected, strict=True):
        assert batch.keys() == oracle.keys()
        for name, tensor in batch.items():
            assert tensor.dtype == oracle[name].dtype and torch.equal(tensor, oracle[name]), name


@pytest.mark.parametrize(("kind", "make"), CASES, ids=[kind for kind, _ in CASES])
@pytest.mark.parametrize("budget", [30, 150])  # 30: below the longest features, which then go alone
@pytest.mark.parametrize("sort", [True, False], ids=["longest_first", "any_order"])
def test_token_budget_batches_hold_the_budget_and_every_feature_once(kind, make, budget, sort):
    """Padded tokens (rows x width, every choice a row) stay within the budget unless a feature
    alone exceeds it; no batch could take the next feature too (greedy, so not needlessly
    small); the features come in `order`, each once, padded as `pad_batch` pads them."""
    rng = np.random.default_rng(2)
    features, fmt = make(90, rng), task_format(kind)
    order = (np.argsort(-feature_lengths(features), kind="stable") if sort else rng.permutation(90)).tolist()
    got = evaluation.model_batches(features, fmt, order, evaluation.EvalBatching(tokens=budget), PAD)
    chunks = [chunk for chunk, _ in got]
    assert [i for chunk in chunks for i in chunk] == order
    sizes = [batch["input_ids"].numel() for _, batch in got]
    assert all(size <= budget or len(chunk) == 1 for size, chunk in zip(sizes, chunks))
    assert any(size > budget for size in sizes) == (budget == 30)
    for (chunk, _), (following, _) in zip(got, got[1:]):
        grown = row_batches(features, fmt, [[*chunk, following[0]]])[0][1]["input_ids"]
        assert grown.numel() > budget
    assert_batches_equal(got, row_batches(features, fmt, chunks))


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
    logits = evaluation.predict_logits(model, features, fmt, 8, CPU, PAD)
    lengths = [len(ids) for ids in features["input_ids"]]
    with torch.inference_mode():
        for chunk, batch in row_batches(features, fmt, fixed_chunks(list(range(len(features))), 8)):
            expected = model(**{k: v for k, v in batch.items() if k != "labels"})
            for row, index in zip(expected, chunk):
                assert torch.equal(logits[index], row[: lengths[index]])


#: (target, language) of the smoke data's test splits: one target of each format phase 3 predicts
SMOKE_SETS = [("xnli", "en"), ("udpos", "en"), ("xquad", "en"), ("xcopa", "it"), ("tatoeba", "de")]


@pytest.fixture(scope="module")
def tiny_path(cache_dir: Path) -> str:
    return str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig())))


@dataclasses.dataclass
class SmokeSet:
    fmt: formats.Format
    examples: datasets.Dataset
    features: datasets.Dataset
    model: nn.Module


def smoke_set(target: str, language: str, tiny_path: str) -> SmokeSet:
    """A smoke test split, encoded, and the tiny model with the format's fresh head (seeded)."""
    cfg = compose_cfg("experiment=smoke", f"target={target}")
    fmt = formats.get(cfg.target)
    examples = data.load_split(cfg.target, "test", language, cfg.data.root)
    features = fmt.encode(examples, modeling.load_tokenizer(tiny_path), 64)
    torch.manual_seed(0)
    return SmokeSet(fmt, examples, features, modeling.load(tiny_path, fmt, with_head=False).eval())


def flat(logits: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([row.flatten() for row in logits])


@pytest.mark.parametrize(("target", "language"), SMOKE_SETS, ids=[target for target, _ in SMOKE_SETS])
def test_token_budget_batches_score_as_fixed_size_batches(target, language, tiny_path):
    """Batch composition changes only the padding a sequence is computed beside, which its
    attention masks out: logits agree to float32 rounding, scores exactly."""
    s = smoke_set(target, language, tiny_path)
    outputs = {}
    for name, batching in {"fixed": evaluation.EvalBatching(sentences=8), "tokens": evaluation.EvalBatching(tokens=300)}.items():
        logits = evaluation.all_logits(s.model, s.features, s.fmt, batching, CPU, PAD)
        outputs[name] = logits, s.fmt.score(s.fmt.predict(logits, s.features, s.examples), s.examples, language)
    (fixed, fixed_scores), (budgeted, budgeted_scores) = outputs["fixed"], outputs["tokens"]
    torch.testing.assert_close(flat(budgeted), flat(fixed), atol=1e-5, rtol=1e-5)
    assert budgeted_scores == fixed_scores


@pytest.mark.parametrize(("target", "language"), SMOKE_SETS, ids=[target for target, _ in SMOKE_SETS])
def test_a_bf16_copy_predicts_as_autocast_does(target, language, tiny_path):
    """Both bf16 paths round every matrix product's inputs to bf16; the copy also keeps its
    residual stream, LayerNorms and last hidden states in bf16, which autocast computes in
    float32. Its logits may so be further from the float32 ones than autocast's, but not by
    more than as far again plus one bf16 rounding of the largest logit (retrieval pools a
    float32 mean of bf16 states where autocast's were float32). Where float32 prefers a label
    by more than twice that bound, the copy's prediction is float32's."""
    s = smoke_set(target, language, tiny_path)
    copy, autocast = evaluation.inference_model(s.model, torch.bfloat16)
    assert autocast is None and copy is not s.model
    assert {p.dtype for p in copy.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in s.model.parameters()} == {torch.float32}  # the model itself is left as it was

    def logits(model: nn.Module, dtype: torch.dtype | None) -> list[torch.Tensor]:
        return evaluation.predict_logits(model, s.features, s.fmt, 16, CPU, PAD, dtype)

    exact, autocasted, copied = logits(s.model, None), logits(s.model, torch.bfloat16), logits(copy, None)
    assert {row.dtype for row in copied} == {torch.float32}  # what softmaxes, span sums and cosines read
    exact_flat = flat(exact)
    bound = 2 * (flat(autocasted) - exact_flat).abs().max() + torch.finfo(torch.bfloat16).eps * exact_flat.abs().max()
    assert (flat(copied) - exact_flat).abs().max() <= bound
    if s.fmt.name in ("classification", "tagging", "multiple_choice"):  # predictions: the argmax over the last axis
        exact_rows, copied_rows = (torch.cat([row.reshape(-1, row.shape[-1]) for row in rows]) for rows in (exact, copied))
        top = exact_rows.topk(2, dim=-1).values
        clear = top[:, 0] - top[:, 1] > 2 * bound
        assert torch.equal(exact_rows[clear].argmax(-1), copied_rows[clear].argmax(-1))


@pytest.fixture
def fresh_accelerator_state():
    """An Accelerator of its own precision: accelerate keeps one state a process."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def test_the_bf16_copy_runs_without_the_autocast_accelerate_wraps_a_trained_model_in(tiny_path, fresh_accelerator_state):
    """A phase-2 model comes out of `accelerator.prepare` with its forward wrapped in autocast
    (and its outputs cast to float32); the copy must compute in bf16 itself, not autocast
    again, and the trained model keep its float32 weights and wrapper."""
    fmt = task_format("tagging")
    accelerator = Accelerator(cpu=True, mixed_precision="bf16")
    model = accelerator.unwrap_model(accelerator.prepare(modeling.load(tiny_path, fmt, with_head=False))).eval()
    copy, autocast = evaluation.inference_model(model, training.autocast_dtype(accelerator))
    assert autocast is None
    normed: list[torch.dtype] = []
    copy.encoder.encoder.layer[-1].output.LayerNorm.register_forward_hook(lambda m, i, out: normed.append(out.dtype))
    batch = {"input_ids": torch.tensor([[0, 5, 6, 2]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.inference_mode():
        assert copy(**batch).dtype == torch.bfloat16 and model(**batch).dtype == torch.float32
    assert normed == [torch.bfloat16]  # under autocast, LayerNorm computes (and returns) float32
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_float32_and_fp16_keep_the_model_and_its_autocast():
    """fp16 has not float32's range: its weights stay float32 under autocast, as in training."""
    model = TokenScores(3)
    for dtype in (None, torch.float16):
        assert evaluation.inference_model(model, dtype) == (model, dtype)
