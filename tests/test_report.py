"""The report on synthetic sweeps whose answers are known: planted slopes, exact gains and groups."""

import base64
import hashlib
import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from xfer_scale import report
from xfer_scale.errors import UserError

MNLI_SIZE = 392_702
FRACTIONS = (0.01, 0.1, 1.0)
SEEDS = (1, 2)
# Languages of the synthetic target: two low-resource, two high-resource, English, one unknown code.
LANGS = {"sw": "low", "yo": "low", "de": "high", "fr": "high", "en": "training", "xx": "unknown"}
# Planted gain = INTERCEPT + SLOPE * log10(examples), per language group.
SLOPE = {"low": 2.0, "high": 0.5, "training": 0.25, "unknown": 1.0}
INTERCEPT = {"low": -4.0, "high": 1.0, "training": 0.0, "unknown": 0.0}


def hex16(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def baseline_score(language: str, seed: int) -> float:
    """Differs by language and seed: gains must cancel both exactly."""
    return 50.0 + 3.0 * sorted(LANGS).index(language) + 0.7 * seed


def planted_gain(language: str, examples: int) -> float:
    group = LANGS[language]
    return INTERCEPT[group] + SLOPE[group] * math.log10(examples)


def run_rows(
    task: str, fraction: float, seed: int, target: str = "xnli", budget: str = "epochs", recipe: str = "a",
    gain=None, run: str = "",
) -> pd.DataFrame:
    """One run's results as the pipeline writes them: `gain(language, examples, seed)` is added to
    the baseline score (the planted line by default); `recipe` is the target recipe, part of the
    baseline key; `run` tells apart two runs of one arm and seed."""
    gain = gain or (lambda language, examples, seed: planted_gain(language, examples))
    examples = 0 if task == "none" else round(MNLI_SIZE * fraction)
    amount = (task, fraction) if task == "none" else (task, fraction, budget)
    rows = []
    for language in LANGS:
        value = baseline_score(language, seed) + (0.0 if task == "none" else gain(language, examples, seed))
        rows.append(
            dict(
                run_id=hex16(amount, target, recipe, seed, run), experiment="scaling", model="xlmr-large",
                seed=seed, intermediate_task=task, intermediate_fraction=fraction, intermediate_examples=examples,
                target_task=target, language=language, split="test", metric="accuracy", value=value,
                n_examples=5010, intermediate_steps=100, wall_s=1.0,  # an extra column, which the contract allows
                arm=hex16(amount, target, recipe), series=hex16(amount[:1] + amount[2:], target, recipe),
                baseline_key=hex16(target, recipe), intermediate_budget=budget, intermediate_subsample_seed=seed,
                benchmark="xtreme", model_revision=None, processes=1,
                intermediate_languages=None if task == "none" else "en", intermediate_translations=None,
                intermediate_mlm_ratio=None if task == "none" else 0.0,
            )
        )
    return pd.DataFrame(rows)


def write_run(root: Path, frame: pd.DataFrame, name: str | None = None) -> Path:
    r = frame.iloc[0]
    run_dir = root / (name or f"{r.intermediate_task}-{r.intermediate_fraction}-{r.target_task}-{r.seed}")
    run_dir.mkdir(parents=True)
    frame.to_parquet(run_dir / "results.parquet", index=False)
    return run_dir


def write_sweep(root: Path, seeds=SEEDS, baseline_seeds=SEEDS, budget: str = "epochs", gain=None) -> Path:
    for seed in seeds:
        for fraction in FRACTIONS:
            rows = run_rows("mnli", fraction, seed, budget=budget, gain=gain)
            write_run(root, rows, f"mnli-{fraction}-{budget}-{seed}")
    for seed in baseline_seeds:
        write_run(root, run_rows("none", 0.0, seed))
    return root


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("sweep") / "runs")


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory) -> report.Report:
    """One report that tests only read: plotting it for every test would take most of their time."""
    return report.build_report([sweep], tmp_path_factory.mktemp("report") / "out")


