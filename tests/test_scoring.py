"""Submission layout and `xfer-scale score`, end to end on a hand-made submission."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from xfer_scale import benchmarks
from xfer_scale.cli import main as xfer_scale_main
from xfer_scale.errors import UserError
from xfer_scale.scoring import main, score_directory, withheld_note
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


# Per task, evaluate.py's avg_metric: (EM + F1) / 2 for QA, else F1, else accuracy.
FIXTURE_AVG_METRIC = {
    "pawsx": FIXTURE_XTREME[("pawsx", "accuracy")],
    "xnli": FIXTURE_XTREME[("xnli", "accuracy")],
    "panx": FIXTURE_XTREME[("panx", "f1")],
    "udpos": FIXTURE_XTREME[("udpos", "f1")],  # F1, not the token accuracy beside it
    "bucc2018": FIXTURE_XTREME[("bucc2018", "f1")],
    "tatoeba": FIXTURE_XTREME[("tatoeba", "accuracy")],
    "xquad": (FIXTURE_XTREME[("xquad", "exact_match")] + FIXTURE_XTREME[("xquad", "f1")]) / 2,
    "mlqa": (FIXTURE_XTREME[("mlqa", "exact_match")] + FIXTURE_XTREME[("mlqa", "f1")]) / 2,
    "tydiqa": 100.0,
}


def averages(scores: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The language averages of the task metrics (not avg_metric, groups or all_task)."""
    avg = scores[(scores["language"] == "avg") & (scores["metric"] != "avg_metric")]
    return {(t, m): v for t, m, v in zip(avg["task"], avg["metric"], avg["value"])}


def avg_metrics(scores: pd.DataFrame) -> dict[str, float]:
    """task, group or all_task -> its avg_metric row."""
    rows = scores[scores["metric"] == "avg_metric"]
    assert set(rows["language"]) <= {"avg"}
    return dict(zip(rows["task"], rows["value"]))


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
        ("lareqa", {"q1": ["c2", "c1"], "q2": []}, "test-en.json"),
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
        ("siqa", [], "no submission format for task 'siqa'"),
    ],
)
def test_writer_refuses_what_would_not_read_back(tmp_path, task, predictions, message):
    with pytest.raises(UserError, match=message):
        write_predictions(tmp_path, task, "en", predictions)


# --- scoring ----------------------------------------------------------------------------


def test_fixture_scores_xtreme():
    scores = score_directory(FIXTURE / "predictions", FIXTURE / "labels", allow_missing=True)
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
    # Every task's avg_metric; no group, as no task has all its languages.
    assert avg_metrics(scores) == pytest.approx(FIXTURE_AVG_METRIC)


def test_fixture_scores_xtreme_r():
    scores = score_directory(FIXTURE / "predictions", FIXTURE / "labels", "xtreme-r", allow_missing=True)
    got = averages(scores)
    tasks = {task for task, _ in got}
    assert tasks == {
        "xnli", "panx", "udpos", "tatoeba", "xcopa", "xquad", "mlqa", "tydiqa", "mewslix", "lareqa"
    }
    assert got[("xcopa", "accuracy")] == pytest.approx(200 / 3)
    assert got[("xquad", "exact_match")] == pytest.approx((25.0 + 100.0) / 2)
    # Mewsli-X: gold at rank 1, rank 3, rank 2 (" Q7 " stripped), m4 unranked (0).
    assert got[("mewslix", "map@20")] == pytest.approx((1 + 1 / 3 + 1 / 2 + 0) / 4 * 100)
    assert avg_metrics(scores)["mewslix"] == got[("mewslix", "map@20")]


def test_lareqa_averages_over_questions_not_languages():
    scores = score_directory(FIXTURE / "predictions", FIXTURE / "labels", "xtreme-r", allow_missing=True)
    per_lang = scores.set_index(["task", "language", "metric"])["value"]
    en_questions = [(1 + 2 / 3) / 2, 1 / 2, 0.0]  # AP@20 of en-1, en-2, en-3
    assert per_lang[("lareqa", "en", "map@20")] == pytest.approx(sum(en_questions) / 3 * 100)
    assert per_lang[("lareqa", "de", "map@20")] == 100.0  # one question, both answers on top
    micro = (sum(en_questions) + 1.0) / 4 * 100  # the macro mean would be (44.44 + 100) / 2
    assert per_lang[("lareqa", "avg", "map@20")] == pytest.approx(micro)
    assert per_lang[("lareqa", "avg", "avg_metric")] == pytest.approx(micro)


# --- groups and all_task ----------------------------------------------------------------

