"""XTREME's task-group averages (classification, tagging, QA, retrieval, and `all_task`), with the
category average (`category_avg`, the mean of the category groups) beside them, from a sweep's
runs, next to the per-task averages they are made of, as `xfer-scale score` computes them
(`Benchmark.overall_scores`; the groups and `all_task` as XTREME's `evaluate.py` does).

A group number means something only when it is XTREME's: every task of the group, every language
the run's benchmark lists for it, on the test split, from one configuration and seed. Runs of
different targets have different arms (the target is part of a run's settings), so they are
matched here by what they share: model, experiment, intermediate task and fraction, and the
readable settings (benchmark included). The subsample seed counts as "the seed" where it follows
the seed, so such runs still pool over seeds. A task with two runs of one such key and seed (two
target recipes, which the results do not spell out) is left out rather than silently averaged.
Runs without a `benchmark` (older results files) have no language list and give no group. Which
tasks, languages, headline metrics and groups count is the package's benchmark files'
(`xfer_scale.benchmarks`), as for `xfer-scale score`.
"""

from __future__ import annotations

import pandas as pd

from xfer_scale import benchmarks
from xfer_scale.report.arms import SETTINGS
from xfer_scale.report.stats import aggregate
from xfer_scale.report.views import READABLE, VARYING, drop_constant

SPLIT = "test"  # XTREME's numbers are test numbers
SUBSAMPLE_SEED = "intermediate_subsample_seed"
#: what runs of different targets share: one configuration of phase 1 and the benchmark
KEYS = ["model", "experiment", "intermediate_task", "intermediate_fraction", *SETTINGS]
SEED_KEYS = [*KEYS, "seed"]
TASK, GROUP = "task", "group"  # the two kinds of row: a task's headline average, a group's
CONFIGURATION = "configuration"
COLUMNS = [*KEYS, "kind", "name", "tasks", "mean", "std", "n_seeds", "ci95"]


def _order() -> list[str]:
    """Columns of the view: every task, then every group, as the benchmark files list them."""
    shipped = benchmarks.package().values()
    return list(dict.fromkeys([*(task for bench in shipped for task in bench.tasks),
                               *(name for bench in shipped for name in bench.overall()),
                               benchmarks.CATEGORY_AVERAGE]))


def _expected() -> pd.DataFrame:
    """One row per (benchmark, task, headline metric, language) XTREME averages, with the task's
    name in the results (`target_task`, its target config's) beside XTREME's (`task`, its
    submission folder), and the number of headline metrics the task averages."""
    rows = [
        (name, task.target, task.name, metric, language, len(task.headline))
        for name, bench in benchmarks.package().items()
        for task in bench.tasks.values()
        for metric in task.headline
        for language in task.languages
    ]
    return pd.DataFrame(rows, columns=["benchmark", "target_task", "task", "metric", "language", "n_headline"])


def task_averages(results: pd.DataFrame) -> pd.DataFrame:
    """Per key, seed and task with one run covering every benchmark language: the task's headline
    average (evaluate.py's avg_metric: the mean over its headline metrics of their language means).

    Rows are reduced per run on a narrow frame first and given their run's settings afterwards:
    copying a dozen text columns of every row would cost most of the time.
    """
    expected = _expected()
    on = ["benchmark", "target_task", "metric", "language"]
    headline = (results["split"] == SPLIT) & results["metric"].isin(set(expected["metric"]))
    test = results.loc[headline, ["run_id", *on, "value"]]
    rows = test.merge(expected, on=on)  # XTREME's rows only: its languages, headline metrics, benchmarks
    per_metric = rows.groupby(["run_id", "benchmark", "task", "metric"], as_index=False).agg(
        value=("value", "mean"), n_languages=("language", "nunique")
    )
    needed = expected.groupby(["benchmark", "task", "metric"], as_index=False).agg(
        needed=("language", "size"), n_headline=("n_headline", "first"))
    per_metric = per_metric.merge(needed, on=["benchmark", "task", "metric"])
    complete = per_metric[per_metric["n_languages"] == per_metric["needed"]]
    per_run = complete.groupby(["run_id", "task"], as_index=False).agg(
        value=("value", "mean"), n_metrics=("metric", "nunique"), n_headline=("n_headline", "first")
    )
    per_run = per_run[per_run["n_metrics"] == per_run["n_headline"]]
    runs = results.drop_duplicates("run_id")[["run_id", *SEED_KEYS]]
    per_run = per_run.merge(runs, on="run_id")
    follows = (per_run[SUBSAMPLE_SEED] == per_run["seed"]).fillna(False)
    per_run[SUBSAMPLE_SEED] = per_run[SUBSAMPLE_SEED].astype("string").mask(follows, "seed")
    n_runs = per_run.groupby([*SEED_KEYS, "task"], dropna=False)["run_id"].transform("size")
    return per_run.loc[n_runs == 1, [*SEED_KEYS, "task", "value"]]


