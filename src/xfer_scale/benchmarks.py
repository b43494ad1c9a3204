"""Benchmarks as data: `conf/benchmarks/<name>.yaml` lists a benchmark's tasks, their
submission files and score rules, its groups, its `all_task` rule, the groups its category
average averages, and who defined its overall score (`overall`: printed beside the number, so a
definition that is this project's, not the benchmark authors', says so where it is read).

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
from collections.abc import Collection, Mapping
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
#: the row of the category average: the mean of the `categories` groups' scores
CATEGORY_AVERAGE = "category_avg"
EVERY = "every"  # `all_task: every`: every task of the benchmark
_TASK_KEYS = {"target", "file", "report", "headline", "pooled", "note"}
_KEYS = {"tasks", "groups", ALL_TASK, "categories", "overall"}
_OVERALL_KEYS = ("label", "formula", "source")


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
class Definition:
    """Who defined a benchmark's overall score (`all_task`) and how: a `label` naming it (and
    whose it is), the `formula`, and the `source` it follows or why it is this project's own.
    Printed beside the number by `score` and the report: an overall score read apart from its
    definition gets compared with numbers defined otherwise (categories averaged, QA by F1)."""

    label: str
    formula: str
    source: str

    def note(self) -> str:
        """The definition as the line `score` and the report print beside the overall rows."""
        return f"{ALL_TASK}: {self.label}: {self.formula}. Source: {self.source}"


@dataclass(frozen=True)
class Task:
    """One task of a benchmark: its submission folder `name`, the `target` config it comes
    from, the submission `file` format, its `metric` and `languages` (read from the target
    YAML), the values `report`ed per language, the `headline` values `avg_metric` averages,
    whether the task average `pooled`s examples across languages (LAReQA), and a `note` a reader
    of its numbers must see beside them (Mewsli-X's release is not the paper's)."""

    name: str
    target: str
    file: str
    metric: str
    languages: tuple[str, ...]
    report: tuple[str, ...]
    headline: tuple[str, ...]
    pooled: bool = False
    note: str | None = None

    @property
    def submission(self) -> Submission:
        return Submission(self.name, self.file)


@dataclass(frozen=True)
class Benchmark:
    """A benchmark file, loaded: tasks in its order, groups, the tasks `all_task` averages, the
    groups the category average averages (none: no category average), and the definition of
    its overall score (None where the file gives none)."""

    name: str
    path: Path
    tasks: dict[str, Task]
    groups: dict[str, tuple[str, ...]]
    all_task: tuple[str, ...]
    categories: tuple[str, ...] = ()
    definition: Definition | None = None

    def overall(self) -> dict[str, tuple[str, ...]]:
        """The groups and `all_task`, each with the tasks it averages."""
        return {**self.groups, ALL_TASK: self.all_task}

    def overall_scores(self, task_scores: Mapping[str, float]) -> dict[str, float]:
        """The one place the numbers above the tasks are computed, for `score` and the report
        alike: from `task_scores` (task -> its avg_metric, complete tasks only), each group and
        `all_task` whose tasks are all there, the plain mean of their avg_metric (as evaluate.py
        averages), and the category average, the plain mean of the `categories` groups, once
        every one of them is there."""
        found = {name: sum(task_scores[task] for task in tasks) / len(tasks)
                 for name, tasks in self.overall().items() if all(task in task_scores for task in tasks)}
        if self.categories and all(group in found for group in self.categories):
            found[CATEGORY_AVERAGE] = sum(found[group] for group in self.categories) / len(self.categories)
        return found

    def notes(self, shown: Collection[str]) -> list[str]:
        """What a reader must see beside the `shown` rows, one note a line (tasks, groups, `all_task`, the category
        average): the overall score's definition where `all_task` is shown, what the category
        average averages where it is, and the note of each shown task that has one."""
        lines = [self.definition.note()] if self.definition and ALL_TASK in shown else []
        if CATEGORY_AVERAGE in shown:
            lines.append(f"{CATEGORY_AVERAGE}: the category average, the mean of the scores of "
                         f"{', '.join(self.categories)} (each group the mean of its tasks' avg_metric).")
        return lines + [f"{task.name}: {task.note}" for task in self.tasks.values() if task.note and task.name in shown]

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
    categories = _as_tuple(raw.get("categories") or [], f"{path}: categories")
    unknown_groups = [group for group in categories if group not in groups]
    if unknown_groups:
        raise UserError(f"{path}: categories names {', '.join(unknown_groups)}, which `groups` does not list")
    return Benchmark(name, path, tasks, groups, all_task, categories, _definition(path, raw.get("overall")))


def _definition(path: Path, entry: Any) -> Definition | None:
    """The `overall` entry: label, formula and source, all three text."""
    if entry is None:
        return None
    if not isinstance(entry, dict) or sorted(entry) != sorted(_OVERALL_KEYS) or \
            not all(isinstance(entry[key], str) and entry[key].strip() for key in _OVERALL_KEYS):
        raise UserError(f"{path}: overall needs {', '.join(_OVERALL_KEYS)}, each a text; got {entry!r}")
    return Definition(*(" ".join(entry[key].split()) for key in _OVERALL_KEYS))


def _task(path: Path, benchmark: str, name: str, entry: Any) -> Task:
    """One `tasks` entry, with its metric and languages read from the target YAML."""
    where = f"{path}: tasks.{name}"
    if not isinstance(entry, dict) or sorted(set(entry) - _TASK_KEYS) or not {"file", "report", "headline"} <= set(entry):
        raise UserError(f"{where} needs file, report and headline (and may set target, pooled, note); "
                        f"got {entry!r}")
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
    note = entry.get("note")
    if note is not None and not isinstance(note, str):
        raise UserError(f"{where}: note must be a text, not {note!r}")
    return Task(name, target_name, entry["file"], str(target.get("metric", "accuracy")),
                _as_tuple(list(languages), f"{target_path}: benchmark_languages.{benchmark}"),
                report, headline, bool(entry.get("pooled", False)), " ".join(note.split()) if note else None)


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


def target_notes() -> dict[str, str]:
    """Target config name -> the note the package's benchmark files give its task (Mewsli-X's
    release), for the report, whose results name targets, not submission folders."""
    return {task.target: task.note for bench in package().values() for task in bench.tasks.values() if task.note}


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
