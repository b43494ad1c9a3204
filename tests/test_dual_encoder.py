"""LAReQA and Mewsli-X: the release readers (ids, relevance, query texts as XTREME-R builds
them), SQuAD sentence breaking, the dual encoder's ranking, loss and scores, and whole runs
whose scores recompute from the prediction files they write."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import datasets
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from omegaconf import OmegaConf

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import data, derived_rows, metrics, readers, sentence_breaks
from xfer_scale.errors import UserError
from xfer_scale.formats.dual_encoder import DEV_SCORE, DualEncoder, Index, dev_score, gather_candidates, lowercased


def _paragraph(sentences: list[str], questions: list[tuple[str, str, str]], space: str = " ") -> dict:
    """An XQuAD-R paragraph: `questions` are (id, question, answer), each answer inside one sentence."""
    context, breaks = "", []
    for sentence in sentences:
        context += space if context else ""
        breaks.append([len(context), len(context) + len(sentence)])
        context += sentence
    qas = [{"id": qid, "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
           for qid, q, a in questions]
    return {"context": context, "qas": qas, "sentence_breaks": breaks, "sentences": sentences}


def _write_xquad_r(folder: Path) -> None:
    en = [_paragraph(["It is sunny.", "Ann buys a car.", "It is sunny."], [("q1", "Who buys a car?", "Ann")]),
          _paragraph(["Bo sells a boat.", "Cy paints it."], [("q2", "Who sells a boat?", "Bo"),
                                                               ("q3", "Who paints it?", "Cy")])]
    de = [_paragraph(["Es ist sonnig.", "Ann kauft ein Auto.", "Es ist sonnig."], [("q1", "Wer kauft ein Auto?", "Ann")]),
          _paragraph(["Bo verkauft ein Boot.", "Cy malt es."], [("q2", "Wer verkauft ein Boot?", "Bo"),
                                                                   ("q3", "Wer malt es?", "Cy")])]
    folder.mkdir(parents=True)
    for lang, paragraphs in (("en", en), ("de", de)):
        # two articles, so paragraph numbers must count across them
        document = {"data": [{"title": "A", "paragraphs": paragraphs[:1]}, {"title": "B", "paragraphs": paragraphs[1:]}]}
        (folder / f"{lang}.json").write_text(json.dumps(document), encoding="utf-8")


def test_lareqa_ids_relevance_and_candidate_texts_are_xtreme_rs(tmp_path: Path):
    _write_xquad_r(tmp_path / "xquad-r")
    questions = list(readers.read("lareqa_questions", tmp_path / "xquad-r" / "de.json"))
    assert [q["id"] for q in questions] == ["q1_de", "q2_de", "q3_de"]
    # the answer's sentence in every language's file, paragraph numbers from 1 across articles
    assert questions[0]["relevant"] == ["de_1_1", "en_1_1"]
    assert questions[1]["relevant"] == ["de_2_0", "en_2_0"]
    assert questions[2]["relevant"] == ["de_2_1", "en_2_1"]
    candidates = list(readers.read("lareqa_candidates", tmp_path / "xquad-r" / "en.json"))
    assert [c["id"] for c in candidates] == ["en_1_0", "en_1_1", "en_1_2", "en_2_0", "en_2_1"]
    assert candidates[3]["text"] == "Bo sells a boat." + "Bo sells a boat. Cy paints it."


def test_lareqa_relevance_takes_every_equal_sentence_and_newlines_go(tmp_path: Path):
    folder = tmp_path / "xquad-r"
    folder.mkdir()
    paragraph = _paragraph(["Ann buys a car.", "It rains.", "Ann buys a car."], [("q1", "Who?", "Ann")], space="\n")
    (folder / "en.json").write_text(json.dumps({"data": [{"paragraphs": [paragraph]}]}))
    [question] = readers.read("lareqa_questions", folder / "en.json")
    assert question["relevant"] == ["en_1_0", "en_1_2"]  # utils_lareqa: every sentence equal to the answer's
    candidate = next(iter(readers.read("lareqa_candidates", folder / "en.json")))
    assert candidate["text"] == "Ann buys a car.Ann buys a car.It rains.Ann buys a car."


def test_an_xquad_file_without_sentence_breaks_is_refused_naming_the_release(tmp_path: Path):
    path = tmp_path / "en.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "A.", "qas": []}]}]}))
    with pytest.raises(UserError, match="sentence_breaks.*google-research-datasets/lareqa"):
        list(readers.read("lareqa_candidates", path))


CONTEXT = {"language": "de", "text": "Hallo. Der {alte} Mann sieht Berlin heute.",
           "sentence_spans": [{"start": 0, "end": 6}, {"start": 7, "end": 42}]}


def test_a_mention_query_is_its_sentence_with_the_mention_marked_and_in_front():
    mention = {"example_id": "m1", "mention_span": {"start": 29, "end": 35, "text": "Berlin"}}
    # preprocess_mention: braces in the context become parentheses, the mention is wrapped and prepended
    assert readers.ranking.mention_query(CONTEXT, mention, "f:1") == \
        "Berlin: Der (alte) Mann sieht { Berlin } heute."


def test_a_mention_whose_offsets_do_not_hold_its_text_is_refused():
    mention = {"example_id": "m1", "mention_span": {"start": 28, "end": 34, "text": "Berlin"}}
    with pytest.raises(UserError, match="f:1: mention 'm1' says 'Berlin'"):
        readers.ranking.mention_query(CONTEXT, mention, "f:1")


def test_mewslix_rows(tmp_path: Path):
    mentions = tmp_path / "wikinews_mentions-test.jsonl"
    mentions.write_text(json.dumps({"context": CONTEXT, "mentions": [
        {"example_id": "m1", "mention_span": {"start": 29, "end": 35, "text": "Berlin"}, "entity_id": "Q64"},
        {"example_id": "m2", "mention_span": {"start": 12, "end": 16, "text": "alte"}}]}) + "\n")
    rows = list(readers.read("mewslix_mentions", mentions))
    assert [(r["id"], r["language"], r["relevant"]) for r in rows] == [("m1", "de", ["Q64"]), ("m2", "de", [])]
    entities = tmp_path / "candidate_set_entities.jsonl"
    entities.write_text(json.dumps({"entity_id": "Q64", "title": "Berlin", "description": "Berlin is a city.\nIt is big.",
                                    "sentence_spans": [{"start": 0, "end": 17}, {"start": 18, "end": 28}]}) + "\n")
    assert list(readers.read("mewslix_entities", entities)) == [{"id": "Q64", "text": "Berlin is a city. It is big."}]
    entities.write_text(json.dumps({"title": "no id"}) + "\n")
    with pytest.raises(UserError, match=r"candidate_set_entities.jsonl:1: not a Mewsli-X row"):
        list(readers.read("mewslix_entities", entities))


def test_sentence_breaks_keep_abbreviations_and_initials_and_cut_after_citations():
    text = 'Dr. Smith met J. R. R. Tolkien in the U.S. Army. "It rained." Then 1990 came.[3] After that, e.g. Paris. Why?'
    assert [text[a:b] for a, b in sentence_breaks.sentence_spans(text)] == [
        "Dr. Smith met J. R. R. Tolkien in the U.S. Army.", '"It rained."', "Then 1990 came.[3]",
        "After that, e.g. Paris.", "Why?"]
    assert sentence_breaks.answer_sentence(text, text.index("1990")) == "Then 1990 came.[3]"


def test_squad_rows_become_question_and_answer_sentence_plus_paragraph_pairs():
    context = "Ann buys a car. Bo sells a boat."
    rows = datasets.Dataset.from_list([
        {"context": context, "question": "Who sells?", "answers": {"text": ["Bo"], "answer_start": [16]}},
        {"context": context, "question": "Space?", "answers": {"text": [" "], "answer_start": [15]}},  # between sentences
    ])
    pairs = derived_rows.squad_sentence_pairs(rows, "lareqa")
    assert pairs.to_list() == [{"query": "Who sells?", "candidate": "Bo sells a boat." + context}]


def _format(metric: str = "map", **options) -> DualEncoder:
    task = OmegaConf.create({"name": "t", "format": "dual_encoder", "metric": metric, "format_options": options})
    return DualEncoder(task)


def test_queries_get_their_top_candidates_and_scores_follow_xtremes_definitions():
    fmt = _format()
    index = Index(["a", "b", "c"], torch.eye(3))
    queries = datasets.Dataset.from_list([{"id": "q1", "text": "", "relevant": ["b", "c"]},
                                          {"id": "q2", "text": "", "relevant": ["a"]}])
    features = datasets.Dataset.from_dict({"example_index": [1, 0]})  # features in another order than examples
    logits = [torch.tensor([0.0, 0.2, 1.0]), torch.tensor([0.1, 1.0, 0.5])]
    predictions = fmt.predict(logits, features, queries, index)
    assert predictions == [["b", "c", "a"], ["c", "b", "a"]]
    # q1: hits at ranks 1 and 2, AP = (1/1 + 2/2) / 2 = 1; q2: its one answer at rank 3, AP 1/3
    assert fmt.score(predictions, queries, "en") == pytest.approx({"map@20": 100 * (1 + 1 / 3) / 2})
    assert fmt.submission(predictions, queries) == {"q1": ["b", "c", "a"], "q2": ["c", "b", "a"]}
    # Mewsli-X: reciprocal rank of the one gold entity (q1's at rank 2, q2's at rank 3)
    mentions = datasets.Dataset.from_list([{"id": "q1", "text": "", "relevant": ["c"]},
                                           {"id": "q2", "text": "", "relevant": ["a"]}])
    assert _format("mrr").score(predictions, mentions, "en") == pytest.approx({"map@20": 100 * (1 / 2 + 1 / 3) / 2})
    assert metrics.compute("mrr", {"q": ["x", "y", "g"]}, {"q": ["g"]}, "en") == pytest.approx({"map@20": 100 / 3})


def test_queries_without_gold_write_predictions_but_score_nothing():
    fmt = _format("mrr")
    queries = datasets.Dataset.from_list([{"id": "q1", "text": "", "relevant": []}])
    assert fmt.score([["a"]], queries, "en") == {}


def _pair_rows(pairs: int, width: int = 4, scale: float = 100.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit query and candidate vectors, and the model's rows of them: query, candidate, scale."""
    queries = torch.nn.functional.normalize(torch.randn(pairs, width), dim=-1)
    candidates = torch.nn.functional.normalize(torch.randn(pairs, width), dim=-1)
    return queries, candidates, torch.cat([queries, candidates, torch.full((pairs, 1), scale)], dim=-1)