def test_ci_is_scipys_t_interval_over_distinct_seeds():
    frame = pd.DataFrame({
        "k": ["a"] * 3 + ["b"] * 2 + ["c"], "seed": [1, 2, 3, 1, 2, 1], "v": [70.0, 72.0, 74.0, 60.0, 64.0, 5.0]
    })
    table = report.aggregate(frame, ["k"], "v").set_index("k")
    for key, values in (("a", [70.0, 72.0, 74.0]), ("b", [60.0, 64.0])):
        low, high = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
        assert table.loc[key, ["mean", "n_seeds"]].tolist() == pytest.approx([np.mean(values), len(values)])
        assert table.loc[key, "ci95"] == pytest.approx((high - low) / 2)
    # one seed: no interval
    assert math.isnan(table.loc["c", "ci95"]) and math.isnan(table.loc["c", "std"])


def test_log_slope_is_linregress_and_needs_two_sizes():
    x, y = np.array([10, 100, 1000, 10, 100, 1000]), np.array([0.0, 2.0, 1.0, 0.5, 2.5, 1.0])
    expected = stats.linregress(np.log10(x), y)
    assert report.log_slope(x, y) == pytest.approx((expected.slope, expected.intercept))
    assert all(math.isnan(v) for v in report.log_slope(np.array([10, 10]), np.array([1.0, 2.0])))


def test_gains_subtract_the_same_seed_baseline_exactly(built):
    gains = built.tables["gains"]
    assert len(gains) == len(FRACTIONS) * len(LANGS)
    for row in gains.itertuples():
        assert row.mean == pytest.approx(planted_gain(row.language, row.intermediate_examples), abs=1e-9)
        assert row.std == pytest.approx(0.0, abs=1e-9)  # seed offsets cancel
        assert row.n_seeds == len(SEEDS)


def test_summary_keeps_absolute_scores_including_the_baseline(built):
    summary = built.tables["summary"]
    base = summary[(summary["intermediate_task"] == "none") & (summary["language"] == "sw")].iloc[0]
    assert base["mean"] == pytest.approx(np.mean([baseline_score("sw", s) for s in SEEDS]))
    # two seeds 0.7 apart: sd = 0.7 / sqrt(2), CI = 12.706205 * sd / sqrt(2) = 12.706205 * 0.35
    assert base["ci95"] == pytest.approx(12.706205 * 0.35, abs=1e-5)
    assert base["resource_class"] == 2 and base["group"] == "low"


def test_groups_average_zero_shot_languages_and_leave_out_english(built):
    groups = built.tables["groups"]
    gain = groups[(groups["quantity"] == "gain") & (groups["intermediate_fraction"] == 0.1)].set_index("group")
    examples = round(MNLI_SIZE * 0.1)
    zero_shot = [lang for lang, g in LANGS.items() if g != "training"]
    assert gain.loc["all", "mean"] == pytest.approx(np.mean([planted_gain(lang, examples) for lang in zero_shot]))
    assert gain.loc["low", "mean"] == pytest.approx(planted_gain("sw", examples))
    assert gain.loc["high", "mean"] == pytest.approx(planted_gain("de", examples))
    assert gain.loc["unknown", "mean"] == pytest.approx(planted_gain("xx", examples))
    assert gain.loc[["all", "low", "high", "unknown"], "n_languages"].tolist() == [5, 2, 2, 1]
    assert "training" not in gain.index
    score = groups[(groups["quantity"] == "score") & (groups["intermediate_task"] == "none")].set_index("group")
    assert score.loc["low", "mean"] == pytest.approx(np.mean([baseline_score(lang, s) for lang in ("sw", "yo") for s in SEEDS]))


