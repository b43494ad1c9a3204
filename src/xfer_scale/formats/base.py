"""The format interface, its registry, and the pieces every format shares (padding, batching)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from datasets.fingerprint import generate_random_fingerprint
from torch import nn

from xfer_scale import architectures, data, metrics, translate_train
from xfer_scale.errors import UserError
from xfer_scale.formats.model import TaskModel
from xfer_scale.prediction_kinds import LABELS

IGNORE_INDEX = -100
#: the split that holds a ranking task's search space (`Format.search_space`)
SEARCH_SPLIT = "candidates"
PAD_VALUES = {"attention_mask": 0, "labels": IGNORE_INDEX}
#: examples from which `encode_indexed` tokenizes in several processes (below, starting them
#: costs more than it saves), and the most processes it starts
PARALLEL_EXAMPLES = 20_000
MAX_PROCESSES = 8


@dataclass(frozen=True)
class Loader:
    """How a format reads a task's split: `(task config, split) -> canonical rows` in the
    phase's training language, or in `language` where given (translations); from the original
    files under `data_root` where set, else from the hub. Formats that read lazily rather than
    through `data.load_split` (the MLM text) find the files through `data_root`."""

    data_root: str | None = None
    language: str = "en"

    def __call__(self, task: Any, split: str, language: str | None = None) -> datasets.Dataset:
        return data.load_split(task, split, language or self.language, self.data_root)


@dataclass
class Amount:
    """How much of a training set phase 1 keeps: a fraction or a count, which subsample, and in
    which languages (translate-train: the same examples in each; see `translate_train`)."""

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
    #: a batch leaves some of the model's weights unused (one head of several): data-parallel
    #: training must then look for them, which costs a little on every step
    leaves_weights_unused = False
    #: a batch may be packed (`train.packing`): one sequence per feature
    packable = True

    def __init__(self, task: Any, device: torch.device | None = None):
        self.task = task
        self.device = device or torch.device("cpu")  # where predictions are computed
        #: the registered metric that scores this task (`metrics.compute`); the task YAML owns it
        self.metric_family: str = task.get("metric") or self.metric_family
        # a format that scores refuses a metric it cannot feed (start-up validation says so first)
        registered = checked_metric(task, "task", type(self)) if self.produces else metrics.find(self.metric_family)
        default = registered.selects if registered is not None else self.selection_metric
        # e.g. token accuracy for CCG supertags, where the span F1 of seqeval means nothing
        self.selection_metric = task.get("format_options", {}).get("selection_metric", default)

    @property
    def num_labels(self) -> int:
        """Read when the head is built: a task with `labels_from_data` (CCG) learns its label
        names while its training data is read, after the format exists."""
        return len(self.task.label_names)

    # -- data ------------------------------------------------------------------------------

    def training_tasks(self) -> list[Any]:
        """The task configs whose training split this format trains on."""
        return [self.task]

    def training_set(self, load: Loader, amount: Amount | None) -> TrainingSet:
        """The training examples: the whole split, or the nested stratified subsample `amount`,
        drawn over the English rows and taken from each of its languages (`indices`: the
        English rows; the set it is drawn from counts once per language)."""
        full = load(self.task, "train")
        if amount is None:
            return TrainingSet(full, len(full))
        examples, chosen = data.subsample(full, amount.fraction, amount.examples, amount.seed, self.task.name)
        if amount.languages != ("en",):
            examples = translate_train.union(self.task, load, full, chosen, amount.languages)
        return TrainingSet(examples, len(full) * len(amount.languages), chosen)

    def search_space(self, load: Loader) -> datasets.Dataset | None:
        """What every language's queries are ranked against (LAReQA's pooled answer sentences,
        Mewsli-X's entities), embedded once per evaluation by the pipeline; None where
        predictions need no search space."""
        return None

    def index(self, candidates: datasets.Dataset, features: datasets.Dataset, logits: list[torch.Tensor]) -> Any:
        """The embedded `search_space`, handed to `predict` of every language as its `calibration`."""
        raise NotImplementedError

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

    def calibrate(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset) -> Any:
        """What a dev split tunes for later splits of its language (BUCC's mining threshold);
        None for formats that tune nothing. It goes into `predict` as `calibration`, as the
        embedded search space of a ranking format does (`index`)."""
        return None

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                calibration: Any = None) -> list[Any]:
        """One prediction per example, in the examples' order.

        `logits` holds one tensor per feature, in the features' order, without padding.
        """
        raise NotImplementedError

    def references(self, examples: datasets.Dataset) -> list[Any]:
        raise NotImplementedError

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        return metrics.compute(self.metric_family, predictions, self.references(examples), language=language)

    def count_examples(self, examples: datasets.Dataset) -> int:
        """The examples a score is over, the tables' `n_examples` (retrieval rows hold both
        sides of a pair, so retrieval counts pairs)."""
        return len(examples)

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


def encode_indexed(examples: datasets.Dataset, tokenize: Any) -> datasets.Dataset:
    """Map batched `tokenize` over the examples, each row carrying its `example_index`; the
    example columns are dropped, so features hold only what `tokenize` returns, converted to
    Arrow by `arrow_batch`.

    Each step gets a fresh fingerprint: `datasets` would otherwise hash `tokenize`, the
    tokenizer with it (a second for XLM-R's), to name a result it never looks up again (our
    examples live in memory, and `feature_cache` keeps features)."""
    indexed = examples.add_column("example_index", list(range(len(examples))),
                                  new_fingerprint=generate_random_fingerprint())
    schema = indexed.features.arrow_schema
    inputs = dict(zip(schema.names, schema.types))

    def tokenize_to_arrow(batch: dict[str, list]) -> pa.Table | dict[str, Any]:
        return arrow_batch(tokenize(batch), inputs)

    return indexed.map(tokenize_to_arrow, batched=True, remove_columns=indexed.column_names,
                       num_proc=processes(len(examples)), new_fingerprint=generate_random_fingerprint())


#: the integer types `datasets` gives the columns a tokenizer returns, by name
#: (`arrow_writer.OptimizedTypedSequence`); other integer columns stay int64
TOKENIZER_INTS = {"input_ids": pa.int32(), "attention_mask": pa.int8(), "token_type_ids": pa.int8(),
                  "special_tokens_mask": pa.int8()}
#: the leaf types `arrow_batch` builds itself; others are left to `datasets`
PLAIN_TYPES = (pa.int64(), pa.float64(), pa.string(), pa.bool_())


def arrow_batch(batch: Any, inputs: dict[str, pa.DataType]) -> pa.Table | dict[str, Any]:
    """A batched map's output (column -> list, or Arrow array) as the table `datasets` would
    write for it, built in C by `pa.array`'s own type inference.

    Given lists, `datasets` first walks every value in Python looking for dicts of differing
    keys (on the first batch of each map: for a split of a few thousand examples, all of
    them), which took a fifth as long as tokenizing a PAN-X split. On plain Python values it
    then calls `pa.array(values)` and gives the tokenizer's columns the smaller integer types
    of `TOKENIZER_INTS`, as is done here, columns in its order (the input's first). Anything
    else (dicts, numpy values, mixed types, a column of only None or empty lists, no rows, a
    type other than that of the input column of the same name, which `datasets` would try to
    cast to) goes back as lists, for `datasets` to convert. `inputs`: the mapped dataset's
    column types."""
    arrays = {name: _arrow_column(name, values) for name, values in batch.items()}
    if (not arrays or any(a is None or (name in inputs and a.type != inputs[name]) for name, a in arrays.items())
            or len({len(a) for a in arrays.values()}) != 1):
        return {name: v.to_pylist() if isinstance(v, pa.Array) else v for name, v in batch.items()}
    order = [name for name in inputs if name in arrays] + [name for name in arrays if name not in inputs]
    return pa.table({name: arrays[name] for name in order})


def _arrow_column(name: str, values: Any) -> pa.Array | None:
    """One column for `arrow_batch`; None: leave it to `datasets`."""
    if isinstance(values, pa.Array):
        return values
    if not isinstance(values, list) or not isinstance(_first_value(values), (bool, int, float, str)):
        return None
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    leaf = array.type
    while pa.types.is_list(leaf):
        leaf = leaf.value_type
    if leaf not in PLAIN_TYPES:
        return None
    small = TOKENIZER_INTS.get(name)
    if small is None:
        return array
    # as `datasets`: ints, lists or lists of lists of them; int64 where a value does not fit
    optimized = {pa.int64(): small, pa.list_(pa.int64()): pa.list_(small),
                 pa.list_(pa.list_(pa.int64())): pa.list_(pa.list_(small))}.get(array.type)
    try:
        return array.cast(optimized) if optimized is not None else array
    except pa.ArrowInvalid:
        return array


def _first_value(values: list) -> Any:
    """The first value neither None nor an empty list, looking into lists: what `datasets`
    checks to decide whether a column holds Python values already (None: there is none)."""
    for value in values:
        if isinstance(value, list):
            value = _first_value(value)
        if value is not None:
            return value
    return None


def processes(examples: int) -> int | None:
    """Processes to tokenize `examples` in: the CPUs this process may use, up to
    `MAX_PROCESSES`, for large inputs; None: this one. Each process takes a contiguous shard
    and the shards are concatenated in order, so the features are those of one process."""
    cpus = min(len(os.sched_getaffinity(0)), MAX_PROCESSES)
    return cpus if examples >= PARALLEL_EXAMPLES and cpus > 1 else None


def feature_lengths(features: datasets.Dataset) -> np.ndarray:
    """`len(input_ids)` of every feature, computed in Arrow: iterating the column in Python
    costs about 20 us a row, seconds for a large training set. A multiple-choice feature
    (choices x tokens) counts its longest choice, the width it pads to."""
    column = features.with_format("arrow")["input_ids"]
    if not pa.types.is_list(column.type.value_type):
        return pc.list_value_length(column).to_numpy()
    column = column.combine_chunks()  # parent indices count from the start of a chunk
    lengths = np.zeros(len(column), dtype=np.int64)
    np.maximum.at(lengths, pc.list_parent_indices(column).to_numpy(),
                  pc.list_value_length(pc.list_flatten(column)).to_numpy())
    return lengths


def _nested(value: list) -> bool:
    return bool(value) and isinstance(value[0], list)


def _sequences(value: list) -> list[list]:
    """The innermost lists, in order (a multiple-choice feature: one per choice)."""
    return [s for v in value for s in _sequences(v)] if _nested(value) else [value]


def _outer_shape(value: list) -> tuple[int, ...]:
    return (len(value), *_outer_shape(value[0])) if _nested(value) else ()


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, group: int = 50) -> list[list[int]]:
    """Shuffle, sort each window of `group` batches by length, cut into batches, shuffle those.

    Randomness stays (every epoch differs, and batch order is random) while each batch holds
    sequences of similar length, so dynamic padding wastes little compute.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    lengths_arr = np.asarray(lengths)
    window = batch_size * group
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start:start + window]
        chunk = chunk[np.argsort(-lengths_arr[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class Collate:
    """Rows of the model's input columns -> one padded batch (picklable for loader workers)."""

    def __init__(self, columns: list[str], pad_token_id: int):
        self.columns = columns
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return pad_batch([{c: r[c] for c in self.columns} for r in rows], self.pad_token_id)


def pad_value(column: str, pad_token_id: int) -> int:
    """What a column's sequences are padded with: the pad token for `input_ids`, PAD_VALUES' for
    masks and labels, else 0."""
    return pad_token_id if column == "input_ids" else PAD_VALUES.get(column, 0)


def pad_batch(features: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding: every list-valued column to the longest in the batch. A column of
    lists of sequences (multiple choice: choices x tokens) pads every sequence to one width.

    List-valued columns hold integers (ids, masks, labels, positions). Copying the rows into
    one preallocated array is about ten times faster than `torch.tensor` on padded lists,
    and this runs on the host for every batch of training and inference.
    """
    batch: dict[str, torch.Tensor] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if not isinstance(values[0], list):
            batch[key] = torch.tensor(values)
            continue
        sequences = [s for v in values for s in _sequences(v)]
        pad = pad_value(key, pad_token_id)
        padded = np.full((len(sequences), max(map(len, sequences))), pad, dtype=np.int64)
        for row, sequence in zip(padded, sequences):
            row[: len(sequence)] = sequence
        batch[key] = torch.from_numpy(padded.reshape(len(values), *_outer_shape(values[0]), padded.shape[1]))
    return batch