def test_the_loss_is_cross_entropy_over_the_scaled_in_batch_similarities():
    fmt = _format()
    queries, candidates, rows = _pair_rows(3)

    class One:
        num_processes = 1

    expected = torch.nn.functional.cross_entropy(100.0 * queries @ candidates.T, torch.arange(3))
    assert fmt.loss(rows, {}, One()) == pytest.approx(expected.item())


def test_dev_pairs_score_minus_xtreme_rs_avg_loss_over_batches_of_8_in_order():
    fmt = _format()
    queries, candidates, rows = _pair_rows(10, scale=20.0)
    pairs = datasets.Dataset.from_dict({"query": ["q"] * 10, "candidate": ["c"] * 10})
    features = datasets.Dataset.from_dict({"example_index": list(reversed(range(10)))})  # in another order
    predictions = fmt.predict(list(reversed(rows)), features, pairs)

    def loss(a: int, b: int) -> float:
        logits = 20.0 * queries[a:b] @ candidates[a:b].T
        return torch.nn.functional.cross_entropy(logits, torch.arange(b - a)).item()

    # run_retrieval_qa.evaluate: batches 0-7 and 8-9, each batch's mean loss counting once
    expected = -(loss(0, 8) + loss(8, 10)) / 2
    assert fmt.score(predictions, pairs, "en") == pytest.approx({DEV_SCORE: expected})
    assert dev_score(rows) == pytest.approx(expected)
    assert fmt.selection_metric == DEV_SCORE
    with pytest.raises(UserError, match="dev pairs score minus_loss only"):
        _format(selection_metric="map@20")


