"""Typed experiment configuration: the schema Hydra merges every YAML file into.

Hydra checks keys and types against these dataclasses while composing (a misspelt key or
a string where a number belongs fails before any work starts). `validate` adds the checks a
type cannot express (a fraction in (0, 1], a language the task has), each as one UserError
that names the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from xfer_scale.errors import UserError

PHASES = ("intermediate", "target", "zero_shot")
PRECISIONS = ("auto", "no", "bf16", "fp16")
TRACKERS = ("none", "tensorboard", "wandb", "mlflow")
# epochs: `train.epochs` over the subsample (the paper); full_data_steps: as many optimiser
# steps as `train.epochs` over the FULL training set, so small subsamples are not under-trained
BUDGETS = ("epochs", "full_data_steps")
# the attention implementations that keep a packed batch's sequences apart (see packing.py);
# flash_attention_2 needs the flash-attn package and a GPU
ATTENTIONS = ("sdpa", "flash_attention_2")


@dataclass
class RowsConfig:
    """How rows of one source become the format's canonical fields.

    `fields` maps a canonical field to a column (a dotted path into nested columns, or a
    list of columns gathered into one list). `filter` keeps rows whose column matches the
    value, a glob pattern (`english-*`: ids with that prefix). Templates: `{lang}` (the
    language code), `{lang_name}` (its English name as the hub configs spell it),
    `{lang_name_lower}` (TyDiQA's spelling), `{iso3}`. `label_values[i]` is the raw label meaning
    `label_names[i]` where the source spells labels its own way (ANLI's e/n/c); rows whose
    label is in `skip_labels` are dropped (SNLI's `-`, unlabelled test rows).
    """

    fields: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    label_values: Optional[list[Any]] = None
    skip_labels: list[Any] = field(default_factory=list)


@dataclass
class HubSource(RowsConfig):
    """A `datasets.load_dataset(path, name, split=..., revision=...)` call."""

    path: str = MISSING
    name: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None


@dataclass
class LocalSource(RowsConfig):
    """Original-release files: `path` (a glob; matches are read in sorted order) is relative
    to `<task>.data_dir`, else to `data.root/<task_dir or the task's name>`. Reader `options`
    may also use `{dir}`, that folder (Tatoeba's second file: `{dir}/tatoeba.{iso3}-eng.eng`)."""

    path: str = MISSING
    reader: str = "tsv"
    options: dict[str, Any] = field(default_factory=dict)
    task_dir: Optional[str] = None


@dataclass
class Sources:
    """Where one part of a split comes from: local files when a data folder is set, else the hub."""

    hub: Optional[HubSource] = None
    local: Optional[LocalSource] = None


@dataclass
class SplitSource(Sources):
    """A split's sources. `also`: further sources whose rows follow these (ANLI+ = the ANLI
    rounds + SNLI + MNLI). `per_language`: sources replacing these for one language (XCOPA
    has no English: the English dev set that selects checkpoints is COPA's)."""

    also: list[Sources] = field(default_factory=list)
    per_language: dict[str, Sources] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation settings of one training phase (the paper's recipe by default)."""

    learning_rate: float = 1e-5
    epochs: float = 3.0
    max_steps: Optional[int] = None
    batch_size: int = 4
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    eval_every_steps: int = 1000
    early_stop_patience: Optional[int] = 30
    eval_examples: Optional[int] = 500
    max_length: int = 256
    checkpoint_every_steps: int = 500
    #: lay each batch's sequences end to end (no padding computed; see xfer_scale.packing)
    packing: bool = False


@dataclass
class TaskConfig:
    """A task is data over a format: the YAML files in conf/intermediate and conf/target."""

    name: str = MISSING
    format: str = "classification"
    metric: str = "accuracy"
    label_names: list[str] = field(default_factory=list)
    #: label_names starts empty and grows as rows are read (CCG's ~1,300 supertags cannot be listed)
    labels_from_data: bool = False
    splits: dict[str, SplitSource] = field(default_factory=dict)
    data_dir: Optional[str] = None
    format_options: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class IntermediateConfig(TaskConfig):
    """Phase-1 task and how much of its training set to use (`none` = the baseline)."""

    name: str = "none"
    fraction: float = 1.0
    examples: Optional[int] = None
    subsample_seed: int = 0
    budget: str = "epochs"
    tasks: dict[str, TaskConfig] = field(default_factory=dict)


@dataclass
class TargetConfig(TaskConfig):
    """Phase-2/3 task: English training data plus the languages evaluated zero-shot."""

    benchmark_languages: dict[str, list[str]] = field(default_factory=dict)
    languages: Optional[list[str]] = None
    train_language: str = "en"
    eval_splits: list[str] = field(default_factory=lambda: ["dev", "test"])
    languages_without_dev: list[str] = field(default_factory=list)
    checkpoint: Optional[str] = None
    submission_task: Optional[str] = None


@dataclass
class TinyModelConfig:
    """Shape of the offline random-init XLM-R used in CI and the smoke experiment."""

    vocab_size: int = 1000
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 128


@dataclass
class ModelConfig:
    """`path` is a hub id, a local directory, or `builtin:tiny`."""

    name: str = MISSING
    path: str = MISSING
    revision: Optional[str] = None
    attention: str = "sdpa"
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


@dataclass
class DataConfig:
    root: Optional[str] = None
    num_workers: int = 0


@dataclass
class EvalConfig:
    batch_size: int = 64
    max_examples: Optional[int] = None


@dataclass
class CacheConfig:
    dir: str = "outputs/cache"


@dataclass
class ExperimentConfig:
    """The root of the resolved config; one experiment = one of these."""

    name: str = "default"
    seed: int = 1
    benchmark: str = "xtreme"
    phases: list[str] = field(default_factory=lambda: list(PHASES))
    precision: str = "auto"
    cpu: bool = False
    tracking: str = "none"
    log_every_steps: int = 50
    model: ModelConfig = field(default_factory=ModelConfig)
    intermediate: IntermediateConfig = field(default_factory=IntermediateConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)


def _bundled_data_dir(name: str) -> str:
    return str(resources.files("xfer_scale") / f"{name}_data")


def setup() -> None:
    """Make the schema available to the defaults list as `xfer_scale_schema`, and register
    the `xfer_scale_data` resolver (the bundled smoke data); idempotent."""
    ConfigStore.instance().store(name="xfer_scale_schema", node=ExperimentConfig)
    if not OmegaConf.has_resolver("xfer_scale_data"):
        OmegaConf.register_new_resolver("xfer_scale_data", _bundled_data_dir)


def precision(cfg: DictConfig | ExperimentConfig) -> str:
    """The mixed precision a run trains in: `auto` is bf16 on a GPU that has it, else none."""
    if cfg.precision != "auto":
        return cfg.precision
    import torch  # only a run needs it; the CLI starts without

    on_gpu = torch.cuda.is_available() and not cfg.cpu
    return "bf16" if on_gpu and torch.cuda.is_bf16_supported() else "no"


def _choice(what: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise UserError(f"{what}={value!r} is not valid; choose one of: {', '.join(valid)}.")


def validate(cfg: DictConfig | ExperimentConfig) -> None:
    """Checks no type can express; raise the first problem as a UserError."""
    _choice("precision", cfg.precision, PRECISIONS)
    _choice("tracking", cfg.tracking, TRACKERS)
    _choice("model.attention", cfg.model.attention, ATTENTIONS)
    for phase in cfg.phases:
        _choice("phases entry", phase, PHASES)
    from xfer_scale import formats  # heavy (torch); the CLI imports this module at start-up

    inter = cfg.intermediate
    if inter.name != "none":
        if inter.format in formats.names() and inter.format not in formats.names("intermediate"):
            raise UserError(f"intermediate={inter.name} is a {inter.format} task; it cannot be trained as an "
                            f"intermediate task (formats that can: {', '.join(formats.names('intermediate'))}).")
        _choice("intermediate.format", inter.format, tuple(formats.names("intermediate")))
        if inter.examples is None and not 0.0 < inter.fraction <= 1.0:
            raise UserError(
                f"intermediate.fraction={inter.fraction} is outside (0, 1]; use e.g. "
                "intermediate.fraction=0.1, or intermediate.examples=N for a count."
            )
        _choice("intermediate.budget", inter.budget, BUDGETS)
        if inter.examples is not None and inter.examples < 1:
            raise UserError(f"intermediate.examples={inter.examples} must be a positive count.")
    target = cfg.target
    _choice("target.format", target.format, tuple(formats.names("target")))
    available = target_languages(cfg, restrict=False)
    unknown = [lang for lang in (target.languages or []) if lang not in available]
    if unknown:
        raise UserError(
            f"target={target.name} has no language {', '.join(unknown)} in benchmark "
            f"{cfg.benchmark}; it has: {' '.join(available)}."
        )
    for split in target.eval_splits:
        _choice("target.eval_splits entry", split, ("dev", "test"))


def target_languages(cfg: DictConfig | ExperimentConfig, restrict: bool = True) -> list[str]:
    """The languages phase 3 evaluates: the benchmark's list, cut to `target.languages`."""
    by_benchmark = cfg.target.benchmark_languages
    if cfg.benchmark not in by_benchmark:
        raise UserError(
            f"benchmark={cfg.benchmark} is not defined for target={cfg.target.name}; "
            f"choose one of: {', '.join(by_benchmark)}."
        )
    languages = list(by_benchmark[cfg.benchmark])
    if restrict and cfg.target.languages:
        languages = [lang for lang in languages if lang in cfg.target.languages]
    return languages


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
