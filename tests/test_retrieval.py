"""Retrieval (Tatoeba) and bitext mining (BUCC): pooling, search, XTREME's mining and threshold,
scores on hand-made embeddings, and the smoke runs of both targets."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from transformers import XLMRobertaConfig, XLMRobertaModel

from xfer_scale import modeling
from xfer_scale.errors import UserError
from xfer_scale.formats import retrieval
from xfer_scale.formats.classification import Classification
from xfer_scale.formats.retrieval import Retrieval
from tests.conftest import run_cli


def task(metric: str = "accuracy", **options) -> Retrieval:
    return Retrieval(OmegaConf.create({"name": "t", "metric": metric, "label_names": [], "format_options": options}))


def side_rows(n_pairs: int, extra_targets: int = 0) -> datasets.Dataset:
    """Pairs as read_aligned_text gives them (s<i> with gold t<i>, then t<i>), plus unmatched targets."""
    rows = []
    for i in range(n_pairs):
        rows += [{"id": f"s{i}", "text": f"source {i}", "side": "source", "gold": f"t{i}"},
                 {"id": f"t{i}", "text": f"target {i}", "side": "target", "gold": ""}]
    rows += [{"id": f"x{i}", "text": f"other {i}", "side": "target", "gold": ""} for i in range(extra_targets)]
    return datasets.Dataset.from_list(rows)


def embedded(rows: datasets.Dataset, vectors: list[list[float]]) -> tuple[list[torch.Tensor], datasets.Dataset]:
    """Given row embeddings as the model's outputs (features in reverse order, as any order must do)."""
    features = datasets.Dataset.from_dict({"example_index": list(range(len(retrieval.sides(rows))))[::-1]})
    return [torch.tensor(v) for v in vectors[::-1]], features


def predict(fmt: Retrieval, rows: datasets.Dataset, vectors: list[list[float]], threshold: float | None = None) -> list:
    return fmt.predict(*embedded(rows, vectors), rows, threshold)


def tiny_encoder() -> XLMRobertaModel:
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    return XLMRobertaModel(config, add_pooling_layer=False).eval()


# --- embeddings ----------------------------------------------------------------------------


def test_mean_pool_averages_real_tokens_only():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    pooled = retrieval.mean_pool(hidden, mask)
    assert torch.equal(pooled[0], hidden[0, :3].mean(0))
    assert torch.equal(pooled[1], hidden[1, 0])


def test_model_pools_the_chosen_layer_and_padding_changes_nothing():
    encoder = tiny_encoder()
    model = task(layer=1).build(encoder)
    short = torch.tensor([[0, 5, 6, 2]])
    batch = torch.tensor([[0, 5, 6, 2, 1, 1], [0, 7, 8, 9, 10, 2]])
    mask = (batch != 1).long()
    with torch.no_grad():
        alone = model(short, torch.ones_like(short))
        padded = model(batch, mask)
        states = tiny_encoder()(input_ids=short, attention_mask=torch.ones_like(short), output_hidden_states=True).hidden_states
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone[0], states[1][0].mean(0))


@pytest.mark.parametrize("layer, depth, index", [(14, 24, 14), (14, 2, 2), (-1, 24, 24), (-25, 24, 0), (0.583, 12, 7)])
def test_resolve_layer(layer, depth, index):
    assert retrieval.resolve_layer(layer, depth) == index


def test_resolve_layer_errors_and_warns(caplog):
    with pytest.raises(UserError, match="only 3 hidden states"):
        retrieval.resolve_layer(-4, 2)
    with caplog.at_level(logging.WARNING):
        retrieval.resolve_layer(14, 2)
    assert "layer 14 asked for, but the model has 2 layers" in caplog.text


def test_a_head_is_loaded_only_where_the_manifest_says_it_fits(tmp_path):
    """target.checkpoint=DIR may be a phase-2 model of another format: retrieval uses only its
    encoder; a format that trains loads a head only of its own format and labels."""
    classification = Classification(OmegaConf.create({"name": "c", "label_names": ["a", "b"]}))
    trained = classification.build(tiny_encoder())
    torch.nn.init.constant_(trained.head.out.weight, 0.5)
    tokenizer = type("NoTokenizer", (), {"save_pretrained": lambda self, out: None})()
    modeling.save(trained, tokenizer, tmp_path, classification, with_head=True, identity="run-a")

    model = modeling.load(str(tmp_path), task(), with_head=False)
    assert isinstance(model, retrieval.PooledLayerModel) and not set(model.state_dict()) - {
        name for name in model.state_dict() if name.startswith("encoder.")}
    loaded = modeling.load(str(tmp_path), classification, with_head=True)
    assert torch.equal(loaded.head.out.weight, trained.head.out.weight)
    assert not torch.equal(modeling.load(str(tmp_path), classification, with_head=False).head.out.weight,
                           trained.head.out.weight)  # a fresh head unless one is asked for
    three_labels = Classification(OmegaConf.create({"name": "c3", "label_names": ["a", "b", "c"]}))
    with pytest.raises(UserError, match=r"holds a classification head over labels \['a', 'b'\]"):
        modeling.load(str(tmp_path), three_labels, with_head=True)
    (tmp_path / modeling.MANIFEST_FILE).unlink()  # a folder without a manifest holds an encoder alone
    with pytest.raises(UserError, match="holds no trained head"):
        modeling.load(str(tmp_path), classification, with_head=True)


