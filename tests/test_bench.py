"""scripts/bench_train.py --suite and scripts/bench_prep.py on tiny settings: what they count and
report (never how fast): the suite's file as `plan --bench` reads it, the steady-state arithmetic
on hand-made timelines, the HF baseline's loss under accumulation; and the host-side pieces
bench_train made faster (pad_batch, feature_lengths, predict_logits)."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from torch import nn
from transformers import default_data_collator

from xfer_scale import evaluation
from xfer_scale.errors import UserError
from xfer_scale.formats.batching import IGNORE_INDEX, feature_lengths, pad_batch
from xfer_scale.plan import compute, suite

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"
PREP_SCRIPT = SCRIPT.with_name("bench_prep.py")
SUITE_KEYS = {"suite", "model", "device", "peak_tflops", "parameters", "max_length", "mean_length", "runs",
              "checkpoint_save_s", "checkpoint_bytes", "eval", "startup_s", "prep_examples_per_s"}
ROW_KEYS = {"method", "batch_size", "grad_accum", "packing", "compiled", "concurrent", "tokens_per_s", "mfu",
            "micro_batch_s", "optimizer_step_s", "tokens_per_micro_batch", "peak_memory_gb", "total_tokens_per_s"}
EVAL_KEYS = {"method", "sentences_per_s", "tokens_per_s", "mfu"}


def _load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_script(SCRIPT)
prep = _load_script(PREP_SCRIPT)
SHAPE = compute.Shape("m", parameters=1000, layers=2, hidden=8, how="test", total_parameters=2000)


@pytest.fixture(scope="module")
def suite_file(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole suite at a few batches a row. Compiled rows go through dynamo with its `eager`
    backend (inductor's code generation takes about 35 s a shape here; tests/test_compile.py
    checks compiled training itself) and one length bucket (max_length): one graph a batch size."""
    spec = bench.quick(bench.Spec(cache_dir=str(cache_dir), threads=1, compile_bucket=128))
    out = tmp_path_factory.mktemp("suite") / "suite.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
        bench.run_benchmark(spec, tmp_path_factory.mktemp("bench"), out)
    return out


def test_suite_file_has_every_key_plan_reads(suite_file: Path) -> None:
    found = json.loads(suite_file.read_text())
    assert SUITE_KEYS <= set(found) and found["suite"] == 1 and found["complete"] and not found["skipped"]
    assert (found["model"], found["device"], found["peak_tflops"], found["max_length"]) == ("tiny", "cpu", None, 128)
    assert {"non_embedding", "layers", "hidden"} <= set(found["parameters"]) and found["parameters"]["layers"] == 2
    assert all(ROW_KEYS <= set(row) for row in found["runs"])
    assert [row["method"] for row in found["eval"]] == list(bench.METHODS) and all(EVAL_KEYS <= set(r) for r in found["eval"])
    assert all(row["mfu"] is None and row["peak_memory_gb"] is None for row in found["runs"])  # CPU: no peak
    assert found["startup_s"] == pytest.approx(sum(found["startup"].values())) and found["startup"]["imports_s"] > 0
    assert found["checkpoint_bytes"] > 4 * 3 * found["parameters"]["total"]  # fp32 weights and AdamW's two moments
    read = suite.read(suite_file)  # what `xfer-scale plan --bench` reads, checked as it checks it
    assert (read.layers, read.hidden, len(read.runs)) == (2, 64, sum(r["method"] == "ours" for r in found["runs"]))


def test_suite_rows_cover_the_recipes_and_the_comparisons(suite_file: Path) -> None:
    rows = {(r["method"], r["batch_size"], r["grad_accum"], r["packing"], r["compiled"], r["concurrent"])
            for r in json.loads(suite_file.read_text())["runs"]}
    for b, a in (bench.PHASE1, bench.LARGE):
        assert {("ours", b, a, packing, compiled, cells) for packing, compiled, cells in
                [(False, False, 1), (True, False, 1), (False, True, 1), (False, False, 2)]} <= rows
        assert {("hf-default", b, a, False, False, 1), ("hf-tuned", b, a, False, False, 1)} <= rows
    assert ("ours", *bench.PHASE2, False, False, 1) in rows


def test_suite_rows_count_steady_micro_batches_only(suite_file: Path) -> None:
    for row in json.loads(suite_file.read_text())["runs"]:
        if row["method"] == "hf-default":  # every row padded to 128
            assert row["padding_fraction"] == pytest.approx(1 - 39.5 / 128, abs=0.1)
        if row["packing"]:
            assert row["padding_fraction"] == 0.0
        cells = row["concurrent"]
        assert row["total_tokens_per_s"] == pytest.approx(row["tokens_per_s"] * cells)
        if cells == 1:  # a row's examples leave at least `micro_batches` after its warm-up
            assert row["steady_micro_batches"] >= bench.quick(bench.Spec()).micro_batches
        assert 0 < row["tokens_per_micro_batch"] <= row["batch_size"] * 128
        assert row["micro_batch_s"] > 0 and row["optimizer_step_s"] > 0 and row["warmup_s"] > 0
        assert (row["cpu_tokens_per_s"] is None) == (cells > 1)  # CPU time: single cells on the CPU