def test_lareqas_train_and_dev_splits_are_read_as_the_pairs_its_yaml_names():
    """The pairs are the task's rows (`rows: squad_sentence_pairs`), built by the data layer for
    both splits: the format sees pairs only, and the features cache keeps them."""
    task = compose_cfg("target=lareqa").target
    for split in ("train", "dev"):
        pairs = data.load_split(task, split, "en", str(SMOKE_DATA))
        squad = data.load_split(compose_cfg("intermediate=squad_v1").intermediate, split, "en", str(SMOKE_DATA))
        assert pairs.column_names == ["query", "candidate"] and 0 < len(pairs) <= len(squad)
        assert pairs.to_list() == derived_rows.squad_sentence_pairs(squad, "lareqa").to_list()
    bad = OmegaConf.merge(task, {"splits": {"dev": {"rows": "sentence_pairs"}}})
    with pytest.raises(UserError, match="rows='sentence_pairs' is no row builder; choose one of squad_sentence_pairs"):
        data.load_split(bad, "dev", "en", str(SMOKE_DATA))
    unmapped = task.copy()
    unmapped.splits.dev.local.fields = {"question": "question"}
    with pytest.raises(UserError, match="does not map id, context, answers, which row builder squad_sentence_pairs"):
        data.check_fields(unmapped)  # the builder's inputs are what the split maps, checked at start-up


