"""Bad input: exit code 2, one message naming the problem and the fix, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from tests.conftest import run_cli


def smoke_copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(resources.files("xfer_scale") / "smoke_data", root)
    return root


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.root=/nonexistent/data"], "data folder /nonexistent/data/mnli does not exist"),
        (["model.path=/nonexistent/model"], "cannot load the model '/nonexistent/model'"),
        (["intermediate.examples=601"], "exceeds the 600 training examples of mnli"),
        (["intermediate.fraction=0.0001"], "empty subsample"),
        (["tracking=mlflow"], "tracking=mlflow needs the mlflow package"),
    ],
)
def test_bad_input_exits_2_with_the_fix(overrides, message, tmp_path: Path, capfd):
    assert run_cli(*overrides, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache") == 2
    out, err = capfd.readouterr()
    assert message in out + err and "Traceback" not in out + err
    assert not (tmp_path / "run" / "results.parquet").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("intermediate.train.batch_size=0", "intermediate.train.batch_size=0 must be a whole number >= 1."),
        ("target.train.epochs=0", "target.train.epochs=0.0 must be a number > 0 (or set target.train.max_steps)."),
        ("seed=-5", "seed=-5 must be a whole number in [0, 4294967295]."),
        ("phases=[]", "phases=[] runs nothing"),
        ("precision=fp16", "precision=fp16 needs a GPU, and this run is on the CPU (cpu=true)"),
        ("+target.trian.epochs=1", "unknown key target.trian (did you mean target.train?)"),
        ("+foo=1", "unknown key foo: no setting has this name"),
        ("seed=1e20", "Value '1e+20' of type 'float' could not be converted to Integer"),  # Hydra's own type check
    ],
)
def test_a_setting_out_of_range_exits_2_before_any_work(override, message, tmp_path: Path, capfd):
    assert run_cli(override, run_dir=tmp_path / "run", cache_dir=tmp_path / "cache") == 2
    out, err = capfd.readouterr()
    assert message in out + err and "Traceback" not in out + err
    assert not (tmp_path / "cache").exists()  # not even the tiny model was built


def test_malformed_row_names_file_and_line(tmp_path: Path, capfd):
    root = smoke_copy(tmp_path)
    train = root / "mnli" / "train.tsv"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[5] = "\t".join(lines[5].split("\t")[:4])  # a truncated row
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli(f"data.root={root}", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache") == 2
    out, err = capfd.readouterr()
    assert f"{train}:6: expected 12 tab-separated fields, found 4" in out + err


def test_a_bad_evaluation_file_stops_the_run_before_anything_trains(tmp_path: Path, capfd):
    """Phase 3's files are read at start-up: a bad row in a test file costs seconds, not phases 1
    and 2; once it is fixed, the same command in the same folder runs."""
    root = smoke_copy(tmp_path)
    test = root / "xnli" / "xnli.test.tsv"
    good = test.read_text(encoding="utf-8")
    lines = good.splitlines()
    lines[6] = "de\tgarbage"
    test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    assert run_cli(f"data.root={root}", "target.languages=[en,de]", run_dir=run_dir, cache_dir=cache) == 2
    out, err = capfd.readouterr()
    assert f"{test}:7: expected 16 tab-separated fields, found 2" in out + err
    assert not (cache / "intermediate").exists() and "intermediate: training on" not in out + err
    test.write_text(good, encoding="utf-8")
    assert run_cli(f"data.root={root}", "target.languages=[en,de]", run_dir=run_dir, cache_dir=cache) == 0


def test_an_empty_file_is_named(tmp_path: Path, cache_dir: Path, capfd):
    root = smoke_copy(tmp_path)
    train = root / "mnli" / "train.tsv"
    train.write_text(train.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")  # the header only
    assert run_cli(f"data.root={root}", run_dir=tmp_path / "run", cache_dir=cache_dir) == 2
    out, err = capfd.readouterr()
    assert f"mnli train [en]: no examples found in {train}; check the language code" in out + err


def test_console_script_exit_code_and_message(tmp_path: Path):
    """As a user sees it: the installed command, a wrong language, exit 2, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "xfer_scale", "run", "experiment=smoke", "target.languages=[qq]",
         f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "has no language qq" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_a_null_text_names_file_and_line(tmp_path: Path, cache_dir: Path, capfd):
    root = smoke_copy(tmp_path)
    train = root / "copa" / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines()]
    rows[6]["premise"] = None
    train.write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    code = run_cli("intermediate=none", "target=xcopa", f"data.root={root}", run_dir=tmp_path / "run", cache_dir=cache_dir)
    out, err = capfd.readouterr()
    assert code == 2 and f"({train}:7): field context (from 'premise') is null" in out + err


def test_a_training_question_without_its_answer_names_file_and_question(tmp_path: Path, cache_dir: Path, capfd):
    root = smoke_copy(tmp_path)
    train = root / "squad_v1" / "train-v1.1.json"
    release = json.loads(train.read_text(encoding="utf-8"))
    question = release["data"][0]["paragraphs"][0]["qas"][1]
    question["answers"] = []
    train.write_text(json.dumps(release), encoding="utf-8")
    code = run_cli("intermediate=none", "target=xquad", f"data.root={root}", run_dir=tmp_path / "run", cache_dir=cache_dir)
    out, err = capfd.readouterr()
    assert code == 2 and f"({train}, row 2): training question {question['id']!r} has no answer" in out + err