# One fixture file per task, copied to every language of the benchmark: each language then
# scores as that file, so a task's average is the file's score. MLQA takes TyDi QA's Swahili
# file: exact answers up to case score 100 under every language's normalisation, which the
# German file (an article dropped) would not.
TEMPLATES = {
    "pawsx": ("pawsx", "de"),
    "xnli": ("xnli", "en"),
    "panx": ("panx", "en"),
    "udpos": ("udpos", "en"),
    "bucc2018": ("bucc2018", "de"),
    "tatoeba": ("tatoeba", "fr"),
    "xquad": ("xquad", "es"),
    "mlqa": ("tydiqa", "sw"),
    "tydiqa": ("tydiqa", "sw"),
    "xcopa": ("xcopa", "et"),
    "mewslix": ("mewslix", "en"),
    "lareqa": ("lareqa", "en"),
}
# Each template's avg_metric, by hand (test_metrics.py scores the same cases).
TEMPLATE_AVG_METRIC = {
    "pawsx": 50.0,  # de: 1 of 2
    "xnli": 200 / 3,
    "panx": 400 / 7,  # en: span F1, 2 correct of 4 predicted and 3 gold
    "udpos": 80.0,
    "bucc2018": 400 / 7,
    "tatoeba": 60.0,
    "xquad": FIXTURE_AVG_METRIC["xquad"],  # es is XTREME's only fixture language of xquad
    "mlqa": 100.0,
    "tydiqa": 100.0,
}


def complete_submission(root: Path, benchmark: str) -> Path:
    """Every task and language of `benchmark`, each file a copy of its task's template."""
    for task, langs in benchmarks.load(benchmark).languages().items():
        source_task, source_lang = TEMPLATES[task]
        for side in ("labels", "predictions"):
            source = submission_path(FIXTURE / side, source_task, source_lang)
            for lang in langs:
                target = submission_path(root / side, task, lang)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    return root


def test_complete_xtreme_submission_has_evaluate_py_groups(tmp_path):
    root = complete_submission(tmp_path, "xtreme")
    scores = score_directory(root / "predictions", root / "labels", allow_missing=True)
    task = TEMPLATE_AVG_METRIC
    expected = {
        "classification": (task["pawsx"] + task["xnli"]) / 2,
        "tagging": (task["udpos"] + task["panx"]) / 2,
        "qa": (task["xquad"] + task["mlqa"] + task["tydiqa"]) / 3,
        "retrieval": (task["bucc2018"] + task["tatoeba"]) / 2,
        "all_task": sum(task.values()) / 9,
    }
    expected["category_avg"] = sum(expected[g] for g in ("classification", "tagging", "qa", "retrieval")) / 4
    assert avg_metrics(scores) == pytest.approx(task | expected)
    assert withheld_note(scores, "xtreme") is None


def test_complete_xtreme_r_submission_counts_lareqa_in_all_task(tmp_path):
    root = complete_submission(tmp_path, "xtreme-r")
    scores = score_directory(root / "predictions", root / "labels", "xtreme-r", allow_missing=True)
    got = avg_metrics(scores)
    task = {t: got[t] for t in benchmarks.load("xtreme-r").tasks}
    assert task["xcopa"] == pytest.approx(200 / 3)
    assert task["mewslix"] == pytest.approx((1 + 1 / 3 + 1 / 2 + 0) / 4 * 100)
    assert task["lareqa"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2 + 0) / 3 * 100)
    assert got["classification"] == pytest.approx((task["xnli"] + task["xcopa"]) / 2)
    assert got["retrieval"] == pytest.approx((task["tatoeba"] + task["mewslix"]) / 2)  # as evaluate.py
    assert got["multi_choice"] == pytest.approx(task["xcopa"])
    assert got["all_task"] == pytest.approx(sum(task.values()) / 10)
    # beside it the category average, without multi_choice (XCOPA alone, already in classification)
    categories = [got[g] for g in ("classification", "tagging", "qa", "retrieval")]
    assert got["category_avg"] == pytest.approx(sum(categories) / 4)
    assert got["category_avg"] != pytest.approx(got["all_task"])


def test_score_names_the_xtreme_r_definition_and_mewslix_release(tmp_path, capsys):
    """The overall score is printed with whose definition it is and its formula, the category
    average beside it, and Mewsli-X's numbers with its release's caveat."""
    root = complete_submission(tmp_path, "xtreme-r")
    labels = ["--predictions", str(root / "predictions"), "--labels", str(root / "labels"), "--allow-missing"]
    assert main([*labels, "--benchmark", "xtreme-r"]) == 0
    printed = capsys.readouterr().out.splitlines()
    value = {line.split()[0]: float(line.split()[1]) for line in printed
             if line.split() and line.split()[0] in ("all_task", "category_avg", "qa", "classification")}
    got = avg_metrics(score_directory(root / "predictions", root / "labels", "xtreme-r", allow_missing=True))
    assert value["all_task"] == round(got["all_task"], 2) and value["category_avg"] == round(got["category_avg"], 2)
    definition = next(line for line in printed if line.startswith("all_task: "))
    assert "this project's definition" in definition and "the unweighted mean of the ten tasks' avg_metric" in definition
    assert "(EM + F1) / 2 for XQuAD, MLQA and TyDi QA" in definition
    assert "Source: github.com/google-research/xtreme evaluate.py" in definition and "arXiv:2104.07412" in definition
    assert any(line.startswith("category_avg: the category average, the mean of the scores of "
                               "classification, tagging, qa, retrieval") for line in printed)
    mewslix = next(line for line in printed if line.startswith("mewslix: "))
    assert "mewsli-x_20220518_6" in mewslix and "not directly comparable" in mewslix


