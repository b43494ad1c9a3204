"""Config composition and validation: every mistake is caught before work starts."""

from __future__ import annotations

import json

import pytest
import torch
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


def test_checkpoints_are_by_the_clock_in_both_phases(capsys: pytest.CaptureFixture[str]):
    """An XLM-R Large state is 6.7 GB: by default it is saved every 30 minutes, never by step count."""
    assert main(["run", "--cfg", "job", "experiment=smoke"]) == 0
    shown = OmegaConf.create(capsys.readouterr().out)
    for phase in ("intermediate", "target"):
        assert shown[phase].train.checkpoint_every_minutes >= 10
        assert shown[phase].train.checkpoint_every_steps is None


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
        (["intermediate=mnli", "intermediate.examples=0"], "intermediate.examples=0 must be a whole number >= 1 or null"),
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


SMOKE_RANGES = [
    ("intermediate.train.batch_size=0", "intermediate.train.batch_size=0 must be a whole number >= 1."),
    ("target.train.batch_size=0", "target.train.batch_size=0 must be a whole number >= 1."),
    ("intermediate.train.grad_accum=0", "intermediate.train.grad_accum=0 must be a whole number >= 1."),
    ("target.train.eval_every_steps=0", "target.train.eval_every_steps=0 must be a whole number >= 1."),
    ("target.train.checkpoint_every_steps=0", "target.train.checkpoint_every_steps=0 must be a whole number >= 1 or null."),
    ("target.train.checkpoint_every_minutes=0", "target.train.checkpoint_every_minutes=0.0 must be a number > 0 or null."),
    ("eval.batch_tokens=0", "eval.batch_tokens=0 must be a whole number >= 1 or null."),
    ("model.compile_bucket=0", "model.compile_bucket=0 must be a whole number >= 1."),
    ("target.train.max_steps=0", "target.train.max_steps=0 must be a whole number >= 1 or null."),
    ("target.train.early_stop_patience=0", "target.train.early_stop_patience=0 must be a whole number >= 1 or null."),
    ("target.train.eval_examples=0", "target.train.eval_examples=0 must be a whole number >= 1 or null."),
    ("target.train.max_length=-1", "target.train.max_length=-1 must be a whole number in [8, 512]"),
    ("intermediate.train.max_length=100000",
     "intermediate.train.max_length=100000 must be a whole number in [8, 512] (the model's position embeddings "
     "hold 512 tokens)."),
    ("target.train.epochs=0", "target.train.epochs=0.0 must be a number > 0 (or set target.train.max_steps)."),
    ("intermediate.train.epochs=-1", "intermediate.train.epochs=-1.0 must be a number > 0"),
    ("target.train.learning_rate=-1", "target.train.learning_rate=-1.0 must be a number > 0."),
    ("intermediate.train.learning_rate=0", "intermediate.train.learning_rate=0.0 must be a number > 0."),
    ("target.train.warmup_ratio=2", "target.train.warmup_ratio=2.0 must be a number in [0, 1)."),
    ("target.train.warmup_ratio=1", "target.train.warmup_ratio=1.0 must be a number in [0, 1)."),
    ("target.train.warmup_ratio=-0.1", "target.train.warmup_ratio=-0.1 must be a number in [0, 1)."),
    ("target.train.weight_decay=-0.01", "target.train.weight_decay=-0.01 must be a number >= 0."),
    ("target.train.max_grad_norm=0", "target.train.max_grad_norm=0.0 must be a number > 0."),
    ("log_every_steps=0", "log_every_steps=0 must be a whole number >= 1."),
    ("seed=-5", "seed=-5 must be a whole number in [0, 4294967295]."),
    ("seed=4294967296", "seed=4294967296 must be a whole number in [0, 4294967295]."),
    ("intermediate.subsample_seed=-1", "intermediate.subsample_seed=-1 must be a whole number in [0, 4294967295] or null."),
    ("intermediate.examples=0", "intermediate.examples=0 must be a whole number >= 1 or null."),
    ("eval.batch_size=0", "eval.batch_size=0 must be a whole number >= 1."),
    ("eval.max_examples=0", "eval.max_examples=0 must be a whole number >= 1 or null."),
    ("data.num_workers=-1", "data.num_workers=-1 must be a whole number >= 0."),
    ("phases=[]", "phases=[] runs nothing; list some of: intermediate, target, zero_shot."),
    ("phases=[target,zero_shot,target]", "phases=['target', 'zero_shot', 'target'] lists target twice"),
    ("precision=fp16", "precision=fp16 needs a GPU, and this run is on the CPU (cpu=true); use precision=bf16"),
    ("+foo=1", "unknown key foo: no setting has this name"),
    ("+target.trian.epochs=1", "unknown key target.trian (did you mean target.train?)"),
    ("+target.train.epoch=1", "unknown key target.train.epoch (did you mean target.train.epochs?)"),
    ("++intermediate.budgit=epochs", "unknown key intermediate.budgit (did you mean intermediate.budget?)"),
    ("~seed", "seed was removed (an override `~seed`?)"),
]


