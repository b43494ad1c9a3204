"""Load one split of one task in one language, from the hub or the original-release files,
as a `datasets.Dataset` with the format's canonical columns; and subsample it.

Both sources go through the same row conversion (field mapping, filter, each value checked
and converted by the kind its format declares for it, `fields`), so a smoke run on bundled
files exercises the same code as a run on the hub data. Label columns carry their label names
as `datasets.ClassLabel` features (`label_names`): the names a task learns from its data
travel with the examples, never into the task config.
"""

from __future__ import annotations

import fnmatch
import glob
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets.fingerprint import generate_random_fingerprint
from datasets.table import InMemoryTable
from omegaconf import DictConfig, ListConfig, OmegaConf

from xfer_scale import derived_rows, fields, file_hashes, languages, readers, translations
from xfer_scale.errors import UserError


class _Templates(dict):
    """`{lang}`-style placeholders, looked up only when a template uses them."""

    def __init__(self, lang: str, **known: str):
        super().__init__(lang=lang, **known)

    def __missing__(self, key: str) -> str:
        if key == "lang_name":
            return languages.name(self["lang"])
        if key == "lang_name_lower":  # TyDiQA spells languages so: `english-...` ids, `...-dev-english.json`
            return languages.name(self["lang"]).lower()
        if key == "iso3":
            return languages.language(self["lang"]).iso3
        raise UserError(f"unknown placeholder {{{key}}} in a task config; use {{lang}}, {{lang_name}}, {{lang_name_lower}} "
                        "or {iso3}, and in a local source's reader options also {dir}.")


def _fill(value: Any, lang: str, **known: str) -> Any:
    return value.format_map(_Templates(lang, **known)) if isinstance(value, str) else value


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, (DictConfig, ListConfig)) else node


class _BadRow(Exception):
    """A fault in one row; `RowConverter` says where the row is."""


def _get(row: Mapping[str, Any], spec: Any) -> Any:
    if isinstance(spec, list):
        return [_get(row, part) for part in spec]
    value: Any = row
    for key in str(spec).split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise _BadRow(f"a row has no field {spec!r} (it has: {', '.join(row)}); "
                          "fix the task config's `fields` or the file.")
        value = value[key]
    return value


def _holds_null(value: Any) -> bool:
    return value is None or (isinstance(value, list) and any(item is None for item in value))


def declared(task: Any, split: str | None = None) -> Mapping[str, fields.Field]:
    """The fields a task's `split` is read into: those its row builder reads where the split
    names one (`rows:`, see `derived_rows`), else its format's (`Format.fields_of`), which are
    also those of every split's rows as the format gets them (`split` None)."""
    builder = _builder(task, split)
    if builder is not None:
        return builder.inputs
    from xfer_scale import formats  # the formats read their data through this module

    return formats.format_class(task).fields_of(task)


def declarer(task: Any, split: str | None = None) -> str:
    """Who declares `declared(task, split)`, for a message."""
    builder = _builder(task, split)
    return f"row builder {builder.name}" if builder is not None else f"format {task.format}"


def _builder(task: Any, split: str | None) -> derived_rows.RowBuilder | None:
    name = (task.get("splits") or {}).get(split, {}).get("rows") if split is not None else None
    return derived_rows.get(name, f"task {task.name}, {split} split") if name else None


def check_fields(task: Any) -> None:
    """Refuse, without reading data, a source of the task whose `fields` do not fit its format."""
    for split, source in (task.get("splits") or {}).items():
        wanted, owner = declared(task, split), declarer(task, split)
        translated = [part for release in translations.releases(source).values() for part in release.per_language.values()]
        parts = [source, *(source.get("also") or []), *(source.get("per_language") or {}).values(), *translated]
        for part in parts:
            for kind in ("hub", "local"):
                if part.get(kind) is not None:
                    fields.check_mapping(wanted, plain(part[kind].fields), owner,
                                         f"task {task.name}, {split} split ({kind})")


def labels(task: Any, names: Sequence[str] | None = None) -> fields.Labels:
    """The label names a split of `task` is read with: `names` (those learnt on its training
    split), else the task's; grown from the rows where the task learns its labels from the data."""
    return fields.Labels(task.label_names if names is None else names, bool(task.get("labels_from_data", False)))


