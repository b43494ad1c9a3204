"""Shared fixtures: one tiny-model cache per test session, a smoke run to inspect, a headless browser."""

from __future__ import annotations

import os

# One torch thread: the tiny model gains nothing from two, and tests that start several
# processes at once (concurrency, accelerate's 2 ranks) would spin against each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.chromium import EXECUTABLE, Chromium
from xfer_scale.cli import main


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Phase-1 models and the tiny model, shared by every test of the session."""
    return tmp_path_factory.mktemp("cache")


def run_cli(*overrides: str, run_dir: Path, cache_dir: Path) -> int:
    return main(["run", "experiment=smoke", f"hydra.run.dir={run_dir}", f"cache.dir={cache_dir}", *overrides])


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """`xfer-scale run experiment=smoke` (mnli -> xnli), in-process."""
    run_dir = tmp_path_factory.mktemp("smoke") / "run"
    assert run_cli(run_dir=run_dir, cache_dir=cache_dir) == 0
    return run_dir


@pytest.fixture(scope="session")
def smoke_results(smoke_run: Path) -> pd.DataFrame:
    return pd.read_parquet(smoke_run / "results.parquet")


#: the research loop at smoke scale, with less checkpoint selection and half the target epochs (its
#: numbers are noise either way: a random-init tiny model). Phase 1 trains whole: cut to a few
#: steps, every gain but a few is exactly 0 and the resource model's fit degenerate
SWEEP = ("experiment=smoke", "target=xnli", "seed=1,2,3", "target.eval_splits=[test]",
         "intermediate.train.eval_examples=30", "target.train.eval_examples=30", "target.train.epochs=2")


@pytest.fixture(scope="session")
def smoke_sweep(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """The baseline and mnli at 0.25, 0.5 and 1.0 (`sizes/`, `base/`), seeds 1-3, then
    `xfer-scale report` (`report/`): the folder holding all three, shared by the tests of the
    scaling loop and of the resource model (a sweep is the suite's costliest fixture)."""
    root = tmp_path_factory.mktemp("sweep")
    common = [*SWEEP, f"cache.dir={cache_dir}"]
    assert main(["run", "-m", "intermediate=mnli", "intermediate.fraction=0.25,0.5,1.0",
                 f"hydra.sweep.dir={root / 'sizes'}", *common]) == 0
    assert main(["run", "-m", "intermediate=none", f"hydra.sweep.dir={root / 'base'}", *common]) == 0
    assert main(["report", str(root / "sizes"), str(root / "base"), "--out", str(root / "report")]) == 0
    return root


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """Headless Chromium at phone size, started once: what a reader opens report.html in."""
    if EXECUTABLE is None:
        pytest.skip("Debian's chromium is not installed: run bash scripts/ensure_chromium.sh (.ci/run does)")
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as chromium:
        yield chromium