def test_the_pooler_starts_as_berts_init_weights_leaves_it():
    encoder = torch.nn.Module()
    encoder.config = type("Config", (), {"hidden_size": 512, "initializer_range": 0.05})()
    dense = _format(pooling="cls").build(encoder).head.dense
    # normal(0, initializer_range); PyTorch's default (uniform, bound 1/sqrt(512)) has std 0.026
    assert dense.weight.std().item() == pytest.approx(0.05, rel=0.02)
    assert dense.weight.mean().item() == pytest.approx(0.0, abs=0.001)
    assert torch.equal(dense.bias, torch.zeros(512))


def test_lowercase_lowercases_every_text_one_character_at_a_time_as_transformers_2_did():
    # `lowercase_text` lowers regex matches of one character: a final capital sigma becomes σ, not ς
    assert lowercased("ΟΔΟΣ Ann") == "οδοσ ann" != "ΟΔΟΣ Ann".lower()

    def tokenizer(texts: list[str], truncation: bool, max_length: int) -> dict[str, list]:
        return {"input_ids": [[ord(c) for c in text] for text in texts], "attention_mask": [[1] * len(t) for t in texts]}

    pairs = datasets.Dataset.from_dict({"query": ["Who?"], "candidate": ["Ann."]})
    texts = datasets.Dataset.from_dict({"id": ["c"], "text": ["ΣA"]})
    lowered = _format(lowercase=True, pooling="mean")  # mean: the toy tokenizer puts no <s> first
    assert lowered.encode(pairs, tokenizer, 8)[0]["input_ids"] == [ord(c) for c in "who?"]
    assert lowered.encode(pairs, tokenizer, 8)[0]["candidate_input_ids"] == [ord(c) for c in "ann."]
    assert lowered.encode(texts, tokenizer, 8)[0]["input_ids"] == [ord(c) for c in "σa"]
    assert _format(pooling="mean").encode(texts, tokenizer, 8)[0]["input_ids"] == [ord(c) for c in "ΣA"]


def _gather_worker(rank: int, port: int, out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)

    class Accelerator:
        num_processes, process_index = 2, rank

        @staticmethod
        def gather(tensor: torch.Tensor) -> torch.Tensor:
            parts = [torch.zeros_like(tensor) for _ in range(2)]
            dist.all_gather(parts, tensor)
            return torch.cat(parts)

    own = torch.full((rank + 2, 3), float(rank + 1), requires_grad=True)  # ranks hold 2 and 3 candidates
    gathered, offset = gather_candidates(own, Accelerator())
    gathered.sum().backward()
    torch.save({"gathered": gathered.detach(), "offset": offset, "grad": own.grad}, out / f"{rank}.pt")
    dist.destroy_process_group()