def test_scaling_fit_recovers_planted_slopes(built):
    fits = built.tables["scaling_fit"].set_index("group")
    for group in ("low", "high", "unknown"):
        assert fits.loc[group, "slope"] == pytest.approx(SLOPE[group], abs=1e-9)
        assert fits.loc[group, "intercept"] == pytest.approx(INTERCEPT[group], abs=1e-9)
        assert fits.loc[group, "slope_ci95"] == pytest.approx(0.0, abs=1e-9)  # every seed has the same line
    # all = mean over 5 zero-shot languages of their lines: (2*2 + 2*0.5 + 1) / 5
    assert fits.loc["all", "slope"] == pytest.approx(1.2, abs=1e-9)
    assert fits.loc["low-high", "slope"] == pytest.approx(SLOPE["low"] - SLOPE["high"], abs=1e-9)
    assert fits.loc["low", ["n_seeds", "n_fractions"]].tolist() == [len(SEEDS), len(FRACTIONS)]
    assert {"slope", "slope_ci95", "n_seeds", "series"} <= set(fits.columns)


def test_missing_baselines_are_reported_not_dropped_silently(tmp_path, capsys):
    runs = write_sweep(tmp_path / "runs", seeds=(1, 2, 3), baseline_seeds=(1, 2))
    assert report.main([str(runs), "--out", str(tmp_path / "out")]) == 0
    missing = pd.read_csv(tmp_path / "out" / "tables" / "missing_baselines.csv")
    assert set(missing["seed"]) == {3}
    assert set(missing["language"]) == set(LANGS)
    assert (missing["affected_runs"] == len(FRACTIONS)).all()
    err = capsys.readouterr().err
    assert "warning: 6 result cells have no baseline run" in err and "seed=3" in err
    gains = pd.read_parquet(tmp_path / "out" / "tables" / "gains.parquet")
    assert (gains["n_seeds"] == 2).all()  # seed 3 has no gain, the others are intact
    assert "## Missing baselines" in (tmp_path / "out" / "report.md").read_text()


def test_a_run_found_twice_counts_once(tmp_path):
    runs = write_sweep(tmp_path / "runs")
    copy = tmp_path / "copy"
    shutil.copytree(runs / "mnli-0.1-epochs-1", copy / "mnli-0.1-epochs-1")
    built = report.build_report([runs, copy, runs], tmp_path / "out")
    assert built.n_runs == len(SEEDS) * (len(FRACTIONS) + 1)
    assert (built.tables["gains"]["n_seeds"] == len(SEEDS)).all()
    assert "counted once" in built.markdown.read_text()


def test_report_md_embeds_existing_plots_and_tables(built):
    text = built.markdown.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(images) == [
        "plots/heatmap_xnli_accuracy_test.png", "plots/overview_xnli_test.png",
        "plots/pretraining_xnli_accuracy_test.png", "plots/scaling_xnli_accuracy_test.png",
    ]
    for image in images:
        path = built.out / image
        assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(built.plots) == sorted(built.out / i for i in images)
    assert "## Is more intermediate data still helping?" in text
    assert "b = +2.00 ± 0.00" in text  # the planted low-resource slope, as a number
    assert "Low − high = +1.50 ± 0.00 points per tenfold data: the 95% interval excludes 0" in text
    assert re.search(r"^\| target +\| intermediate +\| metric +\| group +\| +b \(points per 10x\) \|", text, re.M)
    assert "## Languages without a resource class" in text and "xx" in text
    for name in ("summary", "gains", "groups", "scaling_fit", "language_slopes", "resource_model", "saturation",
                 "missing_baselines"):
        assert (built.out / "tables" / f"{name}.csv").exists() and (built.out / "tables" / f"{name}.parquet").exists()
    assert not list(built.out.rglob(".*"))  # no temporary files left behind


