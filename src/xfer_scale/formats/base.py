"""The format interface and its registry. What formats share besides lives beside it:
features in Arrow (`formats.arrow`), batches and padding (`formats.batching`), the encoder with
a head (`formats.model`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import torch
from torch import nn

from xfer_scale import architectures, data, metrics
from xfer_scale.errors import UserError
from xfer_scale.fields import Field
from xfer_scale.formats.basis import DevTuned, SearchSpace
from xfer_scale.formats.batching import IGNORE_INDEX, Collate, feature_lengths, length_grouped_batches
from xfer_scale.formats.model import TaskModel
from xfer_scale.prediction_kinds import LABELS


@dataclass(frozen=True)
class Loader:
    """How a format reads a task's split: `(task config, split) -> canonical rows` in the
    phase's training language, or in `language` where given (translations); from the original
    files under `data_root` where set, else from the hub. Formats that read lazily rather than
    through `data.load_split` (the MLM text) find the files through `data_root`. `names`: the
    label names to read labels with, where not the task's (`data.load_split`)."""

    data_root: str | None = None
    language: str = "en"

    def __call__(self, task: Any, split: str, language: str | None = None,
                 names: Sequence[str] | None = None) -> datasets.Dataset:
        return data.load_split(task, split, language or self.language, self.data_root, names)


@dataclass
class Amount:
    """How much of a training set phase 1 keeps: a fraction or a count, which subsample, and in
    which languages (translate-train: the same examples in each, `translate_train.training_set`;
    a format draws the English ones)."""

    fraction: float
    examples: int | None
    seed: int
    languages: tuple[str, ...] = ("en",)


@dataclass
class TrainingSet:
    """A phase's training examples, the size of the set they were drawn from, and which rows
    were kept (None: all of them; a multitask: the rows of each part, by name)."""

    examples: Any
    full_size: int
    indices: Any = None
    #: the task whose `train` split (as the phase's `Loader` reads it) the examples are rows
    #: `indices` of, unchanged: translate-train then takes those rows in other languages, and
    #: the features cache their features from the split's (`feature_cache.training_examples`).
    #: None where the examples are built otherwise (several tasks, text).
    drawn_from: Any = None


