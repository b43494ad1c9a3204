"""What makes two runs the same experiment: the settings that determine the numbers, and nothing else.

The phase-1 cache key, the run id (and with it "this run is already complete") all derive
from `scientific_config`. Bookkeeping is left out on purpose: where results, caches and logs
go (`cache.dir`, the run folder, `data.root`'s path), how often to checkpoint or log,
trackers, inference batch size and loader workers. Changing one of those must neither retrain
a phase-1 model nor turn a finished run into a fresh one. Left in is everything a reader
of the numbers would need to reproduce them: the model and its revision, each task's
settings and the identity of its data (hub ids and revisions, or the local files' names,
sizes and content hashes), the amounts, seeds, the training recipe, the number of
processes (the effective batch, and so `full_data_steps`, depends on it) and the precision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from xfer_scale import architectures, config, controls, data, file_hashes, read_plan, tiny

#: training settings that change when and how often the loop saves, not what it computes
BOOKKEEPING_TRAIN_KEYS = ("checkpoint_every_steps", "checkpoint_every_minutes")
#: training settings of checkpoint selection, which only matter where a dev split selects
SELECTION_TRAIN_KEYS = ("eval_every_steps", "early_stop_patience", "eval_examples")
#: task settings that say where files are, not which files (their identity is fingerprinted)
LOCATION_TASK_KEYS = ("data_dir",)
#: what a task records for planning only (sizes from the hub cards): it changes no number
PLANNING_TASK_KEYS = ("recorded_sizes",)
#: source keys that name no data when unset (and `release`, a URL for people, never): left out
#: so that adding them to the schema did not change every earlier run's identity. A split's
#: `translations`, where set, count as the languages they are read in (`controls`)
SOURCE_KEYS_IF_SET = ("data_dir", "data_files", "translations")
SOURCE_KEYS_NEVER = ("release",)


def _sources(node: Any) -> Any:
    """A task's `splits` without the keys above, at any depth (`also`, `per_language`)."""
    if isinstance(node, dict):
        return {key: _sources(value) for key, value in node.items()
                if key not in SOURCE_KEYS_NEVER and not (key in SOURCE_KEYS_IF_SET and value is None)}
    if isinstance(node, list):
        return [_sources(value) for value in node]
    return node


def digest(value: Any) -> str:
    """A stable 16-hex-digit hash of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def model_identity(cfg: DictConfig) -> dict[str, Any]:
    """The pretrained model: its hub id or folder and revision; `builtin:tiny` by its shape and
    corpus (the folder it is built into lives under `cache.dir`, which is bookkeeping). A hub
    id at a revision names its architecture; a folder's contents can change, so a folder of
    another architecture than XLM-R's says which (XLM-R folders keep the identity they had)."""
    model = cfg.model
    path = f"builtin:tiny-{tiny.digest(**dict(model.tiny))}" if model.path == "builtin:tiny" else model.path
    settings = {"path": path, "revision": model.revision, "attention": model.attention}
    folder_type = architectures.folder_model_type(model.path)
    if folder_type not in (None, architectures.DEFAULT):
        settings["architecture"] = folder_type
    return settings


def _train_identity(task: DictConfig, world_size: int) -> dict[str, Any]:
    train = OmegaConf.to_container(task.train, resolve=True)
    dropped = BOOKKEEPING_TRAIN_KEYS + (() if "dev" in task.splits else SELECTION_TRAIN_KEYS)
    train = {k: v for k, v in train.items() if k not in dropped}
    train["effective_batch"] = task.train.batch_size * task.train.grad_accum * world_size
    return train


def task_settings(task: DictConfig, world_size: int) -> dict[str, Any]:
    """A task's settings with its training recipe; a multitask's parts recurse."""
    settings = OmegaConf.to_container(task, resolve=True)
    out = {k: v for k, v in settings.items() if k not in (*LOCATION_TASK_KEYS, *PLANNING_TASK_KEYS, "train", "tasks")}
    if "splits" in out:
        out["splits"] = _sources(out["splits"])
    out["train"] = _train_identity(task, world_size)
    if task.get("tasks"):
        out["tasks"] = {name: task_settings(sub, world_size) for name, sub in task.tasks.items()}
    return out


