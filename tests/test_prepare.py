"""`xfer-scale prepare`: the sweep expands as `run -m` would, and every split a run reads is fetched."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from xfer_scale import data
from xfer_scale.cli import main
from xfer_scale.config import setup
from xfer_scale.prepare import compose_sweep
from tests.conftest import run_cli


def _table(out: str) -> dict[tuple[str, str, str, str], int]:
    """(phase, task, split, language) -> examples, from prepare's summary."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[4].isdigit():
            rows[tuple(parts[:4])] = int(parts[4])
    return rows


def test_prepare_expands_the_sweep_and_counts_every_split(cache_dir: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["prepare", "-m", "experiment=smoke", "target=xnli,udpos", "seed=range(1,3)", f"cache.dir={cache_dir}"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"model tiny: {cache_dir / 'models'}/tiny-")
    assert "prepared 4 config(s): 1 model(s), 22 data split(s)" in out  # 2 targets x 2 seeds; seeds share data
    rows = _table(out)
    assert rows[("intermediate", "mnli", "train", "en")] == 600 and rows[("intermediate", "mnli", "dev", "en")] == 150
    assert rows[("target", "xnli", "train", "en")] == 600 and rows[("target", "udpos", "train", "en")] == 300
    assert rows[("target", "xnli", "dev", "en")] == rows[("zero_shot", "xnli", "dev", "en")] == 60
    assert rows[("zero_shot", "xnli", "test", "sw")] == 90 and rows[("zero_shot", "udpos", "test", "fr")] == 60
    assert {lang for phase, task, _, lang in rows if task == "udpos" and phase == "zero_shot"} == {"en", "de", "es", "fr"}
    assert len(rows) == 24


def test_sweep_axes_a_config_sets_expand_and_the_command_line_wins():
    """experiment=scaling sweeps fractions x targets x seeds through `hydra.sweeper.params`."""
    setup()
    axes = OmegaConf.load(resources.files("xfer_scale.conf") / "experiment" / "scaling.yaml").hydra.sweeper.params
    configs = compose_sweep(["experiment=scaling", "target=udpos", "seed=4"])
    fractions = [float(f) for f in str(axes["intermediate.fraction"]).split(",")]
    assert [cfg.intermediate.fraction for cfg in configs] == fractions and len(fractions) > 1
    assert {(cfg.target.name, cfg.seed) for cfg in configs} == {("udpos", 4)}


@pytest.mark.parametrize(("override", "message"), [
    ("nosuchkey=1", "Could not override 'nosuchkey'"),
    ("target=xnli,nosuchtask", "Could not find 'target/nosuchtask'"),  # a sweep value is checked too
    ("intermediate.fraction=2", "intermediate.fraction=2.0 is outside (0, 1]"),
])
def test_prepare_rejects_bad_overrides(override: str, message: str, capsys: pytest.CaptureFixture[str]):
    assert main(["prepare", "experiment=smoke", override]) == 2
    assert message in capsys.readouterr().err


def test_prepare_lists_exactly_what_a_run_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache_dir: Path,
                                                capsys: pytest.CaptureFixture[str]):
    """What the pipeline really loads (every data.load_split call) is what prepare fetched."""
    quick = [f"{phase}.train.{key}" for phase in ("intermediate", "target") for key in ("max_steps=2", "eval_examples=20")]
    overrides = ["target=udpos", "target.languages=[en,de]", "eval.max_examples=10", *quick,
                 "intermediate.examples=32", "intermediate.subsample_seed=7"]  # a phase-1 model no other test caches
    assert main(["prepare", "experiment=smoke", f"cache.dir={cache_dir}", *overrides]) == 0
    prepared = {(task, split, lang) for _, task, split, lang in _table(capsys.readouterr().out)}

    loaded = set()
    load_split = data.load_split

    def recording(task, split, lang, data_root=None, names=None):
        loaded.add((task.name, split, lang))
        return load_split(task, split, lang, data_root, names)

    monkeypatch.setattr(data, "load_split", recording)
    # without the features cache, which would serve splits that earlier tests read
    assert run_cli(*overrides, "cache.features=false", run_dir=tmp_path / "run", cache_dir=cache_dir) == 0
    assert loaded == prepared and ("mnli", "dev", "en") in loaded and ("udpos", "test", "de") in loaded


@pytest.mark.parametrize(("override", "plain"), [
    ("hydra.sweeper.params={target: xnli}", "target=xnli"),
    ("hydra.sweeper.params.seed=2", "seed=2"),
])
def test_prepare_says_what_to_type_where_hydra_cannot_set_sweeper_params(override: str, plain: str,
                                                                           capsys: pytest.CaptureFixture[str]):
    """experiment=smoke leaves hydra.sweeper.params null, which Hydra cannot override (`run -m` fails too)."""
    assert main(["prepare", "experiment=smoke", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot override hydra.sweeper.params") and "Traceback" not in err
    assert err.rstrip().endswith(f"give the sweep as plain overrides instead: {plain}") and len(err.splitlines()) == 1


def test_command_line_sweeper_params_merge_into_the_axes_a_config_sets():
    """As `run -m`: the override merges into experiment=scaling's axes, and plain overrides still win."""
    setup()
    fractions = str(OmegaConf.load(resources.files("xfer_scale.conf") / "experiment" / "scaling.yaml")
                    .hydra.sweeper.params["intermediate.fraction"]).split(",")
    configs = compose_sweep(["experiment=scaling", "hydra.sweeper.params={target: xnli, seed: '1,2'}", "seed=4"])
    assert [(cfg.intermediate.fraction, cfg.target.name, cfg.seed) for cfg in configs] == [
        (float(fraction), "xnli", 4) for fraction in fractions]
    assert compose_sweep(["experiment=smoke", "hydra.sweeper.params=null", "target=xnli,udpos"])[1].target.name == "udpos"
