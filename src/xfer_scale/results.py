"""The tidy result tables of a run (the contract docs/results.md states) and its provenance record.

Columns of the contract may be added to, never renamed or dropped: `report` and users'
notebooks read them by name.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from xfer_scale.atomic import atomic_path, write_text

RESULT_COLUMNS = {
    "run_id": "string",
    "experiment": "string",
    "model": "string",
    "seed": "int64",
    "intermediate_task": "string",
    "intermediate_fraction": "float64",
    "intermediate_examples": "int64",
    "target_task": "string",
    "language": "string",
    "split": "string",
    "metric": "string",
    "value": "float64",
    "n_examples": "int64",
}
# beyond the contract: phase-1 optimiser steps, to tell a fixed-epoch sweep from a compute-matched one;
# the run's arm (every setting that determines the numbers but the seed, hashed: `identity.RunKeys`),
# its scaling series (the arm without the amount), the key of the baseline it is measured
# against, and readable columns for the settings a sweep typically varies (the control conditions
# too: the task's training languages, comma-joined and sorted, and the share of MLM batches)
EXTRA_RESULT_COLUMNS = {
    "intermediate_steps": "int64",
    "arm": "string",
    "series": "string",
    "baseline_key": "string",
    "intermediate_budget": "string",
    "intermediate_subsample_seed": "int64",
    "benchmark": "string",
    "model_revision": "string",
    "processes": "int64",
    "intermediate_languages": "string",
    "intermediate_translations": "string",
    "intermediate_mlm_ratio": "float64",
    # a run that evaluates a saved target model (`target.checkpoint`): its folder and the run that
    # trained it, whose intermediate columns (task, amount, series, controls) the rows then carry
    "checkpoint": "string",
    "checkpoint_run_id": "string",
    # which hub commits the data came from (`data_sources.revisions`; run.json's `data` has every source)
    "data_revisions": "string",
}
PHASE_COLUMNS = {
    "run_id": "string",
    "phase": "string",
    "cache_hit": "bool",
    "wall_s": "float64",
    "examples": "int64",
    "steps": "int64",
    "tokens": "int64",
    "padding_fraction": "float64",
    # checkpoint selection, auditable: the step kept and every (step, dev score) it chose from (JSON)
    "best_step": "int64",
    "dev_history": "string",
    # checkpoints plus the saved model: what the phase wrote to disk
    "bytes_written": "int64",
}
RESULTS_FILE = "results.parquet"
PHASES_FILE = "phases.parquet"
PACKAGES = ("xfer-scale", "torch", "transformers", "datasets", "accelerate", "hydra-core", "evaluate", "pandas")


def table(rows: list[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as a frame with exactly the contract's columns first, typed."""
    frame = pd.DataFrame(rows, columns=list(columns) + sorted({k for r in rows for k in r} - set(columns)))
    return frame.astype(columns)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)


def write_tables(run_dir: Path, results: list[dict[str, Any]], phases: list[dict[str, Any]]) -> pd.DataFrame:
    frame = table(results, {**RESULT_COLUMNS, **EXTRA_RESULT_COLUMNS})
    write_frame(frame, run_dir / RESULTS_FILE)
    write_frame(frame, run_dir / "results.csv")
    write_frame(table(phases, PHASE_COLUMNS), run_dir / PHASES_FILE)
    return frame


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance(device: str) -> dict[str, Any]:
    """What a reader of the results needs later to know how they were made: two runs of one
    configuration on other code, libraries or GPUs give other numbers (the report shows these per arm)."""
    import torch  # a run has it loaded; `report`, which imports this module, need not

    on_gpu = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "command": sys.argv,
        "git_commit": _git_commit(),
        "packages": {p: _version(p) for p in PACKAGES},
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(torch.device(device)) if on_gpu else None,
        "host": platform.node(),
        "device": device,
        "started": now(),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_run_record(run_dir: Path, cfg: DictConfig, record: dict[str, Any]) -> None:
    """`config.yaml` (the resolved config) and `run.json` (id, provenance, timings)."""
    write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    write_text(run_dir / "run.json", json.dumps(record, indent=2, default=str) + "\n")
