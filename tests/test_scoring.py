"""Submission layout and `xfer-scale score`, end to end on a hand-made submission."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from xfer_scale.errors import UserError
from xfer_scale.scoring import main, score_directory
from xfer_scale.submission import (
    read_labels,
    read_predictions,
    submission_path,
    write_predictions,
)

FIXTURE = Path(__file__).parent / "fixtures" / "xtreme_submission"
MOCK = Path("/work/shared/realdata/xtreme_mock")  # XTREME's own mock data; absent for users

# Hand-computed language averages for the fixture (see test_metrics.py for the same cases
# scored through the pure functions).
FIXTURE_XTREME = {
    ("pawsx", "accuracy"): (50.0 + 75.0) / 2,
    ("xnli", "accuracy"): 200 / 3,
    ("panx", "f1"): (400 / 7 + 0.0) / 2,
    ("panx", "precision"): (50.0 + 0.0) / 2,
    ("panx", "recall"): (200 / 3 + 0.0) / 2,
    ("udpos", "f1"): 80.0,
    ("udpos", "precision"): 75.0,
    ("udpos", "recall"): 600 / 7,
    ("udpos", "accuracy"): 75.0,
    ("bucc2018", "f1"): 400 / 7,
    ("bucc2018", "precision"): 200 / 3,
    ("bucc2018", "recall"): 50.0,
    ("tatoeba", "accuracy"): 60.0,
    ("xquad", "exact_match"): 25.0,
    ("xquad", "f1"): 100 * (1 + 0.8 + 0 + 2 / 3) / 4,
    ("mlqa", "exact_match"): (100.0 + 50.0) / 2,
    ("mlqa", "f1"): (100.0 + 100 * (1 + 2 / 3) / 2) / 2,
    ("tydiqa", "exact_match"): 100.0,
    ("tydiqa", "f1"): 100.0,
}


def averages(scores: pd.DataFrame) -> dict[tuple[str, str], float]:
    avg = scores[scores["language"] == "avg"]
    return {(t, m): v for t, m, v in zip(avg["task"], avg["metric"], avg["value"])}


@pytest.fixture
def submission(tmp_path: Path) -> Path:
    """A writable copy of the fixture, for tests that break it."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "submission"))


# --- submission layout ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "predictions", "name"),
    [
        ("xnli", ["entailment", "neutral"], "test-en.tsv"),
        ("tatoeba", [3, 0, 12], "test-en.tsv"),
        ("udpos", [["NOUN", "VERB"], [], ["PUNCT"], []], "test-en.tsv"),
        ("bucc2018", [("de-1", "en-7"), ("de-2", "en-2")], "test-en.tsv"),
        ("mlqa", {"q1": "电动势", "q2": ""}, "test-en.json"),
        ("xcopa", [0, 1, 1], "test-en.jsonl"),
    ],
)
def test_written_predictions_read_back_unchanged(tmp_path, task, predictions, name):
    path = write_predictions(tmp_path, task, "en", predictions)
    assert path == tmp_path / task / name
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    got = read_predictions(path, task)
    if task == "tatoeba":
        assert got == ["3", "0", "12"]
    elif task == "bucc2018":
        assert got == list(predictions)
    else:
        assert got == predictions


def test_tag_files_read_as_xtreme_reads_them(tmp_path):
    # Separator style (no final blank line) and terminator style read alike; surrounding
    # whitespace is stripped; two blank lines in a row make an empty sentence.
    path = tmp_path / "tags.tsv"
    path.write_text("B-PER \nO\n\n\nI-LOC\n", encoding="utf-8")
    assert read_labels(path, "panx") == [["B-PER", "O"], [], ["I-LOC"]]
    path.write_text("B-PER\nO\n\n", encoding="utf-8")
    assert read_labels(path, "panx") == [["B-PER", "O"]]


def test_tag_writer_uses_xtreme_layout(tmp_path):
    path = write_predictions(tmp_path, "panx", "de", [["B-PER", "I-PER"], ["O"]])
    assert path.read_text(encoding="utf-8") == "B-PER\nI-PER\n\nO\n\n"


def test_squad_labels_become_id_to_gold_answers():
    gold = read_labels(submission_path(FIXTURE / "labels", "xquad", "es"), "xquad")
    assert gold == {
        "es-1": ["Madrid", "la ciudad de Madrid"],
        "es-2": ["the red fox"],
        "es-3": ["1492"],
        "es-4": ["la casa"],
    }


@pytest.mark.parametrize(
    ("task", "predictions", "message"),
    [
        ("panx", [["B-PER", ""]], "tag '' has no text"),
        ("xnli", ["entail\nment"], "has a line break"),
        ("bucc2018", [("de\t1", "en-1")], "source id 'de\\\\t1' has a tab"),
        ("mewslix", [], "no submission format for task 'mewslix'"),
    ],
)
def test_writer_refuses_what_would_not_read_back(tmp_path, task, predictions, message):
    with pytest.raises(UserError, match=message):
        write_predictions(tmp_path, task, "en", predictions)


# --- scoring ----------------------------------------------------------------------------


