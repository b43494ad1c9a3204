"""Bad input: exit code 2, one message naming the problem and the fix, no traceback."""

from __future__ import annotations

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


def test_malformed_row_names_file_and_line(tmp_path: Path, capfd):
    root = smoke_copy(tmp_path)
    train = root / "mnli" / "train.tsv"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[5] = "\t".join(lines[5].split("\t")[:4])  # a truncated row
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli(f"data.root={root}", run_dir=tmp_path / "run", cache_dir=tmp_path / "cache") == 2
    out, err = capfd.readouterr()
    assert f"{train}:6: expected 12 tab-separated fields, found 4" in out + err


def test_console_script_exit_code_and_message(tmp_path: Path):
    """As a user sees it: the installed command, a wrong language, exit 2, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "xfer_scale", "run", "experiment=smoke", "target.languages=[qq]",
         f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "has no language qq" in done.stdout + done.stderr and "Traceback" not in done.stderr
