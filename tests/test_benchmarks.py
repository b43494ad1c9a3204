"""Benchmarks and metrics as data: a benchmark file reads its tasks' languages from the target
YAMLs; a target added as one YAML (in a user's config directory) runs, writes predictions and is
scored by a benchmark file that lists it; a metric added as one registered function scores the
run and `xfer-scale score`; and what cannot fit is refused at start-up."""

from __future__ import annotations

import textwrap
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import benchmarks, config, data, file_formats, metrics, prediction_kinds, scoring
from xfer_scale.cli import main
from xfer_scale.errors import UserError
from xfer_scale.prediction_kinds import LABELS
from xfer_scale.submission import read_labels, write_predictions

PAWSX = Path(str(resources.files("xfer_scale") / "conf" / "target" / "pawsx.yaml"))
SMOKE_PAWSX = resources.files("xfer_scale") / "smoke_data" / "pawsx"
LANGUAGES = ["en", "de"]


@metrics.metric("label_pearson", needs=LABELS, selects="pearson")
def pearson(predictions: list, references: list) -> dict[str, float]:
    """Pearson's r x 100 of the labels read as numbers; 0 where either side is constant."""
    x, y = np.asarray(predictions, dtype=float), np.asarray(references, dtype=float)
    if x.std() == 0 or y.std() == 0:
        return {"pearson": 0.0}
    return {"pearson": float(np.corrcoef(x, y)[0, 1] * 100)}


# --- the package's benchmark files ----------------------------------------------------------


@pytest.mark.parametrize("name", benchmarks.names())
def test_scoring_languages_are_the_runs_languages(name: str):
    """The languages `score` and the report count are those a run of the target evaluates."""
    assert set(benchmarks.names()) == {"xtreme", "xtreme-r"}
    for task in benchmarks.load(name).tasks.values():
        run = config.target_languages(compose_cfg(f"target={task.target}", f"benchmark={name}"))
        assert list(task.languages) == run, task.name


def test_each_listed_target_writes_where_its_benchmarks_say():
    for bench in benchmarks.package().values():
        for task in bench.tasks.values():
            target = compose_cfg(f"target={task.target}", f"benchmark={bench.name}").target
            assert benchmarks.submission_of(target) == task.submission
            assert task.metric == target.metric  # one owner: the target YAML


#: a kind and its file format, registered as a metric module outside the package would
SCORES = prediction_kinds.register("test scores", "one real number per example")


def _write_scores(predictions: list[float]) -> str:
    return "".join(f"{float(value)!r}\n" for value in predictions)


def _read_scores(path: Path) -> list[float]:
    return [float(line) for line in file_formats.lines(path)]


file_formats.register("test_score", "txt", SCORES, _write_scores, _read_scores)


def test_a_file_format_registered_beside_its_kind_is_written_read_and_listed(tmp_path: Path):
    path = write_predictions(tmp_path, "sts", "de", [0.5, 4.25, -1.0], "test_score")
    assert path == tmp_path / "sts" / "test-de.txt" and path.read_text() == "0.5\n4.25\n-1.0\n"
    assert read_labels(path, "sts", "test_score") == [0.5, 4.25, -1.0]
    listed = benchmark_file(tmp_path, "xtreme", "pawsx: {file: test_score, report: [accuracy], headline: [accuracy]}\n")
    with pytest.raises(UserError, match=r"file format test_score of pawsx holds test scores"):
        benchmarks.load(listed)  # pawsx's accuracy scores labels: the kinds must agree
    with pytest.raises(ValueError, match="registered twice"):
        file_formats.register("test_score", "tsv", SCORES, _write_scores, _read_scores)
    with pytest.raises(ValueError, match="no prediction kind"):
        file_formats.register("test_score2", "tsv", "real numbers", _write_scores, _read_scores)
    with pytest.raises(ValueError, match="registered twice, differently"):
        prediction_kinds.register(SCORES, "something else")


# --- refused at start-up ----------------------------------------------------------------------


def test_a_metric_the_format_cannot_feed_exits_2(tmp_path: Path, capsys):
    with pytest.raises(UserError, match="target.metric=seqeval needs tag sequences, which format classification"):
        config.validate(compose_cfg("experiment=smoke", "target=xnli", "target.metric=seqeval"))
    assert main(["run", "experiment=smoke", "target=xnli", "target.metric=seqeval", f"hydra.run.dir={tmp_path}"]) == 2
    logged = capsys.readouterr().out
    assert "target.metric=seqeval" in logged and "classification" in logged


def test_an_unregistered_metric_is_named():
    with pytest.raises(UserError, match="target.metric='bleu' is no registered metric; choose one of accuracy"):
        config.validate(compose_cfg("experiment=smoke", "target=xnli", "target.metric=bleu"))


def test_a_benchmark_target_without_a_way_to_write_predictions_is_refused():
    cfg = compose_cfg("target=pawsx")
    cfg.target.name = "pawsx2"  # a copy of pawsx.yaml, run on XTREME, declaring no submission
    with pytest.raises(UserError, match=r"target=pawsx2 is evaluated on benchmark=xtreme but has no way to write .*"
                                        r"`submission_format: label or xcopa`"):
        config.validate(cfg)
    cfg.phases = ["intermediate", "target"]  # no test predictions to write
    config.validate(cfg)
    cfg.phases = list(config.PHASES)
    cfg.target.submission_format = "tag"
    with pytest.raises(UserError, match=r"target=pawsx2: its submission files \(pawsx2, format tag\) hold tag "
                                        r"sequences, but target.metric=accuracy scores labels"):
        config.validate(cfg)
    cfg.target.submission_format = "label"
    config.validate(cfg)