def marks(*spans: tuple[str, float]) -> list[tuple[str, float]]:
    """A timeline from (kind, seconds since the previous mark)."""
    out, now = [], 100.0
    for kind, seconds in spans:
        now += seconds
        out.append((kind, now))
    return out


def test_steady_state_leaves_out_the_warm_up_and_the_first_zero_grad() -> None:
    """The Trainer zeroes gradients before training (a step mark with no micro-batch); two
    warm-up micro-batches (one step of 2) are left out, with the seconds before them."""
    timeline = marks(("step", 5.0), ("micro", 9.0), ("micro", 8.0), ("step", 7.0),
                     ("micro", 1.0), ("micro", 2.0), ("step", 0.5), ("micro", 3.0), ("micro", 4.0), ("step", 0.25))
    found = bench.steady(timeline, warm_micro=2)
    assert found.micro_s == [1.0, 2.0, 3.0, 4.0] and found.micro_index == [2, 3, 4, 5]
    assert found.step_s == [0.5, 0.25] and found.seconds == 10.75
    assert found.start == 100.0 + 5 + 9 + 8 + 7 and found.end == timeline[-1][1]
    with pytest.raises(UserError, match="within its warm-up"):
        bench.steady(timeline, warm_micro=7)


def test_a_row_is_tokens_over_its_steady_seconds() -> None:
    """3 steady micro-batches of 10, 20 and 30 tokens in 1 + 1 + 2 s, steps of 0.5 and 0.5 s: 60
    tokens in 5 s; T = (100 + 400 + 900) / 60; the warm-up micro-batch (1,000 tokens) is not
    counted, but padding is the whole row's: 1,060 of 2,120 tokens computed."""
    run = bench.RunSpec("ours", 4, 1)
    raw = bench.Raw(run, marks(("micro", 3.0), ("step", 1.0), ("micro", 1.0), ("step", 0.5), ("micro", 1.0),
                               ("step", 0.5), ("micro", 2.0)),
                    [(4, 1000, 10**6, 2000), (4, 10, 100, 40), (4, 20, 400, 40), (4, 30, 900, 40)], warm_micro=1,
                    called_at=99.0, peak_memory_gb=None, padded_tokens=2120)
    row = bench.summarise([raw], SHAPE, peak_tflops=1e-6)
    assert row["tokens_per_s"] == row["total_tokens_per_s"] == 60 / 5
    assert (row["micro_batch_s"], row["optimizer_step_s"], row["tokens_per_micro_batch"]) == (4 / 3, 0.5, 20.0)
    assert row["mfu"] == pytest.approx(SHAPE.training_flops(12.0, 1400 / 60) / 1e6)
    assert row["warmup_s"] == 100.0 + 4 - 99.0 and row["steady_micro_batches"] == 3
    assert row["padding_fraction"] == 0.5 and row["cpu_tokens_per_s"] is None  # no CPU-time marks given
    raw.cpu_marks = [(kind, stamp / 2) for kind, stamp in raw.marks]  # the core was ours half of the time
    assert bench.summarise([raw], SHAPE, None)["cpu_tokens_per_s"] == 60 / 2.5


def test_concurrent_cells_count_only_the_span_all_were_steady() -> None:
    """Cell b starts 2 s later: only the intervals inside 104-108 s, when both were steady, count:
    a's 2nd and 3rd steady micro-batches and b's 1st and 2nd, each 20 tokens in 4 s."""
    run = bench.RunSpec("ours", 4, 1, concurrent=2)
    batches = [(4, 10, 100, 40)] * 5
    a = bench.Raw(run, marks(("micro", 1), ("step", 1), ("micro", 1), ("step", 1), ("micro", 1), ("step", 1),
                             ("micro", 1), ("step", 1)), batches, 1, 100.0, None, 200)
    b = bench.Raw(run, [(kind, stamp + 2) for kind, stamp in a.marks], batches, 1, 102.0, None, 200)
    cells = [bench.steady(r.marks, 1) for r in (a, b)]
    assert bench.overlap(cells) == (104.0, 108.0)
    row = bench.summarise([a, b], SHAPE, None)
    assert row["steady_micro_batches"] == 4
    assert row["tokens_per_s"] == pytest.approx(5.0) and row["total_tokens_per_s"] == pytest.approx(10.0)
    with pytest.raises(UserError, match="never steady at the same time"):
        bench.overlap([cells[0], bench.steady([(k, t + 100) for k, t in b.marks], 1)])