def test_main_prints_the_slopes(sweep, tmp_path, capsys):
    assert report.main([str(sweep), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "9 runs" not in out and "8 runs" in out
    assert "+2.00 ± 0.00" in out


def test_directory_without_results_is_a_user_error(sweep, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match=f"no results.parquet under {re.escape(str(empty))}"):
        report.build_report([sweep, empty], tmp_path / "out")


def test_missing_contract_column_is_a_user_error(tmp_path):
    run_dir = write_run(tmp_path / "runs", run_rows("none", 0.0, 1).drop(columns="metric"))
    with pytest.raises(UserError, match="lacks the columns metric"):
        report.build_report([run_dir], tmp_path / "out")


def test_only_baselines_gives_a_report_without_slopes(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, run_rows("none", 0.0, 1))
    built = report.build_report([runs], tmp_path / "out")
    assert built.tables["gains"].empty and built.tables["scaling_fit"].empty
    assert "No slope could be fitted" in built.markdown.read_text()


def test_a_target_without_test_split_is_reported_on_dev(tmp_path):
    runs = tmp_path / "runs"
    for task, fraction in (("none", 0.0), ("mnli", 0.1)):
        write_run(runs, run_rows(task, fraction, 1, target="xquad").assign(split="dev"))
    built = report.build_report([runs], tmp_path / "out")
    assert built.headline_splits == {"xquad": "dev"}
    assert "## xquad (dev)" in built.markdown.read_text()
    assert all(p.name.endswith("_dev.png") and p.exists() for p in built.plots)


def test_english_only_target_gets_a_heat_map_but_no_group_curve(tmp_path):
    runs = tmp_path / "runs"
    for task, fraction in (("none", 0.0), ("mnli", 0.1)):
        write_run(runs, run_rows(task, fraction, 1).query("language == 'en'"))
    built = report.build_report([runs], tmp_path / "out")
    assert [p.name for p in built.plots] == ["heatmap_xnli_accuracy_test.png"]
    assert built.tables["groups"].empty
    assert not (built.out / "plots" / "overview_xnli_test.png").exists()


def test_report_html_is_report_md_with_its_plots_inside(built):
    markdown, page = built.markdown.read_text(), built.html.read_text()
    headings = re.findall(r"^(#{1,2}) (.+)$", markdown, re.M)
    assert re.findall(r"<h([12])>(.+?)</h\1>", page) == [(str(len(level)), text) for level, text in headings]
    plots = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    inline = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(data) for data in inline] == [(built.out / plot).read_bytes() for plot in plots]
    assert page.count("<table>") == len(re.findall(r"^\|:", markdown, re.M)) > 0
    assert re.findall(r'(?:src|href)="(?!data:)', page) == [] and "url(" not in page and "@import" not in page


def test_report_html_renders_offline_at_phone_width_in_chromium(built, browser, tmp_path):
    visit = browser.visit(built.html)
    assert visit.requests[0] == built.html.resolve().as_uri()
    assert [url for url in visit.requests[1:] if not url.startswith("data:")] == []
    assert visit.errors == []
    images = browser.evaluate("[...document.images].map(image => image.complete && image.naturalWidth)")
    assert len(images) == len(built.plots) and all(images)
    width = browser.evaluate("innerWidth")
    assert browser.evaluate("document.documentElement.scrollWidth") <= width  # wide tables scroll in their box

    sort_twice = """(() => {
      const th = [...document.querySelectorAll("th")].find(th => th.textContent.startsWith("b (points"));
      const cells = () => [...th.closest("table").tBodies[0].rows].map(row => row.cells[th.cellIndex].textContent);
      th.click(); const up = cells(); th.click(); return [up, cells()];
    })()"""
    up, down = browser.evaluate(sort_twice)
    assert up == sorted(up, key=float) and down == up[::-1] and len(set(up)) > 1

    shot = browser.screenshot()
    (tmp_path / "report.png").write_bytes(shot)  # to look at: pytest --basetemp=DIR
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"))
    assert pixels.shape[1] == width and pixels.shape[0] > browser.evaluate("innerHeight")  # the whole page
    assert (pixels < 250).any(axis=2).mean() > 0.05  # text, tables and plots: not a blank page
    assert len(np.unique(pixels.astype(np.int32) @ [1 << 16, 1 << 8, 1])) > 100  # the plots' colours
