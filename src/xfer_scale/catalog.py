"""`xfer-scale tasks [--benchmark B]`: every shipped task, its format, metric, languages and sources
(for a target, also which source each of the benchmark's languages is evaluated from).

Each task file is composed through Hydra with the schema, as a run composes it, so the table
shows what a run gets (schema defaults filled in) and a task file a run could not use fails
here too, naming the file. Files are found with importlib.resources, so the listing works from
an installed wheel.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from importlib import resources

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from xfer_scale import config, data
from xfer_scale.errors import UserError

KINDS = ("intermediate", "target")
LOCAL_ONLY = "local only"
BASELINE = "none"  # intermediate=none is the no-intermediate baseline, not a task
COLUMNS = ("kind", "name", "format", "metric", "languages")


@dataclass(frozen=True)
class Task:
    """One task file, composed: `name` is what the command line selects (`target=bucc`)."""

    kind: str
    name: str
    config: DictConfig


def task_names(kind: str) -> list[str]:
    """Names of the task files shipped in conf/<kind>/."""
    folder = resources.files("xfer_scale.conf").joinpath(kind)
    names = (entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    return sorted(name for name in names if name != BASELINE)


def load_tasks() -> list[Task]:
    """Every task file of every kind, composed with the schema (as `intermediate=X` / `target=X`)."""
    config.setup()
    GlobalHydra.instance().clear()  # a run earlier in this process leaves Hydra initialised
    tasks = []
    with initialize_config_module(config_module="xfer_scale.conf", version_base=None):
        for kind in KINDS:
            for name in task_names(kind):
                try:
                    composed = compose(config_name="config", overrides=[f"{kind}={name}"])
                except (HydraException, OmegaConfBaseException) as error:
                    raise UserError(f"conf/{kind}/{name}.yaml does not compose with the schema: {error}") from None
                tasks.append(Task(kind, name, composed[kind]))
    return tasks


def languages(task: Task, benchmark: str) -> str:
    """`n: codes` of the benchmark's list; intermediate tasks are English."""
    if task.kind == "intermediate":
        return "1: en"
    codes = task.config.benchmark_languages.get(benchmark)
    return f"{len(codes)}: {' '.join(codes)}" if codes else f"- (not in {benchmark})"


def _hub_where(spec: DictConfig) -> str:
    """`path name`, a `data_dir` as `folder/` (a Parquet branch's folder, not a config)."""
    folder = f"{spec.data_dir}/" if spec.get("data_dir") else None
    return " ".join(str(value) for value in (spec.path, spec.name, folder) if value)


def _part_source(part: DictConfig) -> str:
    return _hub_where(part.hub) if part.get("hub") is not None else LOCAL_ONLY


def sources(task: DictConfig, which: str) -> str:
    """The task's `hub` or `local` sources, one entry per distinct source with the splits it
    serves; local paths are shown under DIR, the data root (`data.root`)."""
    served: dict[str, list[str]] = {}
    for split, source in task.splits.items():
        for part in [source, *(source.get("also") or [])]:
            spec = part.get(which)
            if spec is None:
                continue
            if which == "hub":
                where = _hub_where(spec)
            else:
                folder = task.data_dir or f"DIR/{spec.task_dir or task.name}"
                options = "".join(f", {key}: {value}" for key, value in (spec.get("options") or {}).items())
                where = f"{folder}/{spec.path} ({spec.reader}{options})"
            served.setdefault(where, []).append(split)
    return "; ".join(f"{where} [{' '.join(splits)}]" for where, splits in served.items()) or "-"


def languages_by_source(task: DictConfig, benchmark: str) -> str:
    """The benchmark's languages grouped by the source their evaluated splits load from (the
    hub config, a `per_language` override, or local files only), so a language that needs the
    original release, or a community mirror, shows before a run does."""
    grouped: dict[str, list[str]] = {}
    for language in task.benchmark_languages.get(benchmark) or []:
        by_split = {split: " + ".join(_part_source(part) for part in data.split_parts(task, split, language))
                    for split in config.evaluated_splits(task, language)}
        kinds = set(by_split.values())
        label = kinds.pop() if len(kinds) == 1 else ", ".join(f"{split}: {where}" for split, where in by_split.items())
        grouped.setdefault(label, []).append(language)
    return " | ".join(f"{label}: {' '.join(codes)}" for label, codes in grouped.items())


def table(tasks: list[Task], benchmark: str) -> str:
    """One aligned row per task, its hub and local sources on the two lines beneath; a target
    in the benchmark also gets a third, its languages by source."""
    rows = [COLUMNS] + [(t.kind, t.name, t.config.format, t.config.metric, languages(t, benchmark)) for t in tasks]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    indent = " " * (sum(widths[:2]) + 4)
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip())
        if index:
            task = tasks[index - 1].config
            if task.get("tasks"):  # a multitask: its parts have the sources
                lines.append(f"{indent}tasks: {' '.join(task.tasks)}")
            else:
                lines += [f"{indent}hub:   {sources(task, 'hub')}", f"{indent}local: {sources(task, 'local')}"]
            if tasks[index - 1].kind == "target" and task.benchmark_languages.get(benchmark):
                lines.append(f"{indent}languages by source: {languages_by_source(task, benchmark)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="xfer-scale tasks",
        description="List the shipped tasks: format, metric, languages of a benchmark, hub and local sources "
                    "(DIR is data.root; select a task with intermediate=NAME or target=NAME).",
    )
    parser.add_argument("--benchmark", default="xtreme",
                        help="whose language lists to show: a key of the targets' benchmark_languages (default: xtreme)")
    args = parser.parse_args(argv)
    tasks = load_tasks()
    known = sorted({name for task in tasks if task.kind == "target" for name in task.config.benchmark_languages})
    if args.benchmark not in known:
        raise UserError(f"--benchmark {args.benchmark}: no target lists languages for it; choose one of {', '.join(known)}.")
    print(table(tasks, args.benchmark))
    return 0
