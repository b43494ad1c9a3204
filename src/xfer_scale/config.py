"""Typed experiment configuration: the schema Hydra merges every YAML file into.

Hydra checks keys and types against these dataclasses while composing (a misspelt key or
a string where a number belongs fails before any work starts). `validate` adds the checks a
type cannot express (a fraction in (0, 1], a language the task has), each as one UserError
that names the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Optional, Union

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
    """A `datasets.load_dataset(path, name, split=..., revision=...)` call.

    `data_dir` / `data_files` (passed only where set) pick files instead of a config: a
    Parquet-conversion branch (`revision: refs/convert/parquet`, how script-based repos load
    under `datasets` >= 4) has no README, so its one config is `default` and each original
    config is a folder: SuperGLUE's COPA is `data_dir: copa` there, not `name: copa`.
    `data_dir` takes the same placeholders as `name`.
    """

    path: str = MISSING
    name: Optional[str] = None
    split: str = "train"
    revision: Optional[str] = None
    data_dir: Optional[str] = None
    data_files: Optional[Any] = None


@dataclass
class LocalSource(RowsConfig):
    """Original-release files: `path` (a glob; matches are read in sorted order) is relative
    to `<task>.data_dir`, else to `data.root/<task_dir or the task's name>`. Reader `options`
    may also use `{dir}`, that folder (Tatoeba's second file: `{dir}/tatoeba.{iso3}-eng.eng`)."""

    path: str = MISSING
    reader: str = "tsv"
    options: dict[str, Any] = field(default_factory=dict)
    task_dir: Optional[str] = None
    #: where the original release lives (a URL): named when a run needs these files and has none
    release: Optional[str] = None


@dataclass
class Sources:
    """Where one part of a split comes from: local files when a data folder is set, else the hub."""

    hub: Optional[HubSource] = None
    local: Optional[LocalSource] = None


@dataclass
class TranslationRelease:
    """One machine translation of a split: each language's source, and how its rows pair up
    with the English rows. `english` maps the format's text fields (`text_a`, `text_b`) to the
    source's columns holding the English text each row translates, for a release whose rows
    are in another order than the English file (XTREME's MNLI): rows then pair up by that text.
    Without it, rows pair up by the `id` field where the task has one (SQuAD), else by
    position (XNLI-MT). See `translate_train`."""

    per_language: dict[str, Sources] = field(default_factory=dict)
    english: Optional[dict[str, str]] = None


@dataclass
class Translations:
    """A split's machine translations by name (`releases`), and the one trained on where
    `intermediate.translations` is null (`default`)."""

    default: str = MISSING
    releases: dict[str, TranslationRelease] = field(default_factory=dict)


@dataclass
class SplitSource(Sources):
    """A split's sources. `also`: further sources whose rows follow these (ANLI+ = the ANLI
    rounds + SNLI + MNLI). `per_language`: sources replacing these for one language (XCOPA
    has no English: the English dev set that selects checkpoints is COPA's). `rows`: what the
    task's examples are made of the rows (LAReQA's SQuAD pairs)."""

    also: list[Sources] = field(default_factory=list)
    per_language: dict[str, Sources] = field(default_factory=dict)
    #: a row builder (`derived_rows`) that makes the examples from the split's rows
    rows: Optional[str] = None
    #: machine translations of this split, for translate-train (`xfer_scale.translations`)
    translations: Optional[Translations] = None


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
    #: save the loop's whole state (weights, AdamW, RNG) this often, by the clock: an XLM-R Large
    #: state is 6.7 GB, which every 500 steps of the paper's batch 4 wrote every 10-15 s
    checkpoint_every_minutes: Optional[float] = 30.0
    #: also (or, with `checkpoint_every_minutes: null`, only) every this many optimiser steps
    checkpoint_every_steps: Optional[int] = None
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
    #: examples per language of a hub split (split -> count, from the dataset card), so that
    #: `xfer-scale plan` can size a run without downloading it; bookkeeping, not identity
    recorded_sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class MlmConfig:
    """Masked-LM training on raw multilingual text in phase 1: the paper's "continued
    multilingual MLM" control, mixed into the task's batches (`ratio`) or alone
    (`intermediate=mlm`). conf/mlm/ says which text (`corpus`); see formats/mlm.py."""

    #: the share of phase-1 batches that are MLM batches, in [0, 1); 0 is off
    ratio: float = 0.0
    #: the languages of the text; by default every language the target has in `benchmark`
    languages: list[str] = "${target.benchmark_languages.${benchmark}}"  # type: ignore[assignment]
    #: language sampling exponent: p(lang) ~ size^alpha (1 proportional, 0 uniform, XLM-R's 0.3)
    alpha: float = 0.3
    #: where the text is: a task whose `train` split is one paragraph a row, in each language
    corpus: TaskConfig = field(default_factory=TaskConfig)


@dataclass
class IntermediateConfig(TaskConfig):
    """Phase-1 task and how much of its training set to use (`none` = the baseline)."""

    name: str = "none"
    fraction: float = 1.0
    examples: Optional[int] = None
    #: which nested subsample; null (the default) follows `seed`, so each seed draws its own
    subsample_seed: Optional[int] = None
    budget: str = "epochs"
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    #: train on the task in these languages (translate-train: the union of the translations)
    languages: list[str] = field(default_factory=lambda: ["en"])
    #: which of the task's translations (`splits.train.translations.releases`) translate-train
    #: trains on; null: the task's `default` (docs/controls.md)
    translations: Optional[str] = None
    mlm: MlmConfig = field(default_factory=MlmConfig)


@dataclass
class TargetConfig(TaskConfig):
    """Phase-2/3 task: English training data plus the languages evaluated zero-shot."""

    benchmark_languages: dict[str, list[str]] = field(default_factory=dict)
    languages: Optional[list[str]] = None
    train_language: str = "en"
    eval_splits: list[str] = field(default_factory=lambda: ["dev", "test"])
    languages_without_dev: list[str] = field(default_factory=list)
    checkpoint: Optional[str] = None
    #: XTREME's folder and file format of the test predictions (`<run>/predictions/<task>/...`),
    #: for a target no benchmark file (conf/benchmarks/) lists; a listed target's are the file's
    submission_task: Optional[str] = None
    submission_format: Optional[str] = None


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
    #: torch.compile the model for training (`reduce-overhead`, CUDA graphs, on a GPU); batches are
    #: then padded to lengths in multiples of `compile_bucket` so that few shapes compile
    compile: bool = False
    compile_bucket: int = 32
    tiny: TinyModelConfig = field(default_factory=TinyModelConfig)


@dataclass
class DataConfig:
    root: Optional[str] = None
    num_workers: int = 0


@dataclass
class EvalConfig:
    #: sentences per evaluation batch, where `batch_tokens` is null
    batch_size: int = 64
    #: padded tokens per evaluation batch (length-sorted batches of as many sentences as fit)
    batch_tokens: Optional[int] = 16384
    max_examples: Optional[int] = None


@dataclass
class CacheConfig:
    dir: str = "outputs/cache"
    #: keep prepared examples and features under `dir`/features for later cells (`feature_cache`)
    features: bool = True


@dataclass
class ExperimentConfig:
    """The root of the resolved config; one experiment = one of these."""

    name: str = "default"
    #: 0 <= seed < 2**32, numpy's seed range
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


def _check(key: str, value: Any, ok: bool, valid: str) -> None:
    if not ok:
        raise UserError(f"{key}={value} must be {valid}.")


def _whole(key: str, value: int | None, least: int, most: int | None = None, nullable: bool = False,
           note: str = "") -> None:
    """A count or an id: `value` in [least, most] (or null where the schema allows it)."""
    if value is None and nullable:
        return
    bounds = f">= {least}" if most is None else f"in [{least}, {most}]"
    _check(key, value, least <= value and (most is None or value <= most),
           f"a whole number {bounds}{' or null' if nullable else ''}{note}")


#: numpy's seed range: `set_seed` seeds numpy's global generator, which takes no more
MAX_SEED = 2**32 - 1
#: the shortest sequence: XLM-R's tokenizer does not truncate at all below a pair's 4 special
#: tokens, and a few more leave some room for text
MIN_LENGTH = 8
#: model types that number positions from pad_token_id + 1, as XLM-R does (2 of its 514 hold no token)
POSITIONS_AFTER_PADDING = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert")


def _local_model_config(model: Any) -> Any:
    """The model's config where it is on this machine (a folder, the hub cache), else None
    (a hub id not yet downloaded): validation reads no network, and the model's own loading
    reports an unreachable model. A config of an architecture the tool cannot serve (an
    encoder-decoder, a causal LM) is refused here, before any data is read."""
    from transformers import AutoConfig

    from xfer_scale import architectures

    try:
        found = AutoConfig.from_pretrained(model.path, revision=model.revision, local_files_only=True)
    except (OSError, ValueError):
        return None
    architectures.check_servable(found, model.path)
    return found


def _max_length(model: Any) -> int | None:
    """The longest sequence the model's position embeddings hold, or None where its config is
    not on this machine."""
    if model.path == "builtin:tiny":
        from xfer_scale import tiny

        return tiny.MAX_POSITIONS - 2  # numbered from <pad>'s id + 1, as XLM-R's
    found = _local_model_config(model)
    if found is None:
        return None
    offset = found.pad_token_id + 1 if found.model_type in POSITIONS_AFTER_PADDING else 0
    return found.max_position_embeddings - offset


def _check_train(train: Any, at: str, max_length: int | None) -> None:
    """A phase's recipe: out of these ranges the training loop divides by zero (batch_size=0),
    trains one step (epochs=0) or reads 0 as "all" (eval_examples=0)."""
    for key in ("batch_size", "grad_accum", "eval_every_steps"):
        _whole(f"{at}.{key}", train[key], 1)
    for key in ("max_steps", "early_stop_patience", "eval_examples", "checkpoint_every_steps"):
        _whole(f"{at}.{key}", train[key], 1, nullable=True)
    minutes = train.checkpoint_every_minutes
    _check(f"{at}.checkpoint_every_minutes", minutes, minutes is None or minutes > 0, "a number > 0 or null")
    if train.max_steps is None:
        _check(f"{at}.epochs", train.epochs, train.epochs > 0, f"a number > 0 (or set {at}.max_steps)")
    _check(f"{at}.learning_rate", train.learning_rate, train.learning_rate > 0, "a number > 0")
    _check(f"{at}.warmup_ratio", train.warmup_ratio, 0 <= train.warmup_ratio < 1, "a number in [0, 1)")
    _check(f"{at}.weight_decay", train.weight_decay, train.weight_decay >= 0, "a number >= 0")
    _check(f"{at}.max_grad_norm", train.max_grad_norm, train.max_grad_norm > 0, "a number > 0")
    _whole(f"{at}.max_length", train.max_length, MIN_LENGTH, max_length,
           note="" if max_length is None else f" (the model's position embeddings hold {max_length} tokens)")


def _check_precision(cfg: DictConfig) -> None:
    """Mixed precision this machine can run: accelerate autocasts only to bf16 on the CPU, and
    a GPU before Ampere has no bf16; either would fail as training starts."""
    if cfg.precision not in ("bf16", "fp16"):
        return
    import torch

    on_gpu = torch.cuda.is_available() and not cfg.cpu
    if cfg.precision == "fp16" and not on_gpu:
        where = "cpu=true" if cfg.cpu else "no GPU found"
        raise UserError(f"precision=fp16 needs a GPU, and this run is on the CPU ({where}); "
                        "use precision=bf16 (the CPU's mixed precision) or no, or auto.")
    if cfg.precision == "bf16" and on_gpu and not torch.cuda.is_bf16_supported():
        raise UserError(f"precision=bf16 is not supported by this GPU ({torch.cuda.get_device_name()}); "
                        "use precision=fp16 or no, or auto.")


def _check_keys(node: Any, schema: Any, at: str = "") -> None:
    """Refuse keys the schema lacks, and schema keys removed (`~key`). Hydra's struct mode
    stops a misspelt override, but `+key=value`, the fix Hydra itself suggests, adds any key,
    and nothing would read it. Fields typed as dicts (`format_options`, `fields`, `tasks`...)
    hold keys of their own choosing; dataclasses inside them are checked in turn."""
    if typing.get_origin(schema) in (Union, types.UnionType):  # Optional[...]
        schema = next(arg for arg in typing.get_args(schema) if arg is not type(None))
    if dataclasses.is_dataclass(schema) and isinstance(node, dict):
        fields = typing.get_type_hints(schema)
        for key, value in node.items():
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f" (did you mean {at}{close[0]}?)" if close else ""
                raise UserError(f"unknown key {at}{key}{hint}: no setting has this name, so the run would "
                                "ignore it; fix the name, or drop the override.")
            _check_keys(value, fields[key], f"{at}{key}.")
        removed = sorted(fields.keys() - node.keys())
        if removed:
            raise UserError(f"{at}{removed[0]} was removed (an override `~{at}{removed[0]}`?); every setting "
                            "of the schema needs a value: drop that override.")
    elif typing.get_origin(schema) is dict and isinstance(node, dict):
        for key, value in node.items():
            _check_keys(value, typing.get_args(schema)[1], f"{at}{key}.")
    elif typing.get_origin(schema) is list and isinstance(node, list):
        for index, value in enumerate(node):
            _check_keys(value, typing.get_args(schema)[0], f"{at[:-1]}[{index}].")


def validate(cfg: DictConfig, this_machine: bool = True) -> None:
    """Checks no type can express; raise the first problem as a UserError.

    Every number is range-checked here, before any work: a bad one otherwise surfaces as a
    traceback mid-run, or not at all. `max_length` is checked against the model's positions
    where its config is on this machine (`builtin:tiny`, a directory, the hub cache), else
    only from below. `this_machine`: the run starts here, so check the precision against this
    machine's accelerator; off where a config is checked for another machine (`prepare` on a
    login node).
    """
    _check_keys(OmegaConf.to_container(cfg, resolve=False), ExperimentConfig)
    _choice("precision", cfg.precision, PRECISIONS)
    _choice("tracking", cfg.tracking, TRACKERS)
    _choice("model.attention", cfg.model.attention, ATTENTIONS)
    if not cfg.phases:
        raise UserError(f"phases=[] runs nothing; list some of: {', '.join(PHASES)}.")
    for phase in cfg.phases:
        _choice("phases entry", phase, PHASES)
    twice = sorted({phase for phase in cfg.phases if list(cfg.phases).count(phase) > 1})
    if twice:
        raise UserError(f"phases={list(cfg.phases)} lists {', '.join(twice)} twice; list each phase once.")
    _whole("seed", cfg.seed, 0, MAX_SEED)
    _whole("log_every_steps", cfg.log_every_steps, 1)
    _whole("data.num_workers", cfg.data.num_workers, 0)
    _whole("eval.batch_size", cfg.eval.batch_size, 1)
    _whole("eval.batch_tokens", cfg.eval.batch_tokens, 1, nullable=True)
    _whole("model.compile_bucket", cfg.model.compile_bucket, 1)
    packed = [f"{phase}.train.packing" for phase in ("intermediate", "target") if cfg[phase].train.packing]
    if cfg.model.compile and packed:
        raise compiled_packing(packed[0])
    _whole("eval.max_examples", cfg.eval.max_examples, 1, nullable=True)
    if this_machine:
        _check_precision(cfg)
    from xfer_scale import formats  # heavy (torch); the CLI imports this module at start-up

    max_length = _max_length(cfg.model)
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
        _whole("intermediate.examples", inter.examples, 1, nullable=True)
        _whole("intermediate.subsample_seed", inter.subsample_seed, 0, MAX_SEED, nullable=True)
        # a multitask trains on its own recipe; its tasks' `train` blocks are not read
        _check_train(inter.train, "intermediate.train", max_length)
    target = cfg.target
    _choice("target.format", target.format, tuple(formats.names("target")))
    if target.labels_from_data:
        raise UserError(f"target={target.name} sets labels_from_data, which is for intermediate tasks: a target's head "
                        "is saved, reloaded and evaluated in every language over label names known before its data is "
                        "read; list them as its label_names.")
    _check_train(target.train, "target.train", max_length)
    available = target_languages(cfg, restrict=False)
    unknown = [lang for lang in (target.languages or []) if lang not in available]
    if unknown:
        raise UserError(
            f"target={target.name} has no language {', '.join(unknown)} in benchmark "
            f"{cfg.benchmark}; it has: {' '.join(available)}."
        )
    for split in target.eval_splits:
        _choice("target.eval_splits entry", split, ("dev", "test"))
    from xfer_scale import task_checks

    task_checks.check(cfg)


def compiled_packing(packing_key: str) -> UserError:
    """The refusal of `model.compile` with packed batches: at start-up (`validate`), and in the
    training loop for callers that reach it without a validated config (the benchmark)."""
    return UserError(f"model.compile=true and {packing_key}=true: a packed batch's attention is built anew for "
                     "every batch and does not compile; set one of them to false.")


def evaluated_splits(target: Any, language: str) -> list[str]:
    """A language's splits phase 3 evaluates, in `target.eval_splits` order (BUCC tunes on dev
    what test uses): those the task has, dev not where the language has none."""
    return [split for split in target.eval_splits
            if split in target.splits and not (split == "dev" and language in target.languages_without_dev)]


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


def subsample_seed(cfg: DictConfig | ExperimentConfig) -> int:
    """The seed of phase 1's subsample: `intermediate.subsample_seed`, else the run's seed."""
    chosen = cfg.intermediate.subsample_seed
    return cfg.seed if chosen is None else chosen


def to_yaml(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)
