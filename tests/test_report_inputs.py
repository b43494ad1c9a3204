"""`report` on damaged or empty inputs: one message naming the file, or a listed skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.test_report import run_rows, write_sweep
from xfer_scale.cli import main


@pytest.mark.parametrize("damage", ["truncated", "empty file"])
def test_a_damaged_results_file_is_named_with_the_fix(tmp_path: Path, capsys, damage: str):
    runs = write_sweep(tmp_path / "runs", seeds=(1,), baseline_seeds=(1,))
    damaged = sorted(runs.glob("*/results.parquet"))[0]
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    assert main(["report", str(runs), "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert f"{damaged} is damaged and cannot be read" in said and "re-run that run" in said
    assert "Traceback" not in said


def test_files_without_scores_are_left_out_and_listed(tmp_path: Path, capsys):
    runs = write_sweep(tmp_path / "runs", seeds=(1, 2), baseline_seeds=(1, 2))
    rows = run_rows("mnli", 0.1, 3)
    (runs / "no-rows").mkdir()
    rows.iloc[:0].to_parquet(runs / "no-rows" / "results.parquet", index=False)
    (runs / "all-nan").mkdir()
    rows.assign(value=float("nan")).to_parquet(runs / "all-nan" / "results.parquet", index=False)
    assert main(["report", str(runs), "--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr()
    listed = "2 results files hold no scores and were left out"
    assert listed in said.out + said.err and listed in (tmp_path / "out" / "report.md").read_text()
    for folder in ("no-rows", "all-nan"):
        assert str(runs / folder / "results.parquet") in said.out + said.err

    shutil.rmtree(runs)
    (runs / "only").mkdir(parents=True)
    rows.iloc[:0].to_parquet(runs / "only" / "results.parquet", index=False)
    assert main(["report", str(runs), "--out", str(tmp_path / "out2")]) == 2
    assert "hold no scores" in capsys.readouterr().err