# --- search, mining, threshold ----------------------------------------------------------------


def test_top_k_cosine_is_exact_and_scale_free(monkeypatch):
    monkeypatch.setattr(retrieval, "SIMILARITIES_PER_CHUNK", 3)  # one query a chunk
    database = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    queries = torch.tensor([[10.0, 1.0], [-1.0, -2.0], [3.0, 3.5]])
    sims, index = retrieval.top_k_cosine(queries, database, 2)
    assert index.tolist() == [[0, 2], [3, 0], [2, 1]]
    assert sims[0, 0].item() == pytest.approx(10 / 101 ** 0.5)
    assert sims[1].tolist() == pytest.approx([5 ** -0.5, -(5 ** -0.5)])
    assert sims[2, 0].item() == pytest.approx(6.5 / (2 * 21.25) ** 0.5)


def test_mine_scores_with_the_ratio_margin_and_keeps_pairs_one_to_one():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.9, 0.1, 0.0]])
    y = torch.tensor([[1.0, 0.05, 0.0], [0.0, 1.0, 0.1], [0.0, 0.0, 1.0]])
    sources, targets, scores = retrieval.mine(x, y, k=2)
    # x0 and x2 both prefer y0; x0 is the better pair, so x2 is left without a target. y2 has
    # cosine 0 with every source, so its proposal scores 0 and is not written.
    cos = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    forward_mean = cos.topk(2, dim=1).values.mean(1)
    backward_mean = cos.T.topk(2, dim=1).values.mean(1)
    margin = cos / ((forward_mean[:, None] + backward_mean[None, :]) / 2)
    assert list(zip(sources.tolist(), targets.tolist())) == [(1, 1), (0, 0)]  # best first
    assert scores.tolist() == pytest.approx([margin[1, 1].item(), margin[0, 0].item()])
    assert margin[2, 0] < margin[0, 0] and margin[2, 0] > margin[2, 1]


def test_tune_threshold_takes_the_first_f1_peak():
    scores = np.array([0.6, 0.9, 0.5, 0.8, 0.7])
    correct = np.array([True, True, False, False, True])
    # Best first: 0.9 ok, 0.8 no, 0.7 ok, 0.6 ok, 0.5 no; with 4 gold pairs F1 = 2 hits / (extracted + 4):
    # 0.4, 0.33, 0.57, 0.75, 0.67 -> the peak at 0.6, halfway to 0.5.
    assert retrieval.tune_threshold(scores, correct, 4) == pytest.approx(0.55)
    # 2 gold pairs, 0.9 ok, 0.8 no, 0.7 ok: F1 0.67, 0.5, 0.8 -> the peak is the last candidate.
    assert retrieval.tune_threshold(np.array([0.8, 0.7, 0.9]), np.array([False, True, True]), 2) == pytest.approx(0.7)
    assert retrieval.tune_threshold(scores, np.zeros(5, dtype=bool), 4) == 0.0


# --- the format on hand-made embeddings --------------------------------------------------------


def test_tatoeba_accuracy_searches_with_english_queries_by_default():
    rows = side_rows(3)
    # Rows s0 t0 s1 t1 s2 t2; t2 lies nearest to s1, so the English query t2 retrieves source 1.
    vectors = [[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 1, 0.1], [0, 0, 1], [0.1, 0.9, 0.05]]
    fmt = task()
    predictions = predict(fmt, rows, vectors)
    assert predictions == [0, 1, 1]
    assert fmt.references(rows) == [0, 1, 2]
    assert fmt.score(predictions, rows, "de") == {"accuracy": pytest.approx(200 / 3)}
    assert fmt.basis is None  # nothing tuned on dev


def test_tatoeba_source_queries_and_hub_pairs_give_the_same_rows():
    pairs = datasets.Dataset.from_dict({"source": ["a", "b"], "target": ["A", "B"]})
    assert retrieval.sides(pairs).to_list() == [
        {"id": "s0", "text": "a", "side": "source", "gold": "t0"},
        {"id": "t0", "text": "A", "side": "target", "gold": ""},
        {"id": "s1", "text": "b", "side": "source", "gold": "t1"},
        {"id": "t1", "text": "B", "side": "target", "gold": ""},
    ]
    fmt = task(query_side="source")
    predictions = predict(fmt, pairs, [[1, 0], [1, 0.1], [1, 0.2], [0, 1]])  # rows s0 t0 s1 t1: s1 is nearer t0
    assert predictions == [0, 0]
    assert fmt.score(predictions, pairs, "de") == {"accuracy": 50.0}