def test_the_mewslix_note_comes_only_with_mewslix_numbers(submission, capsys):
    shutil.rmtree(submission / "labels" / "mewslix")
    args = ["--predictions", str(submission / "predictions"), "--labels", str(submission / "labels"), "--allow-missing"]
    assert main([*args, "--benchmark", "xtreme-r"]) == 0
    printed = capsys.readouterr().out
    assert "mewsli-x_20220518_6" not in printed
    assert "all_task: " not in printed  # no overall score shown (tasks incomplete): no definition either


def test_a_missing_language_withholds_its_groups(tmp_path, capsys):
    root = complete_submission(tmp_path, "xtreme")
    for side in ("labels", "predictions"):
        submission_path(root / side, "udpos", "yo").unlink()
    scores = score_directory(root / "predictions", root / "labels", allow_missing=True)
    got = avg_metrics(scores)
    assert "tagging" not in got and "all_task" not in got
    assert {"classification", "qa", "retrieval"} <= got.keys()
    assert got["udpos"] == pytest.approx(80.0)  # the task itself still averages what is there
    note = withheld_note(scores, "xtreme")
    assert note.startswith("groups withheld (tagging, all_task, category_avg): udpos lacks 1 of 33 languages (yo).")
    main(["--predictions", str(root / "predictions"), "--labels", str(root / "labels"), "--allow-missing"])
    assert capsys.readouterr().out.rstrip().endswith(note)


def test_missing_prediction_file_is_named(submission):
    (submission / "predictions" / "tatoeba" / "test-fr.tsv").unlink()
    with pytest.raises(UserError, match=r"tatoeba/test-fr\.tsv: prediction file missing"):
        score_directory(submission / "predictions", submission / "labels")


def test_a_gold_id_without_a_prediction_stops_unless_allowed(submission, capsys):
    """XTREME scores an unanswered question 0 (the fixture's xquad es-3): an empty `{}` file
    would score 0 in a table that looks complete. That takes --allow-missing."""
    with pytest.raises(UserError, match=r"xquad/test-es\.json: 1 of 4 ids have no prediction \(e\.g\. 'es-3'\); "
                                        r"write every prediction, or pass --allow-missing"):
        score_directory(submission / "predictions", submission / "labels")
    (submission / "predictions" / "xquad" / "test-es.json").write_text("{}")
    with pytest.raises(UserError, match=r"xquad/test-es\.json: 4 of 4 ids have no prediction .*; the file is empty"):
        score_directory(submission / "predictions", submission / "labels")
    labels = ["--predictions", str(submission / "predictions"), "--labels", str(submission / "labels")]
    assert xfer_scale_main(["score", *labels]) == 2
    assert xfer_scale_main(["score", *labels, "--allow-missing"]) == 0
    err = capsys.readouterr().err
    assert "xquad/test-es.json" in err and "the file is empty: scored 0 (--allow-missing)" in err


def test_malformed_files_are_named_with_line(submission):
    (submission / "predictions" / "bucc2018" / "test-de.tsv").write_text("de-1\ten-1\nde-2 en-2\n")
    with pytest.raises(UserError, match=r"bucc2018/test-de\.tsv:2: expected 'source_id<TAB>"):
        score_directory(submission / "predictions", submission / "labels")


def test_ranking_prediction_that_is_not_a_list_is_named(submission):
    (submission / "predictions" / "mewslix" / "test-en.json").write_text('{"m1": "Q1"}')
    with pytest.raises(UserError, match=r"mewslix/test-en\.json: 'm1' maps to \"Q1\"; expected a list"):
        score_directory(submission / "predictions", submission / "labels", "xtreme-r")


def test_malformed_json_is_named_with_line(submission):
    (submission / "predictions" / "mlqa" / "test-de.json").write_text('{\n"de-1": }\n')
    with pytest.raises(UserError, match=r"mlqa/test-de\.json:2: invalid JSON"):
        score_directory(submission / "predictions", submission / "labels", allow_missing=True)


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
    args = ["--predictions", str(FIXTURE / "predictions"), "--labels", str(FIXTURE / "labels"), "--allow-missing"]
    assert main([*args, "--out", str(out)]) == 0
    csv = pd.read_csv(out)
    assert len(csv) == len(score_directory(FIXTURE / "predictions", FIXTURE / "labels", allow_missing=True))
    assert averages(csv)[("bucc2018", "f1")] == pytest.approx(400 / 7)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == [
        "accuracy", "f1", "precision", "recall", "exact_match", "avg_metric"
    ]
    assert printed[1].split() == ["pawsx", "62.50", "62.50"]
    assert next(line for line in printed if line.startswith("udpos")).split() == [
        "udpos", "75.00", "80.00", "75.00", "85.71", "80.00"
    ]
    # No task has every language: no group block, and a note that says why.
    assert printed[-1].startswith("groups withheld (classification, tagging, qa, retrieval, all_task, category_avg): ")
    assert "pawsx lacks 5 of 7 languages (es fr ja ko zh)" in printed[-1]


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
