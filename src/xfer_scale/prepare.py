"""`xfer-scale prepare [OVERRIDES...]`: fetch what a run or sweep reads, where the hub is reachable.

Cluster compute nodes often have no internet. `prepare` expands the overrides exactly as
`run -m` would (Hydra's own override parser and its basic sweeper's cartesian product, as
`sweep_overrides.cells` reproduces it), then, for every distinct config, loads the model, the
tokenizer and each data split the run loads (`read_plan.phase_loads`, the lists the pipeline
itself follows). That fills the Hugging Face caches, so the runs work with HF_HUB_OFFLINE=1
HF_DATASETS_OFFLINE=1; on local files it checks they are there and readable.
"""

from __future__ import annotations

import json

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from transformers.utils import logging as hf_logging

from xfer_scale import config, data, modeling, read_plan, sweep_overrides
from xfer_scale.errors import UserError

USAGE = """\
usage: xfer-scale prepare [OVERRIDES...]

Download the model and every data split the run (or sweep) these overrides describe reads,
then print what was prepared. Sweep values (a,b / range() / glob()) expand as in `run -m`
(`-m` is accepted and changes nothing). Afterwards runs need no network:
  HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 xfer-scale run -m OVERRIDES...
"""


SWEEPER_PARAMS = "hydra.sweeper.params"


def _sets_sweeper_params(override: Override) -> bool:
    """`hydra.sweeper.params={...}` or `hydra.sweeper.params.KEY=...` (but not `=null`)."""
    key = override.key_or_group
    if key == SWEEPER_PARAMS:
        return override.value() is not None
    return key.startswith(f"{SWEEPER_PARAMS}.")


def _as_plain_overrides(override: Override) -> str:
    """The sweep axes a `hydra.sweeper.params` override names, as ordinary overrides."""
    key = override.key_or_group[len(SWEEPER_PARAMS) + 1:]
    if key:
        return f"{key}={(override.input_line or '').split('=', 1)[1]}"
    value = override.value()
    if isinstance(value, dict) and value:
        return " ".join(f"{axis}={values}" for axis, values in value.items())
    return "e.g. target=xnli,udpos seed=1,2"


def _reject_unsettable_sweeper_params(global_hydra: GlobalHydra, parsed: list[Override]) -> None:
    """Hydra (1.3, OmegaConf 2.3) cannot merge a command-line `hydra.sweeper.params` into the
    null the config leaves there unless an experiment sets it: `run -m` dies with an OmegaConf
    traceback. Say so, and what to type instead, before composing."""
    axes = [override for override in parsed if _sets_sweeper_params(override)]
    if not axes:
        return
    others = [override.input_line or "" for override in parsed if not _sets_sweeper_params(override)]
    base = global_hydra.hydra.compose_config("config", others, run_mode=RunMode.MULTIRUN)
    if base.hydra.sweeper.params is None:
        plain = " ".join(_as_plain_overrides(override) for override in axes)
        raise UserError(f"cannot override {SWEEPER_PARAMS}: this config leaves it unset, and Hydra (so "
                        f"`run -m` too) can only change it where a config sets it (e.g. experiment=scaling); "
                        f"give the sweep as plain overrides instead: {plain}")


def compose_sweep(overrides: list[str]) -> list[DictConfig]:
    """Every distinct config `xfer-scale run -m OVERRIDES` would run, validated.

    As Hydra's basic sweeper does, the axes a config sets (`hydra.sweeper.params`, e.g. in
    experiment=scaling) come first and the command line's overrides win over them.
    """
    try:
        with initialize_config_module(config_module="xfer_scale.conf", version_base=None):
            global_hydra = GlobalHydra.instance()
            parser = OverridesParser.create(config_loader=global_hydra.config_loader())
            _reject_unsettable_sweeper_params(global_hydra, parser.parse_overrides(overrides))
            primary = global_hydra.hydra.compose_config("config", overrides, run_mode=RunMode.MULTIRUN)
            axes = [f"{key}={value}" for key, value in (primary.hydra.sweeper.params or {}).items()]
            cells = sweep_overrides.cells(parser.parse_overrides([*axes, *overrides]))
            configs: dict[str, DictConfig] = {}
            for cell in cells:
                cfg = compose(config_name="config", overrides=cell)
                configs[OmegaConf.to_yaml(cfg, resolve=True)] = cfg
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(f"cannot compose the config from {' '.join(overrides) or 'the defaults'}: {error}") from None
    for cfg in configs.values():
        config.validate(cfg, this_machine=False)  # a login node lists what GPU nodes will run
        read_plan.check_sources(cfg)
    return list(configs.values())


def fetch_model(model_cfg: DictConfig, cache_dir: str) -> str:
    """Load tokenizer and encoder once (filling the hub cache; `builtin:tiny` is built)."""
    path = modeling.resolve(model_cfg, cache_dir)
    modeling.load_tokenizer(path, model_cfg.revision)
    encoder = modeling.load_encoder(path, model_cfg.revision)
    parameters = sum(p.numel() for p in encoder.parameters())
    return f"model {model_cfg.name}: {path} ({type(encoder).__name__}, {parameters / 1e6:.1f}M parameters)"


def _read_key(task: DictConfig, split: str, language: str, data_root: str | None) -> str:
    """What decides a split's rows: two configs sharing it read it once."""
    source = OmegaConf.to_container(task.splits[split], resolve=True)
    return json.dumps([task.name, split, language, data_root, task.get("data_dir"), source], sort_keys=True)


def prepare(configs: list[DictConfig]) -> list[str]:
    """Fetch every model and split of `configs`; the summary lines, in reading order."""
    models: dict[str, str] = {}
    counts: dict[str, int] = {}
    rows: dict[tuple[str, str], str] = {}  # (phase, read) -> its line: one line per phase that reads it
    for cfg in configs:
        model_key = json.dumps([OmegaConf.to_container(cfg.model, resolve=True), cfg.cache.dir], sort_keys=True)
        if model_key not in models:
            models[model_key] = fetch_model(cfg.model, cfg.cache.dir)
        for phase in config.PHASES:
            for task, split, language in read_plan.phase_loads(cfg, phase):
                key = _read_key(task, split, language, cfg.data.root)
                if key not in counts:
                    counts[key] = len(data.load_split(task, split, language, cfg.data.root))
                rows[phase, key] = f"{phase:<13}{task.name:<12}{split:<7}{language:<10}{counts[key]:>9}"
    header = f"{'phase':<13}{'task':<12}{'split':<7}{'language':<10}{'examples':>9}"
    footer = f"prepared {len(configs)} config(s): {len(models)} model(s), {len(counts)} data split(s)"
    return [*models.values(), header, *rows.values(), footer]


def main(args: list[str]) -> int:
    if any(arg in ("-h", "--help") for arg in args):
        print(USAGE)
        return 0
    hf_logging.disable_progress_bar()  # one summary says what was fetched
    configs = compose_sweep([arg for arg in args if arg not in ("-m", "--multirun")])
    print("\n".join(prepare(configs)))
    return 0