def test_compiling_a_packed_phase_is_refused_at_start_up():
    with pytest.raises(UserError, match="model.compile=true and target.train.packing=true"):
        config.validate(compose_cfg("experiment=smoke", "model.compile=true", "target.train.packing=true"))


@pytest.mark.parametrize("override, message", SMOKE_RANGES)
def test_every_number_is_range_checked_and_every_key_known(override, message):
    with pytest.raises(UserError) as raised:
        config.validate(compose_cfg("experiment=smoke", override))
    assert message in str(raised.value)


@pytest.mark.parametrize("overrides", [
    ["target.train.epochs=0", "target.train.max_steps=10"],  # max_steps replaces epochs
    ["target.train.warmup_ratio=0", "target.train.weight_decay=0", "data.num_workers=4"],
    ["target.train.max_length=512", "intermediate.train.max_length=8"],
    ["intermediate=none", "intermediate.train.batch_size=0"],  # no phase 1: its recipe is not read
    ["seed=4294967295", "intermediate.subsample_seed=0"],
    ["precision=bf16"],  # the CPU's mixed precision
    ["+target.format_options.selection_metric=accuracy"],  # a dict-typed field takes any key
    ["intermediate=multitask", "~intermediate.tasks.cosmosqa"],
])
def test_values_at_the_edges_of_their_ranges_pass(overrides):
    config.validate(compose_cfg("experiment=smoke", *overrides))


def test_a_multitask_is_checked_by_its_own_recipe():
    with pytest.raises(UserError, match=r"intermediate.train.batch_size=0 must"):
        config.validate(compose_cfg("experiment=smoke", "intermediate=multitask", "intermediate.train.batch_size=0"))
    with pytest.raises(UserError, match=r"unknown key intermediate.tasks.mnli.trian \(did you mean intermediate.tasks.mnli.train"):
        config.validate(compose_cfg("experiment=smoke", "intermediate=multitask", "+intermediate.tasks.mnli.trian=1"))


def write_model_config(folder, **values):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(values))
    return folder


def test_max_length_is_checked_against_a_local_models_positions(tmp_path):
    xlmr = write_model_config(tmp_path / "xlmr", model_type="xlm-roberta", max_position_embeddings=514, pad_token_id=1)
    bert = write_model_config(tmp_path / "bert", model_type="bert", max_position_embeddings=512, pad_token_id=0)
    config.validate(compose_cfg("experiment=smoke", f"model.path={xlmr}", "target.train.max_length=512"))
    with pytest.raises(UserError, match=r"max_length=513 must be a whole number in \[8, 512\]"):
        config.validate(compose_cfg("experiment=smoke", f"model.path={xlmr}", "target.train.max_length=513"))
    config.validate(compose_cfg("experiment=smoke", f"model.path={bert}", "target.train.max_length=512"))
    with pytest.raises(UserError, match=r"max_length=600 must be a whole number in \[8, 512\]"):
        config.validate(compose_cfg("experiment=smoke", f"model.path={bert}", "target.train.max_length=600"))


def test_max_length_of_a_model_not_on_this_machine_is_checked_from_below_only(tmp_path):
    absent = f"model.path={tmp_path / 'not-downloaded'}"
    config.validate(compose_cfg("experiment=smoke", absent, "target.train.max_length=100000"))
    with pytest.raises(UserError, match=r"max_length=4 must be a whole number >= 8\.$"):
        config.validate(compose_cfg("experiment=smoke", absent, "target.train.max_length=4"))


def test_precision_is_checked_against_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda: "Tesla V100")
    config.validate(compose_cfg("experiment=smoke", "cpu=false", "precision=fp16"))
    with pytest.raises(UserError, match=r"precision=bf16 is not supported by this GPU \(Tesla V100\); use precision=fp16"):
        config.validate(compose_cfg("experiment=smoke", "cpu=false", "precision=bf16"))
    with pytest.raises(UserError, match=r"precision=fp16 needs a GPU, and this run is on the CPU \(cpu=true\)"):
        config.validate(compose_cfg("experiment=smoke", "cpu=true", "precision=fp16"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"on the CPU \(no GPU found\)"):
        config.validate(compose_cfg("experiment=smoke", "cpu=false", "precision=fp16"))


def test_a_config_checked_for_another_machine_skips_the_precision_check():
    config.validate(compose_cfg("experiment=smoke", "precision=fp16"), this_machine=False)


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