def test_negatives_are_gathered_from_every_process_with_gradients_to_their_own(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_gather_worker, args=(port, tmp_path), nprocs=2)
    for rank in (0, 1):
        result = torch.load(tmp_path / f"{rank}.pt")
        assert result["gathered"].tolist() == [[1.0] * 3] * 2 + [[2.0] * 3] * 3  # unequal batches, unpadded
        assert result["offset"] == (0, 2)[rank]
        # both processes' losses use every candidate: each one's gradient comes back summed, and
        # DDP's average over the processes then gives the gradient of the mean loss
        assert torch.equal(result["grad"], torch.full((rank + 2, 3), 2.0))


def _recomputed(run_dir: Path, data_root: Path, language: str, family: str) -> float:
    """map@20 from the run's prediction file and the gold the release files give."""
    predictions = json.loads((run_dir / "predictions" / ("lareqa" if family == "map" else "mewslix")
                              / f"test-{language}.json").read_text())
    if family == "map":
        rows = readers.read("lareqa_questions", data_root / "lareqa" / "xquad-r" / f"{language}.json")
    else:
        rows = [r for r in readers.read("mewslix_mentions", data_root / "mewslix" / "wikinews_mentions-test.jsonl")
                if r["language"] == language]
    gold = {row["id"]: row["relevant"] for row in rows}
    assert set(predictions) == set(gold) and all(len(ids) == 20 for ids in predictions.values())
    return metrics.compute(family, predictions, gold, language)["map@20"]


SMOKE_DATA = Path(__file__).resolve().parents[1] / "src" / "xfer_scale" / "smoke_data"


@pytest.mark.parametrize("target, family, queries, epochs", [("lareqa", "map", 60, 1), ("mewslix", "mrr", 30, 3)])
def test_a_run_trains_ranks_and_its_scores_recompute_from_its_prediction_files(
        tmp_path: Path, cache_dir: Path, target: str, family: str, queries: int, epochs: int):
    run_dir = tmp_path / "run"
    assert run_cli("intermediate=none", f"target={target}", "target.format_options.pooling=mean",
                   f"target.train.epochs={epochs}", "target.train.eval_every_steps=10",
                   run_dir=run_dir, cache_dir=cache_dir) == 0
    target_phase = pd.read_parquet(run_dir / "phases.parquet").set_index("phase").loc["target"]
    history = json.loads(target_phase["dev_history"])
    if target == "lareqa":  # SQuAD dev selects: scored every 10 steps and at the end, the lowest loss kept
        assert [point["step"] for point in history] == [10, 20, 25] and target_phase["steps"] == 25
        best = max(history, key=lambda point: point["score"])
        assert target_phase["best_step"] == best["step"] and all(point["score"] < 0 for point in history)
    else:  # Mewsli-X has no dev split: the final model
        assert history == [] and target_phase["best_step"] == 0
    results = pd.read_parquet(run_dir / "results.parquet")
    assert sorted(results["language"]) == ["de", "en", "es"]
    assert set(results["metric"]) == {"map@20"} and set(results["n_examples"]) == {queries}
    for row in results.itertuples():
        assert row.value == pytest.approx(_recomputed(run_dir, SMOKE_DATA, row.language, family))
    if target == "mewslix":  # 24 entities: ranking them at random gives about 15
        assert results.set_index("language").loc["en", "value"] > 50


def test_without_its_dev_split_lareqa_keeps_the_final_model(tmp_path: Path, cache_dir: Path):
    run_dir = tmp_path / "run"
    assert run_cli("intermediate=none", "target=lareqa", "~target.splits.dev", "target.format_options.pooling=mean",
                   "target.train.epochs=1", "target.train.eval_every_steps=10", run_dir=run_dir, cache_dir=cache_dir) == 0
    target_phase = pd.read_parquet(run_dir / "phases.parquet").set_index("phase").loc["target"]
    assert (target_phase["steps"], target_phase["best_step"], target_phase["dev_history"]) == (25, 0, "[]")