def _files(reads: list[tuple[DictConfig, str, str]], cfg: DictConfig) -> list[list[Any]]:
    """The local files behind each (task, split, language) read, by content; hub reads are
    pinned by their ids and revisions in the task settings."""
    hashes = file_hashes.folder(cfg.cache.dir)
    return [[task.name, split, language, data.local_fingerprint(task, split, language, cfg.data.root, hashes)]
            for task, split, language in reads]


def phase1_identity(cfg: DictConfig, world_size: int) -> dict[str, Any]:
    """Everything that determines the phase-1 model."""
    return {
        "model": model_identity(cfg),
        "precision": config.precision(cfg),
        "seed": cfg.seed,
        "processes": world_size,
        "intermediate": controls.identity_settings(task_settings(cfg.intermediate, world_size), cfg.intermediate),
        "intermediate_files": _files([*read_plan.phase1_reads(cfg.intermediate), *read_plan.corpus_reads(cfg.intermediate)],
                                     cfg),
    }


def scientific_config(cfg: DictConfig, world_size: int) -> dict[str, Any]:
    """Everything that determines a run's numbers: phase 1's identity, the target with the
    languages and splits evaluated, and which phases run."""
    target = task_settings(cfg.target, world_size)
    for bookkeeping in ("benchmark_languages", "languages", "submission_task", "submission_format"):
        target.pop(bookkeeping)
    return {
        **phase1_identity(cfg, world_size),
        "target": target,
        "benchmark": cfg.benchmark,
        "evaluated_languages": config.target_languages(cfg),
        "target_files": _files([*read_plan.target_reads(cfg), *read_plan.zero_shot_reads(cfg),
                              *read_plan.search_reads(cfg)], cfg),
        "eval_max_examples": cfg.eval.max_examples,
        "phases": list(cfg.phases),
    }


def _without(settings: dict[str, Any], *paths: str) -> dict[str, Any]:
    """A deep copy of `settings` without the dotted `paths`."""
    out = json.loads(json.dumps(settings, default=str))
    for path in paths:
        *parents, leaf = path.split(".")
        node = out
        for parent in parents:
            node = node[parent]
        node.pop(leaf, None)
    return out


@dataclass(frozen=True)
class RunKeys:
    """The hashes a run is known by, all from one scientific configuration."""

    #: the run itself: stable across machines, folders and re-runs
    run_id: str
    #: runs of one arm differ only in their seed: the report's replicates. A subsample seed that
    #: follows the seed (the default) is part of the seed's variation, not of the arm
    arm: str
    #: the arms of one scaling curve: the same settings but for the amount of intermediate data
    series: str
    #: what a run shares with the `intermediate=none` run its gains are measured against: the
    #: model, precision, processes, the target (its recipe included) and what is evaluated
    baseline_key: str


BASELINE_SETTINGS = ("model", "precision", "processes", "target", "benchmark", "evaluated_languages", "target_files",
                     "eval_max_examples")


def run_keys(cfg: DictConfig, world_size: int) -> RunKeys:
    settings = scientific_config(cfg, world_size)
    return RunKeys(
        run_id=digest(settings),
        arm=digest(_without(settings, "seed")),
        series=digest(_without(settings, "seed", "intermediate.fraction", "intermediate.examples")),
        baseline_key=digest({key: settings[key] for key in BASELINE_SETTINGS}),
    )


def run_id(cfg: DictConfig, world_size: int) -> str:
    return run_keys(cfg, world_size).run_id


def phase1_key(cfg: DictConfig, world_size: int) -> str:
    """The phase-1 cache entry's name: readable task and amount, then the identity's hash."""
    inter = cfg.intermediate
    amount = f"n{inter.examples}" if inter.examples is not None else f"f{inter.fraction:g}"
    return f"{inter.name}-{amount}-{digest(phase1_identity(cfg, world_size))}"
