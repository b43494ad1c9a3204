"""Metric functions against hand-computed values (XTREME's official rules)."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from xfer_scale.errors import UserError
from xfer_scale.metrics import (
    accuracy,
    bucc_scores,
    compute,
    mlqa_scores,
    normalize_mlqa,
    normalize_squad,
    seqeval_scores,
    squad_scores,
    token_accuracy,
)

# --- accuracy -------------------------------------------------------------------------


def test_accuracy_compares_ints_and_strings_as_text():
    assert accuracy([1, 0, "1", 2], ["1", "0", 1, 1]) == {"accuracy": 75.0}


def test_accuracy_rejects_length_mismatch_and_empty_input():
    with pytest.raises(UserError, match="2 predictions for 3 references"):
        accuracy([1, 0], [1, 0, 1])
    with pytest.raises(UserError, match="no examples"):
        accuracy([], [])


# --- seqeval ----------------------------------------------------------------------------


def test_seqeval_bio_spans_with_type_switch_and_spurious_entity():
    refs = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
    # PER right; LOC predicted as ORG; the I-ORG-initial ORG span still matches (seqeval's
    # default, conlleval-like mode); a spurious MISC at the end.
    preds = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "I-ORG", "I-ORG", "B-MISC"]]
    scores = seqeval_scores(preds, refs)
    # 2 correct of 4 predicted and 3 gold spans.
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(400 / 7)
    assert scores["accuracy"] == pytest.approx(62.5)  # 5 of 8 tags: B-ORG, I-ORG, B-MISC wrong


def test_seqeval_split_span_scores_zero():
    scores = seqeval_scores([["B-PER", "B-PER"]], [["B-PER", "I-PER"]])
    assert scores["f1"] == scores["precision"] == scores["recall"] == 0.0
    assert scores["accuracy"] == 50.0


def test_seqeval_on_pos_tags_chunks_like_xtreme():
    # seqeval reads "NOUN" as prefix N + type OUN: repeated tags merge into one span, and
    # CCONJ/SCONJ share the type CONJ, so confusing them costs nothing in span F1.
    refs = [["DET", "NOUN", "NOUN", "VERB", "PUNCT"], ["NOUN", "CCONJ", "NOUN"]]
    preds = [["DET", "NOUN", "PROPN", "VERB", "PUNCT"], ["NOUN", "SCONJ", "NOUN"]]
    scores = seqeval_scores(preds, refs)
    # gold spans 4 + 3, predicted 5 + 3, correct 3 + 3
    assert scores["precision"] == pytest.approx(75.0)
    assert scores["recall"] == pytest.approx(600 / 7)
    assert scores["f1"] == pytest.approx(80.0)
    assert token_accuracy(preds, refs) == {"accuracy": 75.0}


BIO_TAGS = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
UPOS_TAGS = ["NOUN", "PROPN", "VERB", "AUX", "DET", "ADP", "PUNCT", "CCONJ", "SCONJ", "ADJ", "X", "NUM"]


def _random_tagging(rng: random.Random, tags: list[str], n: int) -> tuple[list[list[str]], list[list[str]]]:
    """Gold sentences, and predictions that keep most tags and swap some, as a tagger's would."""
    refs = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(n)]
    preds = [[t if rng.random() < 0.7 else rng.choice(tags) for t in sent] for sent in refs]
    return preds, refs