def benchmark_file(conf: Path, name: str, tasks: str) -> Path:
    path = conf / "benchmarks" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"tasks:\n{textwrap.indent(textwrap.dedent(tasks), '  ')}groups: {{}}\n")
    return path


def test_a_benchmark_file_cannot_disagree_with_a_target_yaml(tmp_path: Path):
    bad_file = benchmark_file(tmp_path, "one", "pawsx: {file: csv, report: [accuracy], headline: [accuracy]}\n")
    with pytest.raises(UserError, match=r"tasks.pawsx: file='csv' is no submission file format"):
        benchmarks.load(bad_file)
    no_languages = benchmark_file(tmp_path, "two", "pawsx: {file: label, report: [accuracy], headline: [accuracy]}\n")
    with pytest.raises(UserError, match=r"lists no languages for benchmark two; add benchmark_languages.two"):
        benchmarks.load(no_languages)
    renamed = benchmark_file(tmp_path, "xtreme", "bucc: {file: pair, report: [f1], headline: [f1]}\n")
    with pytest.raises(UserError, match=r"declares submission bucc2018 \(pair\), but .* lists it as bucc \(pair\)"):
        benchmarks.load(renamed)


def test_categories_and_the_overall_definition_are_checked(tmp_path: Path):
    task = "xnli: {file: label, report: [accuracy], headline: [accuracy]}\n"
    stranger = benchmark_file(tmp_path, "xtreme", task)
    stranger.write_text(stranger.read_text() + "categories: [classification]\n")
    with pytest.raises(UserError, match=r"categories names classification, which `groups` does not list"):
        benchmarks.load(stranger)
    unsourced = benchmark_file(tmp_path / "b", "xtreme", task)
    unsourced.write_text(unsourced.read_text() + "overall: {label: ours, formula: the mean}\n")
    with pytest.raises(UserError, match=r"overall needs label, formula, source, each a text"):
        benchmarks.load(unsourced)


# --- a target and a metric added as data and one function -------------------------------------


@pytest.fixture(scope="module")
def user_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's config directory: two copies of pawsx.yaml (one scored by the registered
    Pearson metric) and a benchmark file listing both."""
    conf = tmp_path_factory.mktemp("user_conf")
    text = PAWSX.read_text()
    head, _, body = text.partition("benchmark_languages:\n")
    body = body[body.index("splits:"):]  # drop pawsx's language lists
    for name, metric in (("pawsx2", "accuracy"), ("pawsx_r", "label_pearson")):
        yaml = head.replace("name: pawsx", f"name: {name}").replace("metric: accuracy", f"metric: {metric}")
        (conf / "target").mkdir(exist_ok=True)
        (conf / "target" / f"{name}.yaml").write_text(
            f"{yaml}data_dir: {SMOKE_PAWSX}\nsubmission_format: label\n"
            f"benchmark_languages:\n  smoke: {LANGUAGES}\n  mine: {LANGUAGES}\n{body}")
    benchmark_file(conf, "mine", """\
        pawsx2: {file: label, report: [accuracy], headline: [accuracy]}
        pawsx_r: {file: label, report: [pearson], headline: [pearson]}
        """)
    return conf


def run_and_score(target: str, conf: Path, tmp_path: Path, cache_dir: Path) -> tuple[pd.Series, pd.DataFrame]:
    """Run `target` from the user's config directory; its test scores as the run recorded them
    and as `score` gives them from its prediction files and the gold labels."""
    run_dir = tmp_path / "run"
    assert run_cli(f"target={target}", "intermediate=none", "target.train.max_steps=4", f"hydra.searchpath=[file://{conf}]",
                   run_dir=run_dir, cache_dir=cache_dir) == 0
    recorded = pd.read_parquet(run_dir / "results.parquet").query("split == 'test'").set_index("language")["value"]
    labels = tmp_path / "labels"
    for language in LANGUAGES:
        rows = data.load_split(compose_cfg("target=pawsx").target, "test", language, str(SMOKE_PAWSX.parent))
        write_predictions(labels, target, language, [str(label) for label in rows["label"]], "label")
    assert main(["score", "--predictions", str(run_dir / "predictions"), "--labels", str(labels),
                 "--benchmark", str(conf / "benchmarks" / "mine.yaml")]) == 0
    scored = scoring.score_directory(run_dir / "predictions", labels, conf / "benchmarks" / "mine.yaml")
    return recorded, scored.set_index(["task", "language", "metric"])["value"]


def test_a_target_added_as_yaml_only_writes_predictions_that_score_scores(user_conf: Path, tmp_path: Path,
                                                                          cache_dir: Path):
    recorded, scored = run_and_score("pawsx2", user_conf, tmp_path, cache_dir)
    assert sorted((tmp_path / "run" / "predictions" / "pawsx2").iterdir()) == [
        tmp_path / "run" / "predictions" / "pawsx2" / f"test-{language}.tsv" for language in sorted(LANGUAGES)]
    for language in LANGUAGES:
        assert scored[("pawsx2", language, "accuracy")] == pytest.approx(recorded[language])
    assert scored[("pawsx2", "avg", "avg_metric")] == pytest.approx(recorded.mean())


def test_a_metric_added_as_one_function_scores_the_run_and_score(user_conf: Path, tmp_path: Path, cache_dir: Path):
    recorded, scored = run_and_score("pawsx_r", user_conf, tmp_path, cache_dir)
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert set(results["metric"]) == {"pearson"}
    for language in LANGUAGES:
        assert scored[("pawsx_r", language, "pearson")] == pytest.approx(recorded[language])
