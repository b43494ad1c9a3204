"""The span-QA format: XTREME's windows over long contexts, <s> as the label of a window without
the answer, decoding the best span over all windows, SQuAD v2's null answer, the QA task
configs on the bundled data, and a smoke run of SQuAD v1.1 -> XQuAD."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import data, formats, modeling, submission, tiny
from xfer_scale.config import TinyModelConfig
from xfer_scale.errors import UserError
from xfer_scale.formats.span_qa import NOT_CONTEXT, best_span, squad_v2_scores

ANSWER = "The doctor"
# eleven sentences; the answer's sentence is the seventh
SENTENCES = [f"The farmer buys the {a} {n}." for a in ("red", "new") for n in ("car", "house", "book", "table", "bag")]
CONTEXT = " ".join(SENTENCES[:6] + ["The doctor sells the old boat."] + SENTENCES[6:])
START = CONTEXT.index(ANSWER)


def qa_task(**options):
    return OmegaConf.create({"name": "qa", "format": "span_qa", "metric": "squad", "label_names": [],
                             "format_options": options})


def qa_examples(*rows: tuple[str, str, str, list[str]]) -> datasets.Dataset:
    """(id, context, question, answers) rows; answers are found in the context."""
    return datasets.Dataset.from_list([
        {"id": qid, "context": context, "question": question,
         "answers": {"text": answers, "answer_start": [context.index(a) for a in answers]}}
        for qid, context, question, answers in rows
    ])


@pytest.fixture(scope="module")
def tokenizer(cache_dir: Path):
    return modeling.load_tokenizer(str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig()))))


def context_tokens(tokenizer) -> list[tuple[int, int]]:
    return tokenizer(CONTEXT, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]


def first_context_token(feature: dict, offsets: list[tuple[int, int]]) -> int:
    first = next(s for s in feature["offset_start"] if s != NOT_CONTEXT)
    return [start for start, _ in offsets].index(first)


def labelled_text(feature: dict, context: str = CONTEXT) -> str:
    start, end = feature["start_positions"], feature["end_positions"]
    return context[feature["offset_start"][start]:feature["offset_end"][end]]


def test_windows_start_doc_stride_tokens_apart_and_only_whole_answers_are_labelled(tokenizer):
    features = formats.get(qa_task(doc_stride=8)).encode(
        qa_examples(("q", CONTEXT, "Who sells the old boat?", [ANSWER])), tokenizer, 42)
    offsets = context_tokens(tokenizer)
    assert [first_context_token(f, offsets) for f in features] == [0, 8, 16, 24, 32, 40]
    assert set(features["example_index"]) == {0}
    covered = []
    for feature in features:
        first = next(s for s in feature["offset_start"] if s != NOT_CONTEXT)
        last = max(feature["offset_end"])
        covered.append((first <= START, last >= START + len(ANSWER)))
        if feature["start_positions"]:
            assert labelled_text(feature) == ANSWER
    # window 1 ends inside the answer ("The" | "doctor"): it points at <s>; window 2 holds it
    assert covered[1] == (True, False) and features[1]["start_positions"] == features[1]["end_positions"] == 0
    assert [f["start_positions"] > 0 for f in features] == [all(c) for c in covered] == [False, False, True, True, True, False]
    assert len(features[0]["input_ids"]) == 42 and all(len(f["input_ids"]) <= 42 for f in features)


def test_a_doc_stride_that_does_not_fit_moves_windows_by_half_the_room(tokenizer):
    """The smoke experiment's max_length 64 (here 40) leaves less room than doc_stride 128."""
    features = formats.get(qa_task()).encode(
        qa_examples(("q", CONTEXT, "Who sells the old boat?", [ANSWER])), tokenizer, 40)
    question = len(tokenizer.tokenize("Who sells the old boat?"))
    step = (40 - 4 - question) // 2  # XLM-R adds 4 special tokens to a pair
    assert [first_context_token(f, context_tokens(tokenizer)) for f in features] == [0, step, 2 * step, 3 * step]
    assert {labelled_text(f) for f in features if f["start_positions"]} == {ANSWER}