class Format:
    """One kind of task. Subclasses register with `@register(name)` and fill in the steps
    below; the defaults serve formats whose model is a head over the last hidden states,
    trained on one task's examples with cross-entropy."""

    #: the registry name (`format:` in a task file); set by `register`
    name = ""
    #: the prediction kinds (`prediction_kinds`) this format can produce: the task's metric
    #: (`metric:`, a registered metric) must need one of them, which start-up validation checks
    produces: tuple[str, ...] = (LABELS,)
    #: the metric of a task config that names none (a task YAML's `metric:` always does)
    metric_family = "accuracy"
    #: which value of the metric's scores selects checkpoints, where the metric is not registered
    #: (the registered metric's `selects` otherwise, or `format_options.selection_metric`)
    selection_metric = "accuracy"
    #: retrieval formats evaluate the encoder as it is: no target training phase
    trains = True
    #: the phases a task of this format may fill
    roles: tuple[str, ...] = ("intermediate", "target")
    #: the columns a feature carries into the model (`labels` only where it is trained;
    #: `token_type_ids` only where the tokenizer gives them, BERT's and DeBERTa's pairs)
    model_inputs = ("input_ids", "attention_mask", "token_type_ids", "labels")
    #: a batch may be packed (`train.packing`): one sequence per feature
    packable = True
    #: what predictions rest on besides a split's own outputs, fitted by the pipeline on other
    #: outputs of the model and handed to `predict` (`formats.basis`); None: nothing
    basis: SearchSpace | DevTuned | None = None

    #: the canonical fields of its rows, which a task's sources map their columns to (`fields:`);
    #: the data layer checks them as it reads (see `xfer_scale.fields`)
    fields: Mapping[str, Field] = {}

    def __init__(self, task: Any, device: torch.device | None = None):
        self.task = task
        self.device = device or torch.device("cpu")  # where predictions are computed
        #: the names of the labels its head predicts: the task's, or those its training data
        #: taught it (`trained_on`)
        self.label_names: tuple[str, ...] = tuple(task.get("label_names") or ())
        #: the registered metric that scores this task (`metrics.compute`); the task YAML owns it
        self.metric_family: str = task.get("metric") or self.metric_family
        # a format that scores refuses a metric it cannot feed (start-up validation says so first)
        registered = checked_metric(task, "task", type(self)) if self.produces else metrics.find(self.metric_family)
        default = registered.selects if registered is not None else self.selection_metric
        # e.g. token accuracy for CCG supertags, where the span F1 of seqeval means nothing
        self.selection_metric = task.get("format_options", {}).get("selection_metric", default)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    # -- data ------------------------------------------------------------------------------

    @classmethod
    def fields_of(cls, task: Any) -> Mapping[str, Field]:
        """The fields a task of this format reads: `fields`, unless they depend on the task's
        settings (span QA: whether a training question may lack an answer)."""
        return cls.fields

    def trained_on(self, examples: Any) -> Format:
        """This format over the label names its training `examples` carry: a task with
        `labels_from_data` (CCG) learns them as its training data is read, after the format
        exists. Itself where they are its own."""
        names = data.label_names(examples) if isinstance(examples, datasets.Dataset) else None
        if names is None or tuple(names) == self.label_names:
            return self
        learnt = copy.copy(self)
        learnt.label_names = tuple(names)
        return learnt

    def names_of(self, examples: datasets.Dataset) -> Sequence[str]:
        """The label names `examples`' labels index: those they carry (an evaluation split may
        hold labels its training data lacked, beyond the head's), else the format's."""
        return data.label_names(examples) or self.label_names

    def training_tasks(self) -> list[Any]:
        """The task configs whose training split this format trains on."""
        return [self.task]

    def training_set(self, load: Loader, amount: Amount | None) -> TrainingSet:
        """The training examples: the whole split, or the nested stratified subsample `amount`
        of it, in the loader's language (`amount.languages` is `translate_train`'s)."""
        full = load(self.task, "train")
        if amount is None:
            return TrainingSet(full, len(full), drawn_from=self.task)
        examples, chosen = data.subsample(full, amount.fraction, amount.examples, amount.seed, self.task)
        return TrainingSet(examples, len(full), chosen, self.task)

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        """Model features, one or more per example, each with `example_index`."""
        raise NotImplementedError

    # -- model -----------------------------------------------------------------------------

    def build(self, encoder: nn.Module) -> nn.Module:
        """The model this format trains and predicts with, around `encoder` (kept as its
        `encoder` attribute; everything else is the format's head, see `formats.model`)."""
        return TaskModel(encoder, self.head(encoder.config.hidden_size, architectures.head_dropout(encoder.config)))

    def head(self, hidden_size: int, dropout: float) -> nn.Module:
        """Maps encoder hidden states (batch, length, hidden) to logits (for `build`'s default);
        `dropout`: the encoder's own (`architectures.head_dropout`)."""
        raise NotImplementedError

    # -- training --------------------------------------------------------------------------

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], accelerator: Any) -> torch.Tensor:
        """The training loss of a batch; `accelerator` is there for losses that gather across
        processes (in-batch negatives)."""
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), batch["labels"].reshape(-1), ignore_index=IGNORE_INDEX
        )

    def lengths(self, features: Any) -> list[int]:
        """Each training feature's length, for length-grouped batches."""
        return feature_lengths(features).tolist()

    def batches(self, features: Any, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        """One epoch's batches of feature indices."""
        return length_grouped_batches(lengths, batch_size, seed)

    def collator(self, features: Any, pad_token_id: int) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
        return Collate([c for c in self.model_inputs if c in features.column_names], pad_token_id)

    # -- prediction ------------------------------------------------------------------------

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        """One prediction per example, in the examples' order.

        `logits` holds one tensor per feature, in the features' order, without padding; `basis`
        is what the format's `basis` was fitted to (None where it has none).
        """
        raise NotImplementedError

    def references(self, examples: datasets.Dataset) -> list[Any]:
        """The gold of each example a score is over (its count is the tables' `n_examples`:
        retrieval rows hold both sides of a pair, and retrieval has one reference a pair)."""
        raise NotImplementedError

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        return metrics.compute(self.metric_family, predictions, self.references(examples), language=language)

    def submission(self, predictions: list[Any], examples: datasets.Dataset) -> Any:
        """Predictions in the shape `submission.write_predictions` takes: the list itself,
        except for formats whose official files key answers by id (QA)."""
        return predictions


_REGISTRY: dict[str, type[Format]] = {}


def register(name: str) -> Callable[[type[Format]], type[Format]]:
    """Class decorator: tasks name the format `name` (`format: name` in their YAML)."""

    def add(cls: type[Format]) -> type[Format]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"format {name!r} is registered twice: {_REGISTRY[name].__qualname__} and {cls.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


def names(role: str | None = None) -> list[str]:
    """The registered formats, those that may fill `role` (intermediate, target) if given."""
    return sorted(name for name, cls in _REGISTRY.items() if role is None or role in cls.roles)


def format_class(task: Any) -> type[Format]:
    """The registered class of a task config's format, not yet built (start-up checks read its
    `produces` without reading the task's data)."""
    if task.format not in _REGISTRY:
        raise UserError(
            f"task {task.name}: format {task.format!r} is not available; choose one of: {', '.join(names())}."
        )
    return _REGISTRY[task.format]


def get(task: Any, device: torch.device | None = None) -> Format:
    """The format object for a task config."""
    return format_class(task)(task, device)


def checked_metric(task: Any, at: str = "target", cls: type[Format] | None = None) -> metrics.Metric:
    """The task's registered metric (`metric:`), refused where the task's format (`cls`, by
    default the one it names) does not produce what it needs: scoring a classifier's labels with
    seqeval would otherwise fail at the end of a run, or score something else. `at`: the config
    key of the task, for the message."""
    cls = cls or format_class(task)
    name = task.get("metric") or cls.metric_family
    metric = metrics.find(name)
    if metric is None:
        raise UserError(f"{at}.metric={name!r} is no registered metric; choose one of "
                        f"{', '.join(metrics.names())}, or register one with @xfer_scale.metrics.metric.")
    if metric.needs not in cls.produces:
        fitting = [name for kind in cls.produces for name in metrics.taking(kind)]
        instead = f"use {at}.metric={' or '.join(fitting)}" if fitting else "this format is not scored"
        raise UserError(f"{at}.metric={name} needs {metric.needs}, which format {cls.name} of "
                        f"{at}={task.name} does not produce (it produces {', '.join(cls.produces) or 'nothing'}); "
                        f"{instead}, or a task whose format produces {metric.needs}.")
    return metric


def check_options(task: Any, valid: list[str]) -> None:
    """Refuse `format_options` keys the format does not read: a misspelt one would otherwise
    be ignored without a word. `selection_metric` is read here, for every format."""
    unknown = sorted(set(task.get("format_options") or {}) - {*valid, "selection_metric"})
    if unknown:
        raise UserError(
            f"task {task.name}: unknown {task.get('format', '')} format_options {', '.join(unknown)}; "
            f"valid: {', '.join([*valid, 'selection_metric'])}."
        )
