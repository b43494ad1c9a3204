"""Config composition and validation: every mistake is caught before work starts."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from xfer_scale import config
from xfer_scale.cli import main
from xfer_scale.config import setup
from xfer_scale.errors import UserError


def compose_cfg(*overrides: str):
    setup()
    with initialize_config_module("xfer_scale.conf", version_base=None):
        return compose("config", overrides=list(overrides))


def test_defaults_are_the_papers_large_model_on_xnli():
    cfg = compose_cfg()
    assert cfg.model.path == "FacebookAI/xlm-roberta-large"
    assert cfg.intermediate.name == "none" and cfg.target.name == "xnli"
    assert cfg.target.train.grad_accum == 8 and cfg.target.train.epochs == 2
    config.validate(cfg)


def test_smoke_experiment_uses_tiny_model_and_bundled_data():
    cfg = compose_cfg("experiment=smoke")
    assert cfg.model.path == "builtin:tiny" and cfg.intermediate.name == "mnli"
    assert cfg.data.root.endswith("smoke_data")
    assert config.target_languages(cfg) == ["en", "de", "es", "fr", "sw"]


def test_language_restriction_keeps_benchmark_order():
    cfg = compose_cfg("target.languages=[sw,de]", "benchmark=xtreme")
    assert config.target_languages(cfg) == ["de", "sw"]
    cfg = compose_cfg("target=udpos", "benchmark=xtreme-r")
    assert "wo" in config.target_languages(cfg) and len(config.target_languages(cfg)) == 38


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["intermediate=mnli", "intermediate.fraction=1.5"], "outside (0, 1]"),
        (["intermediate=mnli", "intermediate.fraction=0"], "outside (0, 1]"),
        (["intermediate=mnli", "intermediate.examples=0"], "positive count"),
        (["target.languages=[xx]"], "no language xx"),
        (["benchmark=xtreme-3"], "benchmark=xtreme-3 is not defined"),
        (["precision=fp8"], "precision='fp8' is not valid"),
        (["phases=[pretrain]"], "phases entry='pretrain'"),
        (["target.eval_splits=[train]"], "target.eval_splits entry='train'"),
    ],
)
def test_validate_rejects_with_a_message_naming_the_fix(overrides, message):
    cfg = compose_cfg(*overrides)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        config.validate(cfg)


def test_schema_rejects_unknown_keys_and_wrong_types():
    with pytest.raises(Exception, match="Could not override 'target.train.learning_rte'"):
        compose_cfg("target.train.learning_rte=1")
    with pytest.raises(Exception, match="seed"):
        compose_cfg("seed=abc")


@pytest.mark.parametrize(
    "overrides",
    [["target=nope"], ["target.foo=1"], ["seed=abc"], ["intermediate.fraction=3"], ["target.languages=[xx]"]],
)
def test_cli_exits_2_on_bad_configuration(overrides, tmp_path, capsys):
    code = main(["run", "experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}", f"cache.dir={tmp_path}", *overrides])
    assert code == 2
    assert not (tmp_path / "run" / "results.parquet").exists()


def test_cli_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "report", "score", "tasks", "prepare"):
        assert f"\n  {command}" in out


def test_unknown_command_exits_2(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_resolved_config_is_plain_yaml():
    cfg = compose_cfg("experiment=smoke")
    text = config.to_yaml(cfg)
    assert "xfer_scale_data" not in text and OmegaConf.create(text).name == "smoke"