def test_long_questions_are_cut_and_too_short_windows_refused(tokenizer):
    fmt = formats.get(qa_task(max_query_length=3))
    context = "The man sees the car."
    feature = fmt.encode(qa_examples(("q", context, "Who sees the red car in the park?", ["The man"])), tokenizer, 64)[0]
    question = feature["input_ids"][1:feature["input_ids"].index(tokenizer.sep_token_id)]
    assert question == tokenizer("Who sees the red car in the park?", add_special_tokens=False)["input_ids"][:3]
    assert labelled_text(feature, context) == "The man"
    with pytest.raises(UserError, match="max_length=6 leaves no room"):
        fmt.encode(qa_examples(("q", "The man sees the car.", "Who?", ["The man"])), tokenizer, 6)


def test_best_span_skips_invalid_spans_and_respects_the_limits():
    start = np.array([9.0, 1.0, 5.0, 2.0, 0.0])
    end = np.array([9.0, 0.0, 1.0, 6.0, 3.0])
    context = np.array([False, True, True, True, True])  # <s> is never a span
    assert best_span(start, end, context, n_best=20, max_answer_length=30) == (11.0, 2, 3)
    assert best_span(start, end, context, n_best=20, max_answer_length=1) == (8.0, 3, 3)
    assert best_span(start, end, context, n_best=1, max_answer_length=30) is None  # the only candidates: <s>
    backwards = best_span(np.array([0.0, 0.0, 7.0]), np.array([0.0, 7.0, 1.0]), np.array([False, True, True]), 20, 30)
    assert backwards == (8.0, 2, 2)  # the end logit's peak lies before the start's
    assert best_span(start, end, np.zeros(5, dtype=bool), 20, 30) is None


def two_window_features(scores: list[tuple[int, int, float, float]]) -> tuple[list[torch.Tensor], datasets.Dataset]:
    """One example, a window per (start token, end token, span logit, null logit) over the
    tokens [<s>, q, </s>, "The", "farmer", "buys"]."""
    context = [(0, 3), (4, 10), (11, 15)]
    logits, rows = [], []
    for start, end, span, null in scores:
        feature = torch.zeros(6, 2)
        feature[0] = null / 2
        feature[start, 0] += span / 2
        feature[end, 1] += span / 2
        logits.append(feature)
        rows.append({"offset_start": [NOT_CONTEXT] * 3 + [s for s, _ in context],
                     "offset_end": [NOT_CONTEXT] * 3 + [e for _, e in context], "example_index": 0})
    return logits, datasets.Dataset.from_list(rows)


def test_predict_takes_the_best_span_over_all_windows():
    examples = qa_examples(("q", "The farmer buys.", "Who buys?", ["The farmer"]))
    fmt = formats.get(qa_task())
    logits, features = two_window_features([(5, 5, 4.0, 0.0), (3, 4, 6.0, 0.0)])
    assert fmt.predict(logits, features, examples) == ["The farmer"]
    logits, features = two_window_features([(5, 5, 7.0, 0.0), (3, 4, 6.0, 0.0)])
    assert fmt.predict(logits, features, examples) == ["buys"]
    assert fmt.score(["farmer"], examples, "en") == {"exact_match": 100.0, "f1": 100.0}
    assert fmt.submission(["The farmer"], examples) == {"q": "The farmer"}