def benchmark_group_table(results: pd.DataFrame) -> pd.DataFrame:
    """Group and per-task headline averages over seeds (mean, std, n_seeds, ci95) for every key
    with at least one complete group; empty when no key has one."""
    per_task = task_averages(results)
    # One number per key: settings older results lack are NA, which groupby and merge keys drop.
    per_task[CONFIGURATION] = per_task.groupby(KEYS, dropna=False, sort=False).ngroup()
    per_group = _overall(per_task)
    if per_group.empty:
        return pd.DataFrame(columns=COLUMNS)
    beside = per_task[per_task[CONFIGURATION].isin(per_group[CONFIGURATION])]  # tasks beside a complete group
    tasks = beside.rename(columns={"task": "name"}).assign(tasks=lambda d: d["name"])
    stats = pd.concat(
        [aggregate(frame, [CONFIGURATION, "name", "tasks"], "value").assign(kind=kind)
         for kind, frame in ((TASK, tasks), (GROUP, per_group))],
        ignore_index=True,
    )
    table = per_task.drop_duplicates(CONFIGURATION)[[CONFIGURATION, *KEYS]].merge(stats, on=CONFIGURATION)
    return table[COLUMNS].sort_values([*KEYS, "kind"], kind="stable", ignore_index=True)


def _overall(per_task: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and seed, the groups, `all_task` and category average its complete
    tasks give, as `xfer-scale score` computes them (`Benchmark.overall_scores`), each with what
    it averages (tasks; for the category average, groups)."""
    shipped = benchmarks.package()
    rows = []
    for (configuration, seed, benchmark), tasks in per_task.groupby([CONFIGURATION, "seed", "benchmark"]):
        bench = shipped[benchmark]
        averaged = {**{name: ", ".join(members) for name, members in bench.overall().items()},
                    benchmarks.CATEGORY_AVERAGE: ", ".join(bench.categories)}
        found = bench.overall_scores(dict(zip(tasks["task"], tasks["value"])))
        rows += [(configuration, seed, name, averaged[name], value) for name, value in found.items()]
    return pd.DataFrame(rows, columns=[CONFIGURATION, "seed", "name", "tasks", "value"])


def missing_tasks(results: pd.DataFrame) -> list[str]:
    """Per benchmark in the results and group, the tasks no key and seed has complete; runs of
    language lists that are no XTREME version (`benchmark=smoke`) have no groups to miss."""
    complete = task_averages(results).groupby("benchmark")["task"].agg(set)
    lines = []
    shipped = benchmarks.package()
    for benchmark in sorted(set(results["benchmark"].dropna()) & set(shipped)):
        for name, tasks in shipped[benchmark].overall().items():
            missing = [t for t in tasks if t not in complete.get(benchmark, set())]
            why = ", ".join(missing) if missing else "each task is complete somewhere, never all in one configuration"
            lines.append(f"{benchmark} {name}: {why}")
    return lines


def benchmark_group_view(table: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: its tasks' headline averages, then its groups (mean ± 95% CI
    over seeds), in XTREME's order; seeds as the groups have them."""
    # Keys as text ("–" for a setting not recorded): pandas does not match NA index labels.
    keys = table[KEYS].assign(intermediate_fraction=table["intermediate_fraction"].map("{:g}".format))
    cells = keys.astype("string").fillna("–").assign(
        name=table["name"],
        cell=[f"{m:.2f}" if pd.isna(c) else f"{m:.2f} ± {c:.2f}" for m, c in zip(table["mean"], table["ci95"])],
        seeds=table["n_seeds"].where(table["kind"] == GROUP),
    )
    wide = cells.pivot(index=KEYS, columns="name", values="cell")
    seeds = cells.groupby(KEYS)["seeds"].max().astype("Int64")
    view = wide.reindex(columns=[n for n in _order() if n in wide.columns]).assign(seeds=seeds).reset_index()
    return drop_constant(view, VARYING).rename(columns={**READABLE, "intermediate_fraction": "fraction"})
