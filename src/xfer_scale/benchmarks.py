"""Benchmarks as data: `conf/benchmarks/<name>.yaml` lists a benchmark's tasks, their
submission files and score rules, its groups and its `all_task` rule.

A task's facts each have one owner. The benchmark file owns what scoring needs beyond the task:
the submission folder and file format, the values reported and averaged, pooling, groups. The
target YAML owns its languages (`benchmark_languages.<benchmark>`) and its metric (`metric:`),
which the benchmark reads from it rather than repeating, so the two cannot disagree.

The folder is `benchmarks`, not `benchmark`: Hydra treats a folder under conf/ as a config group,
and a group named `benchmark` would turn the plain `benchmark=xtreme` override (which picks each
target's language list and is part of every run id) into a group choice.

A benchmark file given by path (`xfer-scale score --benchmark my/conf/benchmarks/b.yaml`) reads
its targets from the `target/` folder beside its own folder (`my/conf/target/`), else from the
package's: a user's config directory holds both, as Hydra's search path expects.

Kept free of torch and seqeval: `xfer-scale score` and the report load it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from xfer_scale import metrics  # its modules also register the file formats of new prediction kinds
from xfer_scale.errors import UserError
from xfer_scale.file_formats import FILE_FORMATS

#: the package's config folder (src/xfer_scale/conf links to the repository's conf/)
CONF = Path(str(resources.files("xfer_scale") / "conf"))
FOLDER = "benchmarks"
TARGETS = "target"
ALL_TASK = "all_task"
EVERY = "every"  # `all_task: every`: every task of the benchmark
_TASK_KEYS = {"target", "file", "report", "headline", "pooled"}
_KEYS = {"tasks", "groups", ALL_TASK}


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader with YAML 1.2's booleans, as OmegaConf (and so a run) reads the
    files: YAML 1.1 would read the language codes `no` and `on` as booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


@dataclass(frozen=True)
class Submission:
    """Where a target's predictions go: `<root>/<task>/test-<lang>.<ext of file>`."""

    task: str
    file: str


@dataclass(frozen=True)
class Task:
    """One task of a benchmark: its submission folder `name`, the `target` config it comes
    from, the submission `file` format, its `metric` and `languages` (read from the target
    YAML), the values `report`ed per language, the `headline` values `avg_metric` averages, and
    whether the task average `pooled`s examples across languages (LAReQA)."""

    name: str
    target: str
    file: str
    metric: str
    languages: tuple[str, ...]
    report: tuple[str, ...]
    headline: tuple[str, ...]
    pooled: bool = False

    @property
    def submission(self) -> Submission:
        return Submission(self.name, self.file)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark file, loaded: tasks in its order, groups, and the tasks `all_task` averages."""

    name: str
    path: Path
    tasks: dict[str, Task]
    groups: dict[str, tuple[str, ...]]
    all_task: tuple[str, ...]

    def overall(self) -> dict[str, tuple[str, ...]]:
        """The groups and `all_task`, each with the tasks it averages."""
        return {**self.groups, ALL_TASK: self.all_task}

    def languages(self) -> dict[str, tuple[str, ...]]:
        """Task -> languages, in the benchmark's task order."""
        return {name: task.languages for name, task in self.tasks.items()}


def names() -> list[str]:
    """The benchmarks the package ships, by name."""
    return sorted(path.stem for path in (CONF / FOLDER).glob("*.yaml"))


def package() -> dict[str, Benchmark]:
    """Every benchmark the package ships, by name."""
    return {name: load(name) for name in names()}


def load(benchmark: str | Path) -> Benchmark:
    """A benchmark by name (a package file) or by the path of its YAML file."""
    as_path = Path(benchmark)
    if as_path.suffix in (".yaml", ".yml"):
        if not as_path.is_file():
            raise UserError(f"benchmark file {as_path} does not exist")
        return _load(as_path.resolve())
    path = CONF / FOLDER / f"{benchmark}.yaml"
    if not path.is_file():
        raise UserError(f"unknown benchmark {str(benchmark)!r}; choose one of {', '.join(names())}, "
                        "or give the path of a benchmark YAML file")
    return _load(path)


def find(name: str) -> Benchmark | None:
    """The package's benchmark `name`, or None: a language list without a benchmark file
    (`benchmark=smoke`) names no tasks to score."""
    return load(name) if name in names() else None


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UserError(f"{where} must be a list of names, not {value!r}")
    return tuple(value)


def _load(path: Path) -> Benchmark:
    raw = _yaml(path)
    unknown = sorted(set(raw) - _KEYS)
    if unknown or not isinstance(raw.get("tasks"), dict) or not raw["tasks"]:
        raise UserError(f"{path}: a benchmark file has keys {', '.join(sorted(_KEYS))}, `tasks` mapping each "
                        f"submission folder to its entry{'; unknown: ' + ', '.join(unknown) if unknown else ''}")
    name = path.stem
    tasks = {task: _task(path, name, task, entry) for task, entry in raw["tasks"].items()}
    groups = {group: _as_tuple(members, f"{path}: groups.{group}") for group, members in (raw.get("groups") or {}).items()}
    rule = raw.get(ALL_TASK, EVERY)
    all_task = tuple(tasks) if rule == EVERY else _as_tuple(rule, f"{path}: {ALL_TASK} (or `{EVERY}`)")
    for group, members in {**groups, ALL_TASK: all_task}.items():
        strangers = [task for task in members if task not in tasks]
        if strangers:
            raise UserError(f"{path}: {group} names {', '.join(strangers)}, which `tasks` does not list; "
                            "list them under tasks or drop them from the group")
    return Benchmark(name, path, tasks, groups, all_task)