def test_compiled_rows_see_every_shape_in_their_warm_up() -> None:
    """Batches of shapes A A B A C B: with 2 repeats the first two A, the first B and C go
    first (whole steps of 2), then the rest in order; every batch still trains once."""
    batches = [[0], [1], [2], [3], [4], [5]]
    shape = {0: "A", 1: "A", 2: "B", 3: "A", 4: "C", 5: "B"}
    ordered, warm = bench.warm_first(batches, 1, 2, lambda batch: shape[batch[0]], 2)
    assert ordered == [[0], [1], [2], [4], [5], [3]] and warm == 6  # 5 warm-up batches: whole steps of 2
    ordered, warm = bench.warm_first(batches, 1, 2, lambda batch: shape[batch[0]], 1)
    assert ordered == [[0], [2], [4], [1], [3], [5]] and warm == 4
    assert bench.warm_first(batches, 3, 1, None, 9) == (batches, 3)  # eager: the first steps, in their order


def test_counting_collate_reads_real_tokens_from_the_mask() -> None:
    seen: list = []
    collate = bench.Counting(functools.partial(pad_batch, pad_token_id=1), seen)
    collate([{"input_ids": [0, 2], "attention_mask": [1, 1]}, {"input_ids": [0, 5, 6, 2], "attention_mask": [1, 1, 1, 1]}])
    assert seen == [(2, 6, 4 + 16, 8)]


def test_peak_is_read_from_the_device_name() -> None:
    assert bench.peak_from_name("NVIDIA H100 80GB HBM3") == 989.0  # SXM
    assert bench.peak_from_name("NVIDIA H100 PCIe") == 756.0
    assert bench.peak_from_name("NVIDIA H200") == 989.0
    assert bench.peak_from_name("NVIDIA A100-SXM4-80GB") == bench.peak_from_name("NVIDIA A100 80GB PCIe") == 312.0
    assert bench.peak_from_name("NVIDIA H100 NVL") is None and bench.peak_from_name("NVIDIA L4") is None


def test_hf_trainer_divides_its_loss_by_the_accumulation(cache_dir: Path, tmp_path: Path) -> None:
    """XLMRobertaForSequenceClassification takes **kwargs, so the Trainer (5.x) would take its
    per-micro-batch mean for a loss already normalised over the accumulated batch; the bench's
    Trainer divides it by the accumulation, as ours does."""
    tested = bench.Bench(bench.Spec(cache_dir=str(cache_dir)), tmp_path)
    tested.cfg.hidden_dropout_prob = tested.cfg.attention_probs_dropout_prob = 0.0  # one loss, twice
    trainer = tested.hf_trainer("hf-tuned", None, default_data_collator, per_device_train_batch_size=4,
                                gradient_accumulation_steps=4)
    features = bench.synthetic_features(np.array([7, 7, 7, 7]), "classification", tested.cfg, 0)
    inputs = default_data_collator([features[i] for i in range(4)])
    trainer.current_gradient_accumulation_steps = 4
    loss = trainer.training_step(trainer.model, dict(inputs), trainer._get_num_items_in_batch([inputs], "cpu"))
    assert loss.item() == pytest.approx(trainer.model(**inputs).loss.item() / 4, rel=1e-5)


def test_the_time_budget_cuts_a_row_off_and_lists_it(cache_dir: Path, tmp_path: Path) -> None:
    """Past the deadline the next mark stops the row (a compiled row may compile for minutes), and
    a cell waiting for others that stopped gives up at the barrier."""
    with pytest.raises(bench.OutOfTime):
        bench.Timeline(False, deadline=0.0).mark("micro")
    with pytest.raises(bench.OutOfTime):
        bench.barrier(tmp_path, "row0", 0, parties=2, deadline=0.0)
    late = bench.Bench(bench.quick(bench.Spec(cache_dir=str(cache_dir))), tmp_path, deadline=0.0)
    run = bench.RunSpec("ours", 4, 1)
    assert late.rows([run]) == ([], [run])


def test_settings_that_cannot_run_are_refused() -> None:
    with pytest.raises(UserError, match="at least 1"):
        bench.check(bench.Spec(micro_batches=0))
    with pytest.raises(UserError, match="does not compile"):
        bench.check(bench.Spec(suite=False, packing=True, compiled=True))
    bench.check(bench.Spec(suite=False, batch_size=4))  # the phase-1 recipe's batch: no multiple of 8 needed


def test_lengths_are_long_tailed_and_within_the_window() -> None:
    lengths = bench.sample_lengths(20000, "classification", 0)
    assert 35 < lengths.mean() < 45 and lengths.min() >= bench.MIN_LENGTH and lengths.max() == 128
    assert 0.001 < (lengths == 128).mean() < 0.02  # the tail past 128, cut to it


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