@pytest.mark.parametrize("tags", [BIO_TAGS, UPOS_TAGS], ids=["bio", "upos"])
def test_seqeval_scores_equal_seqeval_functions(tags):
    """One span extraction for the three scores gives seqeval's numbers, zero-division cases included."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rng = random.Random(0)
        cases = [_random_tagging(rng, tags, n) for n in (1, 3, 50, 400) for _ in range(5)]
        cases += [([["O", "O"]], [["B-PER", "O"]]), ([["B-PER", "O"]], [["O", "O"]]), ([["O"]], [["O"]])]
        for preds, refs in cases:
            scores = seqeval_scores(preds, refs)
            expected = {"f1": f1_score, "precision": precision_score, "recall": recall_score}
            for name, function in expected.items():
                assert scores[name] == pytest.approx(100.0 * function(refs, preds), abs=1e-12, rel=0)


def test_seqeval_rejects_misaligned_sentences():
    with pytest.raises(UserError, match="sentence 1 has 1 predicted tags for 2"):
        seqeval_scores([["O"], ["O"]], [["O"], ["O", "O"]])
    with pytest.raises(UserError, match="1 predicted sentences for 2"):
        seqeval_scores([["O"]], [["O"], ["O"]])


# --- SQuAD ------------------------------------------------------------------------------


def test_normalize_squad_drops_ascii_punctuation_and_english_articles_only():
    assert normalize_squad("The  Eiffel-Tower, an icon!") == "eiffeltower icon"
    assert normalize_squad("la casa") == "la casa"
    assert normalize_squad("«Madrid»") == "«madrid»"  # not ASCII punctuation


def test_squad_em_f1_best_gold_and_unanswered_questions():
    refs = {
        "q1": ["Madrid", "la ciudad de Madrid"],
        "q2": ["the red fox"],
        "q3": ["1492"],
        "q4": ["la casa"],
    }
    preds = {"q1": "Madrid.", "q2": "a red fox jumped", "q4": "casa", "extra": "ignored"}
    scores = squad_scores(preds, refs)
    # EM: q1 only. F1: q1 1, q2 P 2/3 R 1 -> 0.8, q3 unanswered 0, q4 P 1 R 1/2 -> 2/3.
    assert scores["exact_match"] == pytest.approx(25.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 0 + 2 / 3) / 4)


def test_squad_empty_normalised_answers_match_exactly_but_score_zero_f1():
    assert squad_scores({"q": "The"}, {"q": ["a"]}) == {"exact_match": 100.0, "f1": 0.0}


# --- MLQA -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "The Cat, a pet!", "cat pet"),
        ("es", "El gato y la casa de los niños", "gato y casa de niños"),
        ("de", "Der Hund, die Katze und das Haus", "hund katze und haus"),
        ("vi", "Cái bàn của tôi là những", "bàn tôi"),
        # Every "ال" goes, even mid-word: the MLQA script's quirk.
        ("ar", "الكتاب فالعمل", "كتاب ف عمل"),
        ("hi", "यह एक किताब है।", "यह एक किताब है"),  # danda is Unicode punctuation
        ("zh", "他说：Hello World！", "他 说 hello world"),
        ("zh", "2019年发布", "2019 年 发 布"),
        ("en", "«Madrid»", "madrid"),
    ],
)
def test_normalize_mlqa_per_language(language, text, expected):
    assert normalize_mlqa(text, language) == expected


def test_mlqa_articles_are_per_language():
    # "die" is an article in German only; English keeps it.
    preds, refs = {"q": "Hauptstadt"}, {"q": ["die Hauptstadt"]}
    assert mlqa_scores(preds, refs, "de")["exact_match"] == 100.0
    assert mlqa_scores(preds, refs, "en")["exact_match"] == 0.0


def test_mlqa_chinese_scores_on_characters():
    preds = {"a": "电动势 源。", "b": "2019年发布"}
    scores = mlqa_scores(preds, {"a": ["电动势源"], "b": ["2019年"]}, "zh")
    # b: predicted [2019, 年, 发, 布] vs gold [2019, 年]: P 1/2, R 1 -> F1 2/3
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)


def test_mlqa_rejects_languages_without_rules():
    with pytest.raises(UserError, match="no answer normalisation for language 'fr'"):
        mlqa_scores({}, {"q": ["x"]}, "fr")


# --- BUCC -------------------------------------------------------------------------------


def test_bucc_scores_over_pair_sets():
    gold = [("de-1", "en-1"), ("de-2", "en-2"), ("de-3", "en-3"), ("de-4", "en-4")]
    predicted = [("de-1", "en-1"), ("de-2", "en-3"), ("de-3", "en-3"), ("de-1", "en-1")]
    scores = bucc_scores(predicted, gold)  # 3 distinct predictions, 2 correct
    assert scores["precision"] == pytest.approx(200 / 3)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(400 / 7)


def test_bucc_without_correct_pairs_is_zero():
    assert bucc_scores([("a", "b")], [("a", "c")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert bucc_scores([], [("a", "c")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


# --- compute ----------------------------------------------------------------------------


def test_compute_dispatches_each_family():
    assert compute("accuracy", [1, 2], [1, 1], "en") == {"accuracy": 50.0}
    assert compute("seqeval", [["B-X"]], [["B-X"]], "en")["f1"] == 100.0
    assert compute("squad", {"q": "die Stadt"}, {"q": ["Stadt"]}, "de")["exact_match"] == 0.0
    assert compute("mlqa", {"q": "die Stadt"}, {"q": ["Stadt"]}, "de")["exact_match"] == 100.0
    assert compute("bucc", [("a", "b")], [("a", "b"), ("c", "d")], "de")["recall"] == 50.0


def test_compute_rejects_unknown_family():
    with pytest.raises(UserError, match="unknown metric family 'bleu'"):
        compute("bleu", [], [], "en")


# --- evaluate.Metric wrappers -----------------------------------------------------------


@pytest.fixture
def metric(tmp_path):
    """Instantiate a wrapper by name, caching under tmp_path rather than the user's home."""
    from xfer_scale import metrics

    return lambda name: getattr(metrics, name)(cache_dir=str(tmp_path))


def test_wrapper_accuracy_accepts_ints_and_strings(metric):
    assert metric("XtremeAccuracy").compute(predictions=[1, 0, 1], references=[1, 1, 1]) == {
        "accuracy": pytest.approx(200 / 3)
    }
    assert metric("XtremeAccuracy").compute(predictions=["a", "b"], references=["a", "a"]) == {
        "accuracy": 50.0
    }


def test_wrapper_seqeval(metric):
    scores = metric("XtremeSeqeval").compute(
        predictions=[["B-PER", "B-PER"], ["B-LOC"]], references=[["B-PER", "I-PER"], ["B-LOC"]]
    )
    # gold PER(0-1), LOC; predicted PER, PER, LOC: 1 correct
    assert scores["precision"] == pytest.approx(100 / 3)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(40.0)


def test_wrappers_squad_and_mlqa_differ_by_normalisation(metric):
    rows = {
        "predictions": [
            {"id": "q1", "prediction_text": "la casa"},
            {"id": "q2", "prediction_text": "x"},
        ],
        "references": [{"id": "q1", "answers": ["casa"]}, {"id": "q2", "answers": ["y"]}],
    }
    assert metric("XtremeSquad").compute(**rows)["exact_match"] == 0.0
    assert metric("XtremeMlqa").compute(**rows, language="es")["exact_match"] == 50.0


def test_wrapper_bucc_pools_rows_of_pairs(metric):
    scores = metric("XtremeBucc").compute(
        predictions=[[["de-1", "en-1"], ["de-2", "en-9"]]],
        references=[[["de-1", "en-1"], ["de-2", "en-2"], ["de-3", "en-3"]]],
    )
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(40.0)
