"""Social IQa (`intermediate=siqa`): the release's questions joined with their separate labels
file, the hub's rows mapped the same way, and the bundled smoke set."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest

from tests.test_config import compose_cfg
from tests.test_task_configs import jsonl, write
from xfer_scale import data, formats
from xfer_scale.errors import UserError

QUESTIONS = [{"context": f"Kai met friend {i}.", "question": "Why did Kai do this?",
              "answerA": f"a{i}", "answerB": f"b{i}", "answerC": f"c{i}"} for i in range(3)]
RAW_LABELS = ["3", "1", "2"]  # 1-based, as the release and the hub spell them
CANONICAL = [{"context": f"Kai met friend {i}.", "question": "Why did Kai do this?",
              "choices": [f"a{i}", f"b{i}", f"c{i}"], "label": label}
             for i, label in enumerate([2, 0, 1])]


def write_release(root: Path, split: str, labels: str) -> tuple[Path, Path]:
    questions, label_file = root / "siqa" / f"{split}.jsonl", root / "siqa" / f"{split}-labels.lst"
    write(questions, jsonl(*QUESTIONS))
    write(label_file, labels)
    return questions, label_file


@pytest.mark.parametrize("split", ["train", "dev"])
def test_release_questions_take_the_same_line_of_their_labels_file(tmp_path: Path, split):
    write_release(tmp_path, split, "".join(label + "\n" for label in RAW_LABELS))
    task = compose_cfg("intermediate=siqa").intermediate
    rows = data.load_split(task, split, "en", str(tmp_path))
    assert rows.to_list() == CANONICAL
    assert formats.get(task).pairs("Kai met friend 0.", "Why did Kai do this?", ["a0", "b0", "c0"], 0) == [
        ("Kai met friend 0. Why did Kai do this?", "a0"), ("Kai met friend 0. Why did Kai do this?", "b0"),
        ("Kai met friend 0. Why did Kai do this?", "c0")]  # jiant's "<context> <question>" against each answer


def test_the_labels_file_is_part_of_the_phase1_fingerprint(tmp_path: Path):
    write_release(tmp_path, "train", "3\n1\n2\n")
    task = compose_cfg("intermediate=siqa").intermediate
    found = data.local_fingerprint(task, "train", "en", str(tmp_path), None)
    assert [name for name, *_ in found] == ["train.jsonl", "train-labels.lst"]
    assert found[1][1] == len("3\n1\n2\n")  # its size: an edited labels file changes the key


@pytest.mark.parametrize("labels, counts", [("3\n1\n", (3, 2)), ("3\n1\n2\n2\n", (3, 4))], ids=["short", "long"])
def test_a_labels_file_of_another_length_names_both_files(tmp_path: Path, labels, counts):
    questions, label_file = write_release(tmp_path, "dev", labels)
    task = compose_cfg("intermediate=siqa").intermediate
    rows, labelled = counts
    message = rf"{re.escape(str(questions))} has {rows} rows but {re.escape(str(label_file))} has {labelled} labels"
    with pytest.raises(UserError, match=message):
        data.load_split(task, "dev", "en", str(tmp_path))


def test_a_missing_labels_file_is_named(tmp_path: Path):
    write(tmp_path / "siqa" / "dev.jsonl", jsonl(*QUESTIONS))
    task = compose_cfg("intermediate=siqa").intermediate
    missing = tmp_path / "siqa" / "dev-labels.lst"
    with pytest.raises(UserError, match=re.escape(f"{missing}: not found (jsonl labels file)")):
        data.load_split(task, "dev", "en", str(tmp_path))


def test_hub_rows_map_to_the_same_canonical_rows(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None, revision=None):
        calls.append((path, name, split, revision))
        rows = [{**question, "label": label} for question, label in zip(QUESTIONS, RAW_LABELS)]
        return datasets.Dataset.from_list(rows)  # the parquet export: label is a string column

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    task = compose_cfg("intermediate=siqa").intermediate
    assert data.load_split(task, "train", "en").to_list() == CANONICAL
    assert data.load_split(task, "dev", "en").to_list() == CANONICAL
    assert calls == [("allenai/social_i_qa", None, "train", "refs/convert/parquet"),
                     ("allenai/social_i_qa", None, "validation", "refs/convert/parquet")]


def test_bundled_smoke_set_is_the_release_layout():
    cfg = compose_cfg("experiment=smoke", "intermediate=siqa", "target=xcopa")
    train = data.load_split(cfg.intermediate, "train", "en", cfg.data.root)
    dev = data.load_split(cfg.intermediate, "dev", "en", cfg.data.root)
    assert (len(train), len(dev)) == (200, 60)
    assert sorted(set(train["label"])) == [0, 1, 2] and all(len(choices) == 3 for choices in dev["choices"])
