"""XTREME's task groups in the report, on synthetic results whose averages are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xfer_scale import report
from xfer_scale.report.benchmark_groups import benchmark_group_table, missing_tasks
from xfer_scale import benchmarks

LANGS = benchmarks.load("xtreme").languages()
BASE = {"pawsx": 80.0, "xnli": 70.0, "bucc": 60.0, "tatoeba": 50.0, "xquad": 40.0, "udpos": 30.0, "panx": 20.0,
        "mlqa": 45.0, "tydiqa": 35.0, "mewslix": 25.0}


def planted(target: str, language: str, seed: int, metric: str) -> float:
    """Differs by language, seed and metric, so every average is checked for what it averages."""
    return BASE[target] + 0.5 * (sum(map(ord, language)) % 17) + seed + (metric == "f1")


def run(target: str, seed: int, metrics=("accuracy",), languages=None, subsample_seed=None, tag: str = "",
        task: str = "mnli", fraction: float = 0.1) -> pd.DataFrame:
    """One run's test rows over its benchmark languages (XTREME names bucc's folder bucc2018)."""
    languages = LANGS["bucc2018" if target == "bucc" else target] if languages is None else languages
    rows = [
        dict(run_id=f"{target}-{task}-{fraction}-{seed}{tag}", experiment="scaling", model="xlmr-large", seed=seed,
             intermediate_task=task, intermediate_fraction=fraction, intermediate_examples=round(392_702 * fraction),
             target_task=target, language=language, split="test", metric=metric,
             value=planted(target, language, seed, metric), n_examples=100,
             intermediate_budget="epochs", intermediate_subsample_seed=seed if subsample_seed is None else subsample_seed,
             benchmark="xtreme", model_revision=None, processes=1, intermediate_languages="en", intermediate_translations=None,
             intermediate_mlm_ratio=0.0)
        for language in languages for metric in metrics
    ]
    frame = pd.DataFrame(rows)
    return frame.astype({"model_revision": "string", "intermediate_subsample_seed": "Int64", "processes": "Int64",
                         "intermediate_mlm_ratio": "Float64", "benchmark": "string"})


def task_average(target: str, seed: int, metrics=("accuracy",)) -> float:
    languages = LANGS["bucc2018" if target == "bucc" else target]
    return float(np.mean([np.mean([planted(target, lang, seed, m) for lang in languages]) for m in metrics]))


def rows(table: pd.DataFrame, kind: str) -> pd.DataFrame:
    return table[table["kind"] == kind].set_index("name")


def test_complete_groups_average_their_tasks_headline_averages():
    results = pd.concat([
        *(run(t, seed) for t in ("pawsx", "xnli", "tatoeba") for seed in (1, 2)),
        *(run("bucc", seed, metrics=("f1", "precision", "recall")) for seed in (1, 2)),
        *(run("xquad", seed, metrics=("exact_match", "f1")) for seed in (1, 2)),  # qa lacks mlqa, tydiqa
    ], ignore_index=True)
    table = benchmark_group_table(results)
    groups = rows(table, "group")
    assert set(groups.index) == {"classification", "retrieval"}
    for name, targets in (("classification", ("pawsx", "xnli")), ("retrieval", ("bucc", "tatoeba"))):
        per_seed = [np.mean([task_average(t, s, ("f1",) if t == "bucc" else ("accuracy",)) for t in targets])
                    for s in (1, 2)]
        assert groups.loc[name, "mean"] == pytest.approx(np.mean(per_seed))
        assert groups.loc[name, "n_seeds"] == 2
    tasks = rows(table, "task")
    # the per-task headline averages beside them: bucc as XTREME's bucc2018, by F1 alone; xquad by (EM + F1) / 2
    assert tasks.loc["bucc2018", "mean"] == pytest.approx(np.mean([task_average("bucc", s, ("f1",)) for s in (1, 2)]))
    assert tasks.loc["xquad", "mean"] == pytest.approx(
        np.mean([task_average("xquad", s, ("exact_match", "f1")) for s in (1, 2)])
    )
    assert "all_task" not in groups.index and "qa" not in groups.index


def test_a_seed_missing_a_language_does_not_count():
    results = pd.concat([
        run("pawsx", 1), run("xnli", 1), run("pawsx", 2),
        run("xnli", 2, languages=[lang for lang in LANGS["xnli"] if lang != "sw"]),
    ], ignore_index=True)
    groups = rows(benchmark_group_table(results), "group")
    assert groups.loc["classification", "n_seeds"] == 1
    assert groups.loc["classification", "mean"] == pytest.approx((task_average("pawsx", 1) + task_average("xnli", 1)) / 2)


def test_dev_rows_and_extra_languages_are_not_xtremes_numbers():
    extra = run("xnli", 1, languages=["xx"])  # a language XTREME's XNLI does not list
    dev = run("pawsx", 1).assign(split="dev", value=0.0)
    results = pd.concat([run("pawsx", 1), run("xnli", 1), extra, dev], ignore_index=True)
    groups = rows(benchmark_group_table(results), "group")
    assert groups.loc["classification", "mean"] == pytest.approx((task_average("pawsx", 1) + task_average("xnli", 1)) / 2)


def test_subsample_seed_following_the_seed_pools_and_a_fixed_one_does_not():
    following = pd.concat([run(t, s) for t in ("pawsx", "xnli") for s in (1, 2)], ignore_index=True)
    assert rows(benchmark_group_table(following), "group").loc["classification", "n_seeds"] == 2
    fixed = pd.concat([run(t, s, subsample_seed=7 * s, tag="f") for t in ("pawsx", "xnli") for s in (1, 2)],
                      ignore_index=True)
    groups = benchmark_group_table(fixed).query("kind == 'group'")
    assert sorted(groups["intermediate_subsample_seed"]) == ["14", "7"] and (groups["n_seeds"] == 1).all()


def test_two_runs_of_one_task_key_and_seed_are_left_out_not_pooled():
    results = pd.concat([run("pawsx", 1), run("pawsx", 1, tag="-other-recipe"), run("xnli", 1)], ignore_index=True)
    assert benchmark_group_table(results).empty
    assert "xtreme classification: pawsx" in missing_tasks(results)


def write_runs(root: Path, frames: list[pd.DataFrame]) -> Path:
    for frame in frames:
        run_dir = root / frame["run_id"].iloc[0]
        run_dir.mkdir(parents=True)
        frame.to_parquet(run_dir / "results.parquet", index=False)
    return root


def test_report_writes_the_table_and_a_section(tmp_path):
    frames = [run(t, 1, task=task, fraction=fraction) for t in ("pawsx", "xnli")
              for task, fraction in (("none", 0.0), ("mnli", 0.1))]
    built = report.build_report([write_runs(tmp_path / "runs", frames)], tmp_path / "out")
    table = pd.read_csv(built.out / "tables" / "benchmark_groups.csv")
    assert len(table.query("kind == 'group'")) == 2  # classification, for the baseline and for mnli
    text = built.markdown.read_text()
    section = text[text.index("## XTREME's task groups"):]
    line = next(row for row in section.splitlines() if row.startswith("| mnli"))
    assert f"{(task_average('pawsx', 1) + task_average('xnli', 1)) / 2:.2f}" in line


def test_report_names_the_missing_tasks_when_no_group_is_complete(tmp_path):
    frames = [run("xnli", 1, task="none", fraction=0.0), run("tatoeba", 1, task="none", fraction=0.0)]
    built = report.build_report([write_runs(tmp_path / "runs", frames)], tmp_path / "out")
    assert built.tables["benchmark_groups"].empty
    text = built.markdown.read_text()
    assert "No group is complete" in text
    assert "- xtreme classification: pawsx" in text and "- xtreme retrieval: bucc2018" in text
    assert "- xtreme qa: xquad, mlqa, tydiqa" in text


def test_runs_of_a_language_list_that_is_no_xtreme_version_have_no_groups_to_miss():
    """benchmark=smoke (the bundled data's languages): the report is written, no group is listed."""
    frame = run("xnli", 1, task="none", fraction=0.0, languages=["en", "de"])
    assert missing_tasks(frame.assign(benchmark="smoke")) == []
    assert missing_tasks(frame) != []


def test_category_average_and_definition_beside_a_complete_benchmark(tmp_path):
    """All nine XTREME tasks for one seed: all_task and category_avg as `score` computes them,
    and report.md names whose overall score all_task is."""
    headline = {"pawsx": ("accuracy",), "xnli": ("accuracy",), "tatoeba": ("accuracy",), "bucc": ("f1",),
                "udpos": ("f1",), "panx": ("f1",), "xquad": ("exact_match", "f1"), "mlqa": ("exact_match", "f1"),
                "tydiqa": ("exact_match", "f1")}
    frames = [run(t, 1, metrics=m) for t, m in headline.items()]  # no baselines: no gains to plot, quicker
    built = report.build_report([write_runs(tmp_path / "runs", frames)], tmp_path / "out")
    groups = rows(built.tables["benchmark_groups"], "group")
    task = {t: task_average(t, 1, m) for t, m in headline.items()}
    categories = {"classification": (task["pawsx"] + task["xnli"]) / 2, "tagging": (task["udpos"] + task["panx"]) / 2,
                  "qa": (task["xquad"] + task["mlqa"] + task["tydiqa"]) / 3,
                  "retrieval": (task["bucc"] + task["tatoeba"]) / 2}
    assert groups.loc["all_task", "mean"] == pytest.approx(sum(task.values()) / 9)
    assert groups.loc["category_avg", "mean"] == pytest.approx(sum(categories.values()) / 4)
    assert groups.loc["category_avg", "tasks"] == "classification, tagging, qa, retrieval"
    section = built.markdown.read_text().split("## XTREME's task groups")[1].split("\n## ")[0]
    assert "- xtreme, all_task: XTREME's overall score, as its official evaluate.py computes it" in section
    assert "- xtreme, category_avg: the category average, the mean of the scores of classification" in section


def test_mewslix_numbers_come_with_the_release_caveat(tmp_path):
    frames = [run("mewslix", 1, metrics=("map@20",), languages=["de", "es"], task=task, fraction=fraction)
              for task, fraction in (("none", 0.0), ("mnli", 0.1))]
    text = report.build_report([write_runs(tmp_path / "runs", frames)], tmp_path / "out").markdown.read_text()
    caveat = "> mewslix: scored on the Mewsli-X release of 2022-05-18 (mewsli-x_20220518_6), not the data of"
    assert text.count(caveat) == 2  # at the top, and in mewslix's own section
    assert caveat in text.split("## mewslix (test)")[1]
    assert "not directly comparable" in text
