"""Ranking metrics (Mewsli-X, LAReQA) against hand-computed values (XTREME-R's rules)."""

from __future__ import annotations

import pytest

from xfer_scale.errors import UserError
from xfer_scale.metrics import (
    average_precision_at_k,
    compute,
    mean_average_precision,
    mean_reciprocal_rank,
)

# --- average precision (LAReQA) ---------------------------------------------------------


def test_average_precision_averages_precision_at_each_hit():
    # hits at ranks 2 and 3: precisions 1/2 and 2/3, over 2 relevant
    assert average_precision_at_k(["a", "b", "c"], {"b", "c"}, 20) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_average_precision_divides_by_k_when_more_are_relevant():
    relevant = {f"c{i}" for i in range(25)}
    ranked = [f"c{i}" for i in range(25)]
    assert average_precision_at_k(ranked, relevant, 20) == 1.0  # 20 hits / min(25, 20)
    assert average_precision_at_k(ranked[:10], relevant, 20) == pytest.approx(10 / 20)


def test_average_precision_cuts_at_k_and_counts_a_repeat_once():
    assert average_precision_at_k(["x", "a"], {"a"}, 1) == 0.0  # the hit is beyond k
    # "a" ranked again at 2 adds nothing; "b" at 3 is the 2nd hit
    assert average_precision_at_k(["a", "a", "b"], {"a", "b"}, 20) == pytest.approx((1 + 2 / 3) / 2)


def test_mean_average_precision_counts_unranked_questions_as_zero():
    relevant = {"q1": ["a", "b"], "q2": ["c"], "q3": ["d"]}
    predictions = {"q1": ["b", "x", "a"], "q2": ["x", "c"], "q99": ["d"]}
    # q1: (1 + 2/3)/2, q2: 1/2, q3: not ranked -> 0; the extra q99 is ignored
    expected = ((1 + 2 / 3) / 2 + 1 / 2 + 0) / 3 * 100
    assert mean_average_precision(predictions, relevant) == {"map@20": pytest.approx(expected)}
    assert compute("map", predictions, relevant, "en") == mean_average_precision(predictions, relevant)


def test_mean_average_precision_names_its_k():
    assert mean_average_precision({"q": ["x", "a"]}, {"q": ["a"]}, k=1) == {"map@1": 0.0}


# --- mean reciprocal rank (Mewsli-X) ----------------------------------------------------


def test_reciprocal_rank_of_the_gold_id_within_the_top_k():
    gold = {"m1": ["Q1"], "m2": ["Q3"], "m3": ["Q9"], "m4": ["Q5"]}
    predictions = {
        "m1": ["Q1", "Q2"],  # rank 1
        "m2": ["Q1", "Q2", "Q3"],  # rank 3
        "m3": [f"Q{i}" for i in range(10, 30)] + ["Q9"],  # rank 21: beyond the top 20
        # m4 missing from the predictions: 0
    }
    expected = (1 + 1 / 3 + 0 + 0) / 4 * 100
    assert mean_reciprocal_rank(predictions, gold) == {"map@20": pytest.approx(expected)}
    assert compute("mrr", predictions, gold, "de") == mean_reciprocal_rank(predictions, gold)


def test_reciprocal_rank_strips_the_gold_id_only_and_takes_the_first_occurrence():
    assert mean_reciprocal_rank({"m": ["Q2", "Q1", "Q1"]}, {"m": [" Q1\n"]}) == {"map@20": 50.0}
    assert mean_reciprocal_rank({"m": [" Q1"]}, {"m": ["Q1"]}) == {"map@20": 0.0}


# --- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mean_reciprocal_rank({}, {}), "MRR@20: no examples"),
        (lambda: mean_reciprocal_rank({}, {"m": ["Q1", "Q2"]}), "'m' has 2 gold ids; expected exactly one"),
        (lambda: mean_reciprocal_rank({}, {"m": []}), "'m' has 0 gold ids"),
        (lambda: mean_average_precision({}, {}), "mAP@20: no examples"),
        (lambda: mean_average_precision({}, {"q": []}), "question 'q' has no relevant candidate"),
        (lambda: mean_average_precision({}, {"q": ["a"]}, k=0), "k must be at least 1"),
        (lambda: average_precision_at_k(["a"], set(), 20), "no relevant ids"),
    ],
)
def test_unscorable_input_raises_user_error(call, message):
    with pytest.raises(UserError, match=message):
        call()