def test_unanswerable_questions_point_at_s_and_the_null_score_decides(tokenizer):
    v2, v1 = formats.get(qa_task(unanswerable=True)), formats.get(qa_task())
    features = v2.encode(qa_examples(("q", CONTEXT, "Who sells the red boat?", [])), tokenizer, 40)
    assert len(features) > 1 and set(features["start_positions"]) == set(features["end_positions"]) == {0}
    examples = qa_examples(("q", "The farmer buys.", "Who sells?", []))
    # the null score is the lowest over the windows: 5 here, under the best span's 6
    logits, rows = two_window_features([(3, 4, 6.0, 9.0), (3, 3, 1.0, 5.0)])
    assert v2.predict(logits, rows, examples) == ["The farmer"]
    logits, rows = two_window_features([(3, 4, 6.0, 9.0), (3, 3, 1.0, 7.0)])
    assert v2.predict(logits, rows, examples) == [""] and v1.predict(logits, rows, examples) == ["The farmer"]
    assert v2.score([""], examples, "en") == {"exact_match": 100.0, "f1": 100.0}


def test_squad_v2_scores_answerable_and_unanswerable_questions_together():
    golds = {"a": ["Paris"], "b": [], "c": ["the old town"], "d": []}
    assert squad_v2_scores({"a": "Paris", "b": "", "c": "old town", "d": "The"}, golds) == {"exact_match": 100.0, "f1": 100.0}
    scores = squad_v2_scores({"a": "Paris", "b": "London", "c": "town"}, golds)  # no prediction for "d": 0
    assert scores["exact_match"] == 25.0 and scores["f1"] == pytest.approx(100 * (1 + 0 + 2 / 3 + 0) / 4)
    assert squad_v2_scores({"b": "x"}, {"b": []}) == {"exact_match": 0.0, "f1": 0.0}


def test_bad_options_metric_and_duplicate_ids_are_user_errors():
    with pytest.raises(UserError, match="unknown span_qa format_options doc_strid.*doc_stride"):
        formats.get(qa_task(doc_strid=64))
    with pytest.raises(UserError, match="max_answer_length=0 must be a positive"):
        formats.get(qa_task(max_answer_length=0))
    with pytest.raises(UserError, match="task.metric=accuracy needs labels, which format span_qa"):
        formats.get(OmegaConf.create({"name": "qa", "format": "span_qa", "metric": "accuracy", "label_names": []}))
    examples = qa_examples(("q", "A b.", "Who?", ["A"]), ("q", "C d.", "Who?", ["C"]))
    with pytest.raises(UserError, match="question id 'q' appears twice"):
        formats.get(qa_task()).score(["A", "C"], examples, "en")


def test_qa_task_configs_read_the_bundled_release_files():
    cfg = compose_cfg("experiment=smoke", "target=tydiqa")
    train = data.load_split(cfg.target, "train", "en", cfg.data.root)  # one file of all languages
    assert len(train) == 400 and all(qid.startswith("english-") for qid in train["id"])
    finnish = data.load_split(cfg.target, "test", "fi", cfg.data.root)
    assert len(finnish) == 50 and all(qid.startswith("finnish-") for qid in finnish["id"])
    squad_v2 = compose_cfg("experiment=smoke", "intermediate=squad_v2").intermediate
    dev = data.load_split(squad_v2, "dev", "en", cfg.data.root)
    unanswerable = sum(not answers["text"] for answers in dev["answers"])
    assert 0 < unanswerable < len(dev) and formats.get(squad_v2).options["unanswerable"]
    mlqa = compose_cfg("experiment=smoke", "target=mlqa").target
    assert formats.get(mlqa).metric_family == "mlqa"
    assert len(data.load_split(mlqa, "dev", "zh", cfg.data.root)) == 40


PARAGRAPH = "The man paints the red house."


def squad_release(root: Path, task: str, file: str, answers: list[dict]) -> Path:
    """A SQuAD JSON file under `root/task/` whose second question, `bad`, has `answers`."""
    qas = [{"id": "ok", "question": "The man paints what?", "answers": [{"text": "the red house", "answer_start": 15}]},
           {"id": "bad", "question": "Who paints?", "answers": answers}]
    path = root / task / file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": PARAGRAPH, "qas": qas}]}]}))
    return path


