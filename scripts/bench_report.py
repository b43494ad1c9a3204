"""How long `report` takes on a sweep of the size a full study reaches (issue 14: 2,000 runs in < 20 s).

Writes a synthetic results tree shaped like a real sweep into a temporary folder: per target (the 9
of experiment=scaling, with their metrics and splits) a baseline per seed and every series (the 12
intermediate tasks, 3 of them also under the compute budget) x fraction x seed, each run's 40
languages in its own results.parquet, planted gains with seed noise: 2,052 runs.
Then times `build_report` on it, split into load / tables / plots / markdown / html, with the CPU time
of the build and the processes drawing its figures (the machine may be shared), and prints JSON.

    python scripts/bench_report.py                 # best of 3
    python scripts/bench_report.py --repeats 1 --profile report.prof --keep /tmp/sweep
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import math
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xfer_scale import languages
from xfer_scale.report import build, plots
from xfer_scale.results import EXTRA_RESULT_COLUMNS, RESULT_COLUMNS

# target -> (metrics, splits), as the target configs score them
TARGETS = {
    "xnli": (["accuracy"], ["dev", "test"]),
    "pawsx": (["accuracy"], ["dev", "test"]),
    "tatoeba": (["accuracy"], ["test"]),
    "panx": (["accuracy", "f1", "precision", "recall"], ["dev", "test"]),
    "udpos": (["accuracy", "f1", "precision", "recall"], ["dev", "test"]),
    "xquad": (["exact_match", "f1"], ["test"]),
    "mlqa": (["exact_match", "f1"], ["dev", "test"]),
    "tydiqa": (["exact_match", "f1"], ["test"]),
    "bucc": (["f1", "precision", "recall"], ["dev", "test"]),
}
TASKS = ["anli", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mlm", "mnli", "multitask", "qqp", "siqa",
         "squad_v1", "squad_v2"]
# (task, budget) per series: the baseline, every task as trained for its epochs, three compute-matched
SERIES = [("none", "epochs"), *((t, "epochs") for t in TASKS), *((t, "compute") for t in ("mnli", "qqp", "squad_v1"))]
FRACTIONS = [0.01, 0.03, 0.1, 0.3, 1.0]
SEEDS = [1, 2, 3]
FULL_SIZE = 392_702
LANGUAGES_PER_TARGET = 40


def _hex16(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def sweep_frame(seed: int = 0) -> pd.DataFrame:
    """Every row of every run: 9 targets x (3 baselines + 15 series x 5 fractions x 3 seeds) = 2,052 runs."""
    rng = np.random.default_rng(seed)
    codes = sorted(languages.languages())
    low = {c: languages.is_low_resource(c) for c in codes}
    frames = []
    for target, (metrics, splits) in TARGETS.items():
        langs = ["en", *rng.choice([c for c in codes if c != "en"], LANGUAGES_PER_TARGET - 1, replace=False)]
        base = {lang: 40 + 40 * rng.random() for lang in langs}
        for task, budget in SERIES:
            for fraction in [0.0] if task == "none" else FRACTIONS:
                examples = 0 if task == "none" else round(FULL_SIZE * fraction)
                for run_seed in SEEDS:
                    rows = pd.MultiIndex.from_product([langs, splits, metrics], names=["language", "split", "metric"])
                    frame = rows.to_frame(index=False)
                    slope = np.where(frame["language"].map(low), 2.0, 0.5)
                    gain = 0.0 if task == "none" else -3 + slope * math.log10(examples)
                    frame["value"] = frame["language"].map(base) + gain + rng.normal(0, 1.0, len(frame))
                    amount = (task, budget, fraction)
                    frames.append(frame.assign(
                        run_id=_hex16(amount, target, run_seed), experiment="scaling", model="xlmr-large",
                        seed=run_seed, intermediate_task=task, intermediate_fraction=fraction,
                        intermediate_examples=examples, target_task=target, n_examples=5000, intermediate_steps=100,
                        arm=_hex16(amount, target), series=_hex16(task, budget, target), baseline_key=_hex16(target),
                        intermediate_budget=budget, intermediate_subsample_seed=run_seed, benchmark="xtreme-r",
                        model_revision=None, processes=1, intermediate_languages=None if task == "none" else "en",
                        intermediate_translations=None,
                        intermediate_mlm_ratio=None if task == "none" else 0.0,
                        checkpoint=None, checkpoint_run_id=None,  # a run that trained its target model
                    ))
    columns = {**RESULT_COLUMNS, **EXTRA_RESULT_COLUMNS}
    return pd.concat(frames, ignore_index=True)[list(columns)].astype(columns)


def write_tree(root: Path, frame: pd.DataFrame) -> int:
    """One folder with results.parquet per run, as `xfer-scale run` leaves them; returns the run count."""
    runs = frame.groupby("run_id", sort=False)
    for run_id, rows in runs:
        run_dir = root / str(run_id)
        run_dir.mkdir(parents=True)
        rows.to_parquet(run_dir / "results.parquet", index=False)
    return runs.ngroups


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the figure-drawing workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_build(runs: Path, out: Path) -> dict[str, float]:
    """`build_report` with the time of each stage: its load, plot, markdown and html calls are wrapped in place."""
    stages: dict[str, float] = {"load": 0.0, "plots": 0.0, "markdown": 0.0, "html": 0.0}
    originals = {
        name: getattr(build, name) for name in ("load_results", "write_plots", "render_markdown", "render_html")
    }

    def clocked(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                stages[stage] += time.perf_counter() - start
        return call

    for (name, function), stage in zip(originals.items(), stages, strict=True):
        setattr(build, name, clocked(stage, function))
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        build.build_report([runs], out)
        total, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    finally:
        for name, function in originals.items():
            setattr(build, name, function)
    return {"total": total, **stages, "tables": total - sum(stages.values()), "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="builds timed; the fastest is reported")
    parser.add_argument("--profile", type=Path,
                        help="write a cProfile of the last build here (its figures drawn in this process, to be seen)")
    parser.add_argument("--keep", type=Path, help="write the tree and report here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        frame = sweep_frame()
        n_runs = write_tree(root / "runs", frame)
        timings = []
        for repeat in range(args.repeats):
            out = root / f"out{repeat}"
            if args.profile and repeat == args.repeats - 1:
                plots.FIGURES_PER_WORKER = math.inf  # no worker processes, which the profile would not see
                profiler = cProfile.Profile()
                timings.append(profiler.runcall(timed_build, root / "runs", out))
                profiler.dump_stats(args.profile)
            else:
                timings.append(timed_build(root / "runs", out))
        best = min(timings, key=lambda t: t["total"])
        pngs = sorted((root / "out0" / "plots").glob("*.png"))
        print(json.dumps({
            "runs": n_runs, "rows": len(frame), "plots": len(pngs),
            "plot_bytes": sum(p.stat().st_size for p in pngs),
            "best_s": {k: round(v, 2) for k, v in best.items()},
            "all_total_s": [round(t["total"], 2) for t in timings],
        }, indent=2))


if __name__ == "__main__":
    main()
