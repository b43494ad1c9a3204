"""Examples to features in Arrow: a format's batched tokenize mapped over the examples, its
output built into Arrow tables here rather than by `datasets`, in several processes for large inputs."""

from __future__ import annotations

import os
from typing import Any

import datasets
import pyarrow as pa
from datasets.fingerprint import generate_random_fingerprint

#: examples from which `encode_indexed` tokenizes in several processes (below, starting them
#: costs more than it saves), and the most processes it starts
PARALLEL_EXAMPLES = 20_000
MAX_PROCESSES = 8


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