TRAINING_FAULTS = [
    ([], "training question 'bad' has no answer, and the task has no unanswerable questions "
         "(format_options.unanswerable: false); give it its answer, or remove it."),
    ([{"text": "house", "answer_start": 40}], "question 'bad': answer 'house' at answer_start 40 lies outside its "
                                               "29-character context; answer_start must count characters of the context."),
    ([{"text": "The man", "answer_start": -1}], "question 'bad': answer 'The man' at answer_start -1 lies outside"),
    ([{"text": "The man", "answer_start": 1}], "question 'bad': answer 'The man' is not at answer_start 1 of its context "
                                                "(found 'he man '); answer_start must count characters of the context."),
]


@pytest.mark.parametrize("answers, message", TRAINING_FAULTS)
def test_a_training_question_needs_its_answer_at_its_offset(tmp_path: Path, answers, message):
    task = compose_cfg("experiment=smoke", "intermediate=squad_v1").intermediate
    path = squad_release(tmp_path, "squad_v1", "train-v1.1.json", answers)
    with pytest.raises(UserError) as raised:
        data.load_split(task, "train", "en", str(tmp_path))
    assert str(raised.value).startswith(f"squad_v1 train [en] ({path}, row 2): {message}")


@pytest.mark.parametrize("answers, message", TRAINING_FAULTS[1:])
def test_hub_training_answers_are_checked_too(monkeypatch, answers, message):
    rows = {"id": ["bad"], "context": [PARAGRAPH], "question": ["Who?"],
            "answers": [{"text": [a["text"] for a in answers], "answer_start": [a["answer_start"] for a in answers]}]}
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_dict(rows))
    task = compose_cfg("experiment=smoke", "intermediate=squad_v1").intermediate
    with pytest.raises(UserError, match=r"^squad_v1 train \[en\] \(hub rajpurkar/squad train, row 1\): question 'bad'"):
        data.load_split(task, "train", "en", data_root=None)


def test_unanswerable_training_questions_and_evaluation_offsets_pass(tmp_path: Path):
    """SQuAD v2 trains on questions without answers; evaluation scores answer texts alone."""
    squad_v2 = compose_cfg("experiment=smoke", "intermediate=squad_v2").intermediate
    squad_release(tmp_path, "squad_v2", "train-v2.0.json", [])
    assert data.load_split(squad_v2, "train", "en", str(tmp_path))["answers"][1] == {"text": [], "answer_start": []}
    squad_v1 = compose_cfg("experiment=smoke", "intermediate=squad_v1").intermediate
    squad_release(tmp_path, "squad_v1", "dev-v1.1.json", [{"text": "The man", "answer_start": 1}])
    assert len(data.load_split(squad_v1, "dev", "en", str(tmp_path))) == 2


def test_squad_to_xquad_smoke_run_learns_english_and_writes_xtreme_files(cache_dir: Path, tmp_path: Path):
    run_dir = tmp_path / "xquad"
    assert run_cli("intermediate=squad_v1", "target=xquad", run_dir=run_dir, cache_dir=cache_dir) == 0
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert sorted(frame.language.unique()) == ["de", "en", "es", "zh"]
    assert set(frame.split) == {"test"} and set(frame.metric) == {"exact_match", "f1"}
    assert frame.value.between(0, 100).all() and (frame.n_examples == 60).all()
    assert frame.intermediate_examples.unique().tolist() == [400]
    english = frame.query("language == 'en'").set_index("metric").value
    # a question-blind guess (the context's first two words) scores 25 F1 on this set
    assert english["f1"] >= 50 and english["exact_match"] >= 40
    answers = submission.read_predictions(run_dir / "predictions" / "xquad" / "test-de.json", "xquad")
    gold = json.loads((Path(data.__file__).parent / "smoke_data" / "xquad" / "xquad.de.json").read_text())
    assert set(answers) == {qa["id"] for article in gold["data"] for p in article["paragraphs"] for qa in p["qas"]}