def test_bucc_threshold_comes_from_dev_and_applies_to_test():
    fmt = task("bucc")
    rows = side_rows(2, extra_targets=1)  # s0 t0 s1 t1, and x0 without a translation
    vectors = [[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0, 1, 0.5], [0, 0, 1]]
    with pytest.raises(UserError, match="keep dev before test"):
        predict(fmt, rows, vectors)  # no threshold tuned yet
    threshold = fmt.basis.fit(*embedded(rows, vectors), rows)
    _, _, scores = retrieval.mine(torch.tensor(vectors[0::2][:2]), torch.tensor([vectors[1], vectors[3], vectors[4]]))
    assert threshold == pytest.approx(scores.min())  # F1 peaks at the last candidate
    dev = predict(fmt, rows, vectors, threshold)
    assert sorted(dev) == [("s0", "t0"), ("s1", "t1")]
    assert fmt.score(dev, rows, "de") == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
    assert len(fmt.references(rows)) == 2  # the score is over 2 pairs (n_examples), of 5 rows
    test = predict(fmt, rows, vectors, float(scores.mean()))  # a threshold tuned elsewhere applies as given
    assert len(test) == 1 and fmt.score(test, rows, "de")["recall"] == 50.0


def test_bucc_without_gold_writes_predictions_but_scores_nothing():
    fmt = task("bucc")
    rows = datasets.Dataset.from_list([{**row, "gold": ""} for row in side_rows(2)])
    predictions = predict(fmt, rows, [[1, 0], [1, 0.1], [0, 1], [0.1, 1]], 0.0)
    assert sorted(predictions) == [("s0", "t0"), ("s1", "t1")]
    assert fmt.score(predictions, rows, "fr") == {}


@pytest.mark.parametrize("metric, options, message", [
    ("f1", {}, "task.metric='f1' is no registered metric"),
    ("accuracy", {"layers": 3}, "unknown .*format_options layers"),
    ("accuracy", {"layer": 1.5}, "must be an index"),
    ("accuracy", {"query_side": "english"}, "query_side='english'"),
])
def test_bad_task_configs_are_user_errors(metric, options, message):
    with pytest.raises(UserError, match=message):
        task(metric, **options)


def test_a_cut_pair_is_a_user_error():
    with pytest.raises(UserError, match="eval.max_examples cuts rows"):
        task().references(side_rows(2).select([1, 2, 3]))  # t0 without s0


# --- the smoke runs ----------------------------------------------------------------------------


@pytest.mark.parametrize("target, splits, n_examples, metrics", [
    ("tatoeba", ["test"], {"test": 60}, ["accuracy"]),
    ("bucc", ["dev", "test"], {"dev": 30, "test": 40}, ["f1", "precision", "recall"]),
])
def test_smoke_run(tmp_path: Path, cache_dir: Path, target, splits, n_examples, metrics):
    assert run_cli("intermediate=none", f"target={target}", run_dir=tmp_path, cache_dir=cache_dir) == 0
    frame = pd.read_parquet(tmp_path / "results.parquet")
    assert sorted(frame["language"].unique()) == ["de", "es", "fr"]
    assert len(frame) == 3 * len(splits) * len(metrics)
    for (split, metric), block in frame.groupby(["split", "metric"]):
        assert split in splits and metric in metrics and len(block) == 3
        assert (block["n_examples"] == n_examples[split]).all()
        assert block["value"].between(0, 100).all()
    folder = "bucc2018" if target == "bucc" else target  # XTREME's submission layout
    assert sorted(p.name for p in (tmp_path / "predictions" / folder).iterdir()) == [
        "test-de.tsv", "test-es.tsv", "test-fr.tsv"]


def test_the_layers_above_the_pooled_one_are_not_run_and_the_encoder_stays_whole():
    """Pooling layer 3 of 6 runs a view of the first 3 layers (the same weights): the embeddings
    equal those of the whole encoder, which a later phase may still train or save."""
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=6, num_attention_heads=4,
                              intermediate_size=64, pad_token_id=1)
    encoder = XLMRobertaModel(config, add_pooling_layer=False).eval()
    ids = torch.randint(3, 100, (4, 9))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0
    with torch.no_grad():  # before the view exists: transformers records hidden states by hooks on the layers
        whole = encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[3]
    model = task(layer=3).build(encoder)
    assert len(model.encoder.encoder.layer) == 3 and len(encoder.encoder.layer) == 6
    assert model.encoder.encoder.layer[0] is encoder.encoder.layer[0]
    with torch.no_grad():
        torch.testing.assert_close(model(ids, mask), retrieval.mean_pool(whole, mask), atol=1e-6, rtol=1e-6)