def _task(path: Path, benchmark: str, name: str, entry: Any) -> Task:
    """One `tasks` entry, with its metric and languages read from the target YAML."""
    where = f"{path}: tasks.{name}"
    if not isinstance(entry, dict) or sorted(set(entry) - _TASK_KEYS) or not {"file", "report", "headline"} <= set(entry):
        raise UserError(f"{where} needs file, report and headline (and may set target, pooled); got {entry!r}")
    if entry["file"] not in FILE_FORMATS:
        raise UserError(f"{where}: file={entry['file']!r} is no submission file format, so its predictions could not "
                        f"be written; choose one of {', '.join(FILE_FORMATS)}")
    report, headline = _as_tuple(entry["report"], f"{where}.report"), _as_tuple(entry["headline"], f"{where}.headline")
    if not headline or not set(headline) <= set(report):
        raise UserError(f"{where}: headline {list(headline)} must be some of the reported values {list(report)}")
    target_name = entry.get("target", name)
    target_path = target_file(target_name, path)
    target = _yaml(target_path)
    languages = (target.get("benchmark_languages") or {}).get(benchmark)
    if not languages:
        raise UserError(f"{where}: its target {target_path} lists no languages for benchmark {benchmark}; "
                        f"add benchmark_languages.{benchmark} there")
    declared = Submission(target.get("submission_task") or name, target.get("submission_format") or entry["file"])
    if declared != Submission(name, entry["file"]):
        raise UserError(f"{target_path} declares submission {declared.task} ({declared.file}), but {path} lists it as "
                        f"{name} ({entry['file']}); drop the declaration from the target YAML")
    metric = metrics.find(str(target.get("metric", "accuracy")))
    holds = FILE_FORMATS[entry["file"]].holds
    if metric is not None and metric.needs != holds:
        fitting = [file for file, found in FILE_FORMATS.items() if found.holds == metric.needs]
        raise UserError(f"{where}: file format {entry['file']} of {name} holds {holds}, but its metric {metric.name} "
                        f"({target_path}) scores {metric.needs}; use file: {' or '.join(fitting) or '(none holds it)'}")
    return Task(name, target_name, entry["file"], str(target.get("metric", "accuracy")),
                _as_tuple(list(languages), f"{target_path}: benchmark_languages.{benchmark}"),
                report, headline, bool(entry.get("pooled", False)))


def target_file(target: str, benchmark_path: Path) -> Path:
    """The YAML of `target`: in the `target/` folder beside the benchmark's folder, else the
    package's."""
    for folder in (benchmark_path.parent.parent / TARGETS, CONF / TARGETS):
        if (folder / f"{target}.yaml").is_file():
            return folder / f"{target}.yaml"
    raise UserError(f"{benchmark_path} lists target {target}, but there is no {target}.yaml in "
                    f"{benchmark_path.parent.parent / TARGETS} or the package's conf/{TARGETS}")


def _yaml(path: Path) -> dict[str, Any]:
    """A YAML file's mapping, parsed once while the file is unchanged (its size and modification
    time are part of the key, so an edited file is read again)."""
    stat = path.stat()
    return _parsed(path, stat.st_size, stat.st_mtime_ns)


@cache
def _parsed(path: Path, size: int, mtime_ns: int) -> dict[str, Any]:
    """By PyYAML's C loader where built: OmegaConf's loader took a second for the benchmark
    files' targets, paid at every run's start-up validation."""
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as error:
        raise UserError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: expected a mapping of keys to values")
    return loaded


def submission_of(target: Any) -> Submission | None:
    """Where the target config `target` writes its predictions: as a package benchmark lists
    it, else as its own YAML declares (`submission_task`, default its name, and
    `submission_format`); None where neither says."""
    listed = {task.submission for benchmark in package().values() for task in benchmark.tasks.values()
              if task.target == target.name}
    if len(listed) > 1:
        raise UserError(f"target={target.name} is listed under different submissions ({listed}) by the package's "
                        "benchmark files; make them agree")
    declared_format = target.get("submission_format")
    if listed:
        (found,) = listed
        if (target.get("submission_task") or found.task, declared_format or found.file) != (found.task, found.file):
            raise UserError(f"target={target.name} declares submission {target.get('submission_task')} "
                            f"({declared_format}), but the package's benchmark files list it as {found.task} "
                            f"({found.file}); drop target.submission_task and target.submission_format")
        return found
    if declared_format is None:
        return None
    if declared_format not in FILE_FORMATS:
        raise UserError(f"target.submission_format={declared_format!r} is no submission file format; choose one of "
                        f"{', '.join(FILE_FORMATS)}")
    return Submission(target.get("submission_task") or target.name, declared_format)