class RowConverter:
    """Turns a source's rows into canonical rows: filter, rename, convert and check each value
    by its field's kind (`fields`), labels to indices into `labels`.

    A null in a mapped field is refused, not passed on: the formats would read it as an empty
    text, or fail far from the row. A row whose label is skipped is left out whatever else it
    holds. Training rows get their kinds' training checks (a question's answer in its context).
    """

    def __init__(self, task: Any, source: Any, lang: str, where: str, labels: fields.Labels,
                 class_names: dict[str, list[str]] | None = None, training: bool = False,
                 split: str | None = None):
        self.fields = plain(source.fields)
        wanted = declared(task, split)
        fields.check_mapping(wanted, self.fields, declarer(task, split), where)
        self.kinds = {name: wanted[name].kind for name in self.fields}
        self.filter = {k: _fill(v, lang) for k, v in plain(source.filter).items()}
        self.label_index = fields.LabelIndex(labels, plain(source.label_values), plain(source.skip_labels))
        self.class_names = class_names or {}
        self.where = where
        #: what rows are read from (a file, a hub dataset), for rows that do not know their line
        self.origin = ""
        self.training_checks = {name: kind.training_check for name, kind in self.kinds.items()
                                if training and kind.training_check is not None}

    def _label(self, raw: Any, column: str) -> int | None:
        if column in self.class_names and isinstance(raw, (int, np.integer)) and raw >= 0:
            raw = self.class_names[column][raw]
        try:
            return self.label_index(raw)
        except fields.BadValue as fault:
            raise _BadRow(str(fault)) from None

    def __call__(self, row: Mapping[str, Any], number: int) -> dict[str, Any] | None:
        """The canonical row of the `number`th row read (from 1), or None for a row left out."""
        try:
            return self._convert(row)
        except _BadRow as fault:
            at = row.where if isinstance(row, readers.Located) else _numbered(self.origin, number)
            raise UserError(f"{self.where} ({at}): {fault}") from None

    def _kept(self, column: str, value: Any) -> bool:
        """Whether a row whose filter `column` holds `value` is kept (`english-*`: a prefix)."""
        return fnmatch.fnmatchcase(str(value), str(self.filter[column]))

    def _value(self, name: str, value: Any) -> Any:
        """`value` as its field's kind stores it (a label: as it is, mapped by `_labelled`)."""
        try:
            return self.kinds[name].convert(value)
        except fields.BadValue as fault:
            raise _BadRow(f"field {name} (from {self.fields[name]!r}): {fault}; fix the file, or the task "
                          "config's `fields`.") from None

    def _labelled(self, name: str, value: Any) -> Any:
        """A label's index (a list of them for a sequence); None where one is skipped."""
        value = self._value(name, value)
        if not self.kinds[name].sequence:
            return self._label(value, self.fields[name])
        indices = [self._label(item, self.fields[name]) for item in value]
        return None if any(index is None for index in indices) else indices

    def _convert(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        if not all(self._kept(column, _get(row, column)) for column in self.filter):
            return None
        out = {name: _get(row, spec) for name, spec in self.fields.items()}
        for name, kind in self.kinds.items():
            if kind.labelled:
                out[name] = self._labelled(name, out[name])
                if out[name] is None:
                    return None
        null = next((name for name, value in out.items() if _holds_null(value)), None)
        if null is not None:
            raise _BadRow(f"field {null} (from {self.fields[null]!r}) is null; fix or remove that row.")
        for name, kind in self.kinds.items():
            if not kind.labelled:
                out[name] = self._value(name, out[name])
        for name, check in self.training_checks.items():
            try:
                check(out[name], out)
            except fields.BadValue as fault:
                raise _BadRow(str(fault)) from None
        return out

    def columnar(self, table: pa.Table) -> bool:
        """Whether rows held as `table` convert column by column with `table`: every field and
        filter a top-level column without nulls (the row path names a null's row), filters over
        text, labels one a row or a list of them, every other field already of the type its kind
        stores (`Dataset.from_list` would keep it; it would widen other types), and no training
        check to run row by row."""
        schema = table.schema

        def fits(name: str, spec: str) -> bool:
            kind, column = self.kinds[name], schema.field(spec).type
            if not kind.labelled:
                return column == kind.stored
            if kind.sequence:
                return pa.types.is_list(column) and not pa.types.is_nested(column.value_type)
            return not pa.types.is_nested(column)

        return (
            not self.training_checks
            and all(isinstance(spec, str) and spec in schema.names and not _has_nulls(table[spec])
                    and fits(name, spec) for name, spec in self.fields.items())
            and all(column in schema.names and schema.field(column).type == pa.string()
                    and not _has_nulls(table[column]) for column in self.filter)
        )

    def table(self, read: readers.TableRows) -> pa.Table:
        """`__call__` over every row of rows held as a `columnar` table at once, with the same
        result: the filter and the label mapping run once per distinct value, in order of first
        appearance (so `labels_from_data` grows its names in row order), and a row whose label
        or any of its labels is skipped is left out."""
        table = read.table
        locate = _locator(read, self.origin)
        rows = np.arange(table.num_rows)
        for column in self.filter:
            values = table[column].take(rows).combine_chunks()
            rows = rows[_per_distinct(values, lambda value, column=column: self._kept(column, value), bool)]
        chosen = table.select(list(dict.fromkeys(self.fields.values())))  # columns as copying them costs
        if len(rows) < table.num_rows:
            chosen = chosen.take(rows)
        out: dict[str, Any] = {}
        keep = np.ones(len(rows), dtype=bool)
        for name, spec in self.fields.items():
            column = chosen[spec].combine_chunks()
            if self.kinds[name].labelled and not self.kinds[name].sequence:
                labels = self._labels(column, spec, lambda at: locate(rows[at]))
                keep &= labels >= 0
                column = pa.array(labels)
            elif self.kinds[name].labelled:
                lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
                parents = np.repeat(np.arange(len(lengths)), lengths)
                labels = self._labels(pc.list_flatten(column), spec, lambda at: locate(rows[parents[at]]))
                keep[parents[labels < 0]] = False
                column = pa.ListArray.from_arrays(np.r_[0, np.cumsum(lengths)].astype(np.int32), pa.array(labels))
            out[name] = column
        converted = pa.table(out)
        return converted if keep.all() else converted.filter(keep)

    def _labels(self, values: pa.Array, column: str, locate: Any) -> np.ndarray:
        """`_label` of every value (-1 where skipped); a bad value is reported at its first
        row (`locate`: value index -> where)."""
        def label(value: Any) -> int:
            try:
                found = self._label(value, column)
            except _BadRow as fault:
                raise UserError(f"{self.where} ({locate(pc.index(values, value).as_py())}): {fault}") from None
            return -1 if found is None else found

        return _per_distinct(values, label, np.int64)


def _per_distinct(values: pa.Array, convert: Any, dtype: Any) -> np.ndarray:
    """`convert` of every value, called once per distinct value, in order of first appearance."""
    encoded = pc.dictionary_encode(values)
    mapped = np.array([convert(value) for value in encoded.dictionary.to_pylist()], dtype=dtype)
    return mapped[encoded.indices.to_numpy(zero_copy_only=False)]


def _has_nulls(column: pa.ChunkedArray) -> bool:
    return bool(column.null_count or (pa.types.is_list(column.type) and pc.list_flatten(column).null_count))


def _numbered(origin: str, number: int) -> str:
    """Where a row that does not know its line is: its number from 1 among the rows read."""
    return f"{origin}, row {number}"


def _locator(read: readers.TableRows, origin: str) -> Any:
    """Row index -> where that row is: `path:line` for a table reader's rows, as their `Located`
    rows say, else the row's number from 1 in `origin`."""
    return lambda row: read.where(row) or _numbered(origin, int(row) + 1)


def _class_label(feature: Any) -> datasets.ClassLabel | None:
    """A column's ClassLabel feature, or that of its items (tags), or None."""
    feature = getattr(feature, "feature", feature)
    return feature if isinstance(feature, datasets.ClassLabel) else None


def _class_names(features: datasets.Features) -> dict[str, list[str]]:
    """Hub label columns are ClassLabel integers: keep their names to map them by name."""
    return {column: list(found.names) for column, feature in features.items()
            if (found := _class_label(feature)) is not None}


def label_names(examples: datasets.Dataset) -> list[str] | None:
    """The label names that the examples' labels index (`load_split` records them); None for
    examples without labels."""
    return next((list(found.names) for feature in examples.features.values()
                 if (found := _class_label(feature)) is not None), None)


def _named(dataset: datasets.Dataset, task: Any, names: list[str]) -> datasets.Dataset:
    """The dataset with its label columns' names recorded as ClassLabel features: the same
    Arrow table (their storage is the same int64), no copy."""
    features = dataset.features.copy()
    for name, field in declared(task).items():
        if field.kind.labelled and name in features:
            label = datasets.ClassLabel(names=names)
            features[name] = datasets.List(label) if field.kind.sequence else label
    if features == dataset.features:
        return dataset
    return datasets.Dataset(dataset.data, info=datasets.DatasetInfo(features=features),
                            fingerprint=generate_random_fingerprint())


def _convert(rows: Iterable[Mapping[str, Any]], convert: RowConverter) -> Iterator[dict[str, Any]]:
    for number, row in enumerate(rows, 1):
        out = convert(row, number)
        if out is not None:
            yield out


def local_base(task: Any, source: Any, data_root: str | None) -> Path | None:
    """Folder holding this source's files, or None when the hub is to be used."""
    if task.get("data_dir") and source.get("task_dir") is None:
        return Path(task.data_dir)
    if data_root:
        return Path(data_root) / (source.get("task_dir") or task.name)
    return None


def part_base(task: Any, part: Any, data_root: str | None) -> Path | None:
    """The folder a split's part is read from, or None where it is read from the hub (it has no
    local source, or no folder is set for it): the one choice every reader of a part follows."""
    return local_base(task, part.local, data_root) if part.get("local") else None


def _local_files(task: Any, source: Any, base: Path, lang: str, where: str) -> list[str]:
    if not base.is_dir():
        raise UserError(f"{where}: data folder {base} does not exist; check data.root or {task.name}.data_dir.")
    pattern = str(base / _fill(source.path, lang))
    files = sorted(glob.glob(pattern))
    if not files:
        raise UserError(
            f"{where}: no file matches {pattern}; put the original-release files there, "
            "or leave data.root unset to load from the hub."
        )
    return files


def _reader_options(source: Any, base: Path, lang: str) -> dict[str, Any]:
    """A local source's reader options, placeholders filled: readers take paths as given, so
    a file beside the data (Social IQa's labels) is written `{dir}/...`."""
    return {k: _fill(v, lang, dir=str(base)) for k, v in plain(source.options).items()}


#: how many files' parsed rows stay in memory, and the largest file held (larger ones are
#: streamed): a file holding every language (XNLI's dev and test) is otherwise parsed again for
#: each language, and phase 3 reads a language's dev and test in turn
READ_MEMO_FILES = 2
READ_MEMO_MAX_BYTES = 64 << 20
_READ_MEMO: dict[tuple[Any, ...], readers.TableRows | list[readers.Row]] = {}


def _signature(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _read(reader: str, file: Path, options: dict[str, Any]) -> readers.Rows:
    """A file's rows, parsed once while it (and any file its options name, Social IQa's labels)
    is unchanged; the least recently read file is dropped first."""
    if file.stat().st_size > READ_MEMO_MAX_BYTES:
        return readers.read(reader, file, **options)
    named = tuple(_signature(Path(v)) for v in options.values() if isinstance(v, str) and Path(v).is_file())
    key = (reader, _signature(file), repr(sorted(options.items())), named)
    rows = _READ_MEMO.pop(key, None)
    if rows is None:
        found = readers.read(reader, file, **options)
        rows = found if isinstance(found, readers.TableRows) else list(found)  # held to iterate again
    _READ_MEMO[key] = rows
    while len(_READ_MEMO) > READ_MEMO_FILES:
        del _READ_MEMO[next(iter(_READ_MEMO))]
    return rows


def _dataset(read: readers.Rows, convert: RowConverter) -> datasets.Dataset:
    """Canonical rows of a file or hub split: the one place that converts what a reader gives.
    Rows held as a table (`TableRows`) are converted column by column where they can be, every
    other row one at a time. A random fingerprint: `datasets` would hash the whole table to
    name a dataset it never looks up (rows built in memory are not in its cache)."""
    if isinstance(read, readers.TableRows) and convert.columnar(read.table):
        return datasets.Dataset(InMemoryTable(convert.table(read)), fingerprint=generate_random_fingerprint())
    return datasets.Dataset.from_list(list(_convert(read, convert)))


def _load_local(task: Any, source: Any, base: Path, lang: str, where: str, training: bool,
                labels: fields.Labels, split: str) -> datasets.Dataset:
    files = _local_files(task, source, base, lang, where)
    options = _reader_options(source, base, lang)
    convert = RowConverter(task, source, lang, where, labels, training=training, split=split)
    parts = []
    for file in files:
        convert.origin = file
        parts.append(_dataset(_read(source.reader, Path(file), options), convert))
    return _concatenate(parts, where)


#: the Parquet-conversion branch of a hub repo: no README, so one config, `default`
PARQUET_BRANCH = "refs/convert/parquet"


def _file_options(source: Any, name: str | None, lang: str, where: str) -> dict[str, Any]:
    """`data_dir` / `data_files` where set (left out otherwise, so a call without them is the
    plain one). A config `name` on the Parquet branch is refused here, naming the fix: `datasets`
    would only say the config is not found (it finds `default` alone), which reads as a typo."""
    if source.revision == PARQUET_BRANCH and name not in (None, "default"):
        raise UserError(f"{where}: {source.path} at revision {PARQUET_BRANCH} has no config {name!r}: that "
                        f"branch has no README, so its configs are folders; write `data_dir: {name}` "
                        "instead of `name`.")
    found = {"data_dir": _fill(source.get("data_dir"), lang), "data_files": plain(source.get("data_files"))}
    return {key: value for key, value in found.items() if value is not None}


def _load_hub(task: Any, source: Any, lang: str, where: str, training: bool,
              labels: fields.Labels, split: str) -> datasets.Dataset:
    name = _fill(source.name, lang)
    files = _file_options(source, name, lang, where)
    what = ", ".join(str(part) for part in (name, *files.values(), f"split {source.split}") if part)
    try:
        raw = datasets.load_dataset(source.path, name, split=source.split, revision=source.revision, **files)
    except Exception as error:  # the hub's errors vary by release: offline, missing, gated
        raise UserError(
            f"{where}: cannot load {source.path} ({what}) from the hub: "
            f"{type(error).__name__}: {error}. Offline? Run `xfer-scale prepare` where the hub "
            "is reachable, or point data.root at the original-release files."
        ) from error
    convert = RowConverter(task, source, lang, where, labels, _class_names(raw.features), training, split)
    convert.origin = " ".join(str(part) for part in ("hub", source.path, name, *files.values(), source.split) if part)
    return _dataset(readers.TableRows(raw.with_format("arrow")[:]), convert)


def _load_part(task: Any, source: Any, lang: str, where: str, data_root: str | None,
               training: bool, labels: fields.Labels, split: str) -> datasets.Dataset:
    base = part_base(task, source, data_root)
    if base is not None:
        return _load_local(task, source.local, base, lang, where, training, labels, split)
    if source.get("hub"):
        return _load_hub(task, source.hub, lang, where, training, labels, split)
    raise UserError(f"{where}: this split has only local files; set data.root or {task.name}.data_dir.")


def split_parts(task: Any, split: str, lang: str) -> list[Any]:
    """The sources of one split in one language, in the order their rows are concatenated: the
    language's own source where it has one (`per_language`, or the chosen translation)."""
    source = task.splits[split]
    per_language = translations.per_language(task, split)
    if lang in per_language:
        return [per_language[lang]]
    return [source, *(source.get("also") or [])]


def _concatenate(parts: list[datasets.Dataset], where: str) -> datasets.Dataset:
    """One dataset from a split's parts, empty ones left out (rows of no columns, where a
    filter kept nothing); `datasets` would fill a column one part lacks with None, so differing
    columns are refused instead."""
    parts = [part for part in parts if len(part)] or parts[:1]
    columns = [sorted(part.column_names) for part in parts]
    if any(names != columns[0] for names in columns):
        raise UserError(
            f"{where}: the split's sources give different columns ({' | '.join(map(', '.join, columns))}); "
            "map every source to the same canonical `fields`."
        )
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def load_split(task: Any, split: str, lang: str, data_root: str | None = None,
               names: Sequence[str] | None = None) -> datasets.Dataset:
    """Canonical rows of `task`'s `split` in `lang`; an empty result is an error. Labels index
    `names` (a task that learns its labels from the data: those its training split learnt, so
    that an evaluation split shares their indices), else the task's `label_names`;
    `label_names(result)` are the names they index, those learnt included."""
    where = f"{task.name} {split} [{lang}]"
    if split not in task.splits:
        raise UserError(f"{where}: task {task.name} has no {split} split (it has: {', '.join(task.splits)}).")
    read = labels(task, names)
    parts = [_load_part(task, part, lang, where, data_root, split == "train", read, split)
             for part in split_parts(task, split, lang)]
    dataset = _concatenate(parts, where)
    if len(dataset) == 0:
        raise UserError(f"{where}: no examples found in {_read_from(task, split, lang, data_root)}; check the "
                        "language code, the task's filter and the files.")
    builder = _builder(task, split)
    if builder is not None:
        dataset = builder.build(dataset, task.name)
    return _named(dataset, task, read.names)


def _read_from(task: Any, split: str, lang: str, data_root: str | None) -> str:
    """The files (or hub datasets) a split was read from, for a message."""
    where, read = f"{task.name} {split} [{lang}]", []
    for part in split_parts(task, split, lang):
        base = part_base(task, part, data_root)
        if base is not None:
            read += _local_files(task, part.local, base, lang, where)
        else:
            hub = part.hub
            read.append(f"the hub's {hub.path}" + (f" ({_fill(hub.name, lang)})" if hub.name else "")
                        + f" split {hub.split}")
    return ", ".join(read)


def local_files(task: Any, split: str, lang: str, data_root: str | None) -> list[Path] | None:
    """The files of a one-source split in `lang` (a missing one is an error), or None where it
    comes from the hub: for what is read its own way (the MLM text, sampled at random offsets)."""
    source = split_parts(task, split, lang)[0]
    base = part_base(task, source, data_root)
    if base is None:
        return None
    return [Path(file) for file in _local_files(task, source.local, base, lang, f"{task.name} {split} [{lang}]")]


def local_fingerprint(task: Any, split: str, lang: str, data_root: str | None,
                      hashes: Path | None) -> list[list[Any]]:
    """Name, size and content hash of every local file a split reads, those its reader options
    name in the data folder included (Social IQa's labels file; hub parts are pinned by their
    config): part of the run id and the phase-1 cache key, so edited data is retrained and
    touched or copied data is not (`file_hashes`, remembered in `hashes`)."""
    where = f"{task.name} {split} [{lang}]"
    found = []
    for part in split_parts(task, split, lang):
        base = part_base(task, part, data_root)
        if base is None:
            continue
        # files reader options name in the data folder; a missing one is the reader's error to report
        named = [value for value in _reader_options(part.local, base, lang).values()
                 if isinstance(value, str) and Path(value).is_relative_to(base) and Path(value).is_file()]
        for file in [*_local_files(task, part.local, base, lang, where), *named]:
            found.append([Path(file).name, *file_hashes.fingerprint(Path(file), hashes)])
    return found


def strata(dataset: datasets.Dataset, task: Any) -> np.ndarray | None:
    """The column that stratifies subsamples of `task`'s rows (its format's declaration), in
    one read; None where there is none. `dataset[column]` is a lazy column that numpy reads row
    by row: 3.5 s for MNLI's 392k rows. Read through the Arrow format, which (unlike
    `dataset.data`) follows a `select`'s indices."""
    column = fields.stratum(declared(task))
    if column is None or column not in dataset.column_names:
        return None
    return dataset.with_format("arrow")[column].to_numpy()


def subsample_order(labels: np.ndarray | list[int] | None, n: int, seed: int) -> np.ndarray:
    """One fixed order of all examples; every prefix is a stratified subsample.

    Each example gets the key (rank within its label + jitter) / label size, ranks coming
    from a seeded permutation; sorting by key interleaves the labels in proportion. Because
    every subsample is a prefix of the same order, the 1% set lies inside the 10% set.
    """
    rng = np.random.default_rng(seed)
    permutation = rng.permutation(n)
    if labels is None:
        return permutation
    labels_arr = np.asarray(labels)[permutation]
    keys = np.empty(n)
    for label in np.unique(labels_arr):
        members = np.flatnonzero(labels_arr == label)
        keys[members] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return permutation[np.argsort(keys, kind="stable")]


def subsample_size(n: int, fraction: float, examples: int | None, task: str) -> int:
    if examples is not None:
        if examples > n:
            raise UserError(
                f"intermediate.examples={examples} exceeds the {n} training examples of {task}; "
                f"use at most {n}, or intermediate.fraction."
            )
        return examples
    size = round(fraction * n)
    if size < 1:
        raise UserError(
            f"intermediate.fraction={fraction} of {n} examples of {task} is an empty subsample; "
            f"use a fraction of at least {math.ceil(0.5 / n * 1e6) / 1e6} or intermediate.examples."
        )
    return size


def subsample(dataset: datasets.Dataset, fraction: float, examples: int | None, seed: int,
              task: Any) -> tuple[datasets.Dataset, list[int]]:
    """The nested subsample of `task`'s rows, stratified as its format declares (`strata`),
    and the row indices it keeps (sorted)."""
    size = subsample_size(len(dataset), fraction, examples, task.name)
    chosen = sorted(subsample_order(strata(dataset, task), len(dataset), seed)[:size].tolist())
    return dataset.select(chosen), chosen