def test_fixture_scores_xtreme():
    scores = score_directory(FIXTURE / "predictions", FIXTURE / "labels")
    assert list(scores.columns) == ["task", "language", "metric", "value"]
    got = averages(scores)
    assert got.keys() == FIXTURE_XTREME.keys()
    for key, expected in FIXTURE_XTREME.items():
        assert got[key] == pytest.approx(expected), key
    per_lang = scores.set_index(["task", "language", "metric"])["value"]
    assert per_lang[("panx", "en", "f1")] == pytest.approx(400 / 7)
    assert per_lang[("pawsx", "de", "accuracy")] == 50.0
    # xquad ro is an XTREME-R language: its label file does not count for XTREME.
    assert "ro" not in set(scores.loc[scores["task"] == "xquad", "language"])


def test_fixture_scores_xtreme_r(caplog):
    with caplog.at_level(logging.WARNING):
        scores = score_directory(FIXTURE / "predictions", FIXTURE / "labels", "xtreme-r")
    got = averages(scores)
    tasks = {task for task, _ in got}
    assert tasks == {"xnli", "panx", "udpos", "tatoeba", "xcopa", "xquad", "mlqa", "tydiqa"}
    assert got[("xcopa", "accuracy")] == pytest.approx(200 / 3)
    assert got[("xquad", "exact_match")] == pytest.approx((25.0 + 100.0) / 2)
    assert "skipping mewslix" in caplog.text


def test_missing_prediction_file_is_named(submission):
    (submission / "predictions" / "tatoeba" / "test-fr.tsv").unlink()
    with pytest.raises(UserError, match=r"tatoeba/test-fr\.tsv: prediction file missing"):
        score_directory(submission / "predictions", submission / "labels")


def test_malformed_files_are_named_with_line(submission):
    (submission / "predictions" / "bucc2018" / "test-de.tsv").write_text("de-1\ten-1\nde-2 en-2\n")
    with pytest.raises(UserError, match=r"bucc2018/test-de\.tsv:2: expected 'source_id<TAB>"):
        score_directory(submission / "predictions", submission / "labels")


def test_malformed_json_is_named_with_line(submission):
    (submission / "predictions" / "mlqa" / "test-de.json").write_text('{\n"de-1": }\n')
    with pytest.raises(UserError, match=r"mlqa/test-de\.json:2: invalid JSON"):
        score_directory(submission / "predictions", submission / "labels")


def test_length_mismatch_names_both_files(submission):
    (submission / "predictions" / "xnli" / "test-en.tsv").write_text("entailment\n")
    message = r"predictions/xnli/test-en\.tsv against .*labels/xnli/test-en\.tsv: accuracy: 1 pred"
    with pytest.raises(UserError, match=message):
        score_directory(submission / "predictions", submission / "labels")


def test_bad_arguments_raise_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown benchmark 'xtreme-x'"):
        score_directory(FIXTURE / "predictions", FIXTURE / "labels", "xtreme-x")
    with pytest.raises(UserError, match="labels folder .* does not exist"):
        score_directory(FIXTURE / "predictions", tmp_path / "nowhere")
    with pytest.raises(UserError, match="no label files of benchmark xtreme"):
        score_directory(FIXTURE / "predictions", tmp_path)


def test_main_writes_csv_and_prints_averages(tmp_path, capsys):
    out = tmp_path / "scores" / "fixture.csv"
    args = ["--predictions", str(FIXTURE / "predictions"), "--labels", str(FIXTURE / "labels")]
    assert main([*args, "--out", str(out)]) == 0
    csv = pd.read_csv(out)
    assert len(csv) == len(score_directory(FIXTURE / "predictions", FIXTURE / "labels"))
    assert averages(csv)[("bucc2018", "f1")] == pytest.approx(400 / 7)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["accuracy", "f1", "precision", "recall", "exact_match"]
    assert printed[1].split() == ["pawsx", "62.50"]
    assert next(line for line in printed if line.startswith("udpos")).split() == [
        "udpos", "75.00", "80.00", "75.00", "85.71"
    ]


# --- XTREME's own mock submission (optional: only where /work/shared exists) ------------

# Published language averages of XTREME's official scorer on its mock data (seqeval 1.2.2).
MOCK_XTREME = {
    ("pawsx", "accuracy"): 51.43,
    ("xnli", "accuracy"): 30.67,
    ("panx", "f1"): 57.51,
    ("panx", "precision"): 54.73,
    ("panx", "recall"): 62.75,
    ("bucc2018", "f1"): 55.0,
    ("tatoeba", "accuracy"): 53.61,
    ("xquad", "exact_match"): 77.27,
    ("xquad", "f1"): 79.96,
    ("mlqa", "exact_match"): 57.14,
    ("mlqa", "f1"): 81.77,
    ("tydiqa", "exact_match"): 88.89,
    ("tydiqa", "f1"): 97.22,
    ("udpos", "f1"): 70.40,
}


@pytest.mark.skipif(not MOCK.is_dir(), reason="XTREME mock data not available")
def test_reproduces_xtreme_published_mock_scores():
    got = averages(score_directory(MOCK / "predictions", MOCK / "labels"))
    for key, expected in MOCK_XTREME.items():
        assert round(got[key], 2) == pytest.approx(expected), key
