"""The parsers of the formats many datasets share: tsv, csv, jsonl, squad_json, conllu,
conll_tags, aligned_text; and the line and table helpers the dataset-specific readers build on.

Each reader gives rows under the file's own column names: mapping them to a task's canonical
fields, filtering (SNLI's `-` rows) and casting labels belong to the task config, so one reader
serves every dataset released in its format. Most readers are generators that hold at most one
sentence, or a small id set, at a time (SQuAD JSON, a single JSON document, excepted). The
line-based formats of the largest and most-read files (GLUE/XNLI/PAWS-X TSV, PAN-X and UD-POS
`token<TAB>tag`) are read whole into an Arrow table instead (`TableRows`), split and checked in
Arrow's C++ kernels: a row at a time in Python, reading PAN-X's 48 languages cost more than
tokenizing them.

Rows of tables, CSV and JSON Lines are `Located`: they know their line, for the faults only a
task config reveals (a null in a field it maps).

Every problem in a file is a `UserError` that names the file, the line where there is one,
and what to do, because the person who sees it is the one who downloaded the file.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from xfer_scale.errors import UserError
from xfer_scale.readers.registry import Located, Row, TableRows, existing, reader

#: the most bytes one Arrow string array holds (32-bit offsets)
STRING_BYTES = 2**31 - 1


def _decoded_lines(path: Path) -> Iterator[str]:
    """Decode one line at a time, line ending kept (the csv module needs it).

    Binary reading splits on '\\n' only: text mode would also split on a lone '\\r' inside
    a sentence (GLUE and Wikipedia text have some) and shift every later row. Decoding line
    by line reports a bad byte at its own line instead of somewhere in an 8 KiB chunk.
    """
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(
                    f"{path}:{number}: not UTF-8 ({error.reason} at byte {error.start} of the line); "
                    "re-save the file as UTF-8"
                ) from None
            yield line.removeprefix("\ufeff") if number == 1 else line


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Number lines from 1, as editors and error messages do, and drop their endings."""
    for number, line in enumerate(_decoded_lines(path), 1):
        yield number, line.rstrip("\r\n")


def _blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    """Group lines into blank-line separated sentences; the end of the file ends the last one,
    and runs of blank lines do not make empty sentences."""
    block: list[tuple[int, str]] = []
    for number, line in numbered_lines(path):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _file_lines(path: Path) -> pa.Array:
    """A file's lines as an Arrow array, endings dropped, line i+1 at index i, split on '\n'
    only as `_decoded_lines` splits (a lone '\r' inside a sentence stays)."""
    raw = path.read_bytes().removeprefix("\ufeff".encode())
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.array([0, len(raw)], pa.int64()).buffers()[1],
                                                        pa.py_buffer(raw)])  # the bytes, not a copy
    lines = pc.list_flatten(pc.split_pattern(whole, b"\n"))
    if raw.endswith(b"\n"):  # the empty piece after the last line ending is not a line
        lines = lines[:-1]
    try:
        text = lines.cast(pa.large_string())
    except pa.ArrowInvalid:
        for _ in _decoded_lines(path):  # names the line that is not UTF-8
            pass
        raise
    crlf = pc.any(pc.ends_with(text, "\r")).as_py()
    return pc.utf8_rtrim(text, characters="\r") if crlf else text  # a copy of the file only where needed


def _string(column: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """A large_string (or list of them) column as the plain `string` type that `datasets`
    gives texts, in chunks under Arrow's 2 GiB a chunk."""
    target = pa.list_(pa.string()) if pa.types.is_list(column.type) else pa.string()
    chunks = list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]
    pieces = []
    while chunks:
        chunk = chunks.pop(0)
        if chunk.nbytes > STRING_BYTES and len(chunk) > 1:
            chunks[:0] = [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
        else:
            pieces.append(chunk.cast(target))
    return pa.chunked_array(pieces, target)


def _table_rows(path: Path, columns: dict[str, Any], lines: np.ndarray) -> TableRows:
    """A table reader's rows: the file's columns, as texts, and each row's first line."""
    return TableRows(pa.table({name: _string(column) for name, column in columns.items()}), path, lines)


def _field_count_error(path: Path, number: int, expected: int, found: int, kind: str) -> UserError:
    return UserError(
        f"{path}:{number}: expected {expected} {kind} fields, found {found}; "
        "fix or delete that row (and pass `columns` only for files without a header row)"
    )


def _records(
    path: Path, records: Iterable[tuple[int, list[str]]], columns: list[str] | None, kind: str
) -> Iterator[Row]:
    """Name each record's fields after the header row, or after `columns` for header-less files.

    A record with the wrong field count is an error, never padded or truncated: one shifted
    field silently turns a sentence into a label.
    """
    records = iter(records)
    if columns is None:
        header = next(records, None)
        if header is None:
            return
        columns = header[1]
    for number, fields in records:
        if len(fields) != len(columns):
            raise _field_count_error(path, number, len(columns), len(fields), kind)
        yield Located(zip(columns, fields, strict=True), f"{path}:{number}")


@reader("tsv")
def read_tsv(path: Path, columns: list[str] | None = None) -> TableRows:
    """Tab-separated rows, with quoting off, as a table.

    GLUE, XNLI and PAWS-X sentences hold unpaired '"': a quoting csv parser would glue the
    following lines into one field, so rows are split on tabs alone, as GLUE's and XTREME's
    own loaders do. XTREME's header-less `train-en.tsv` files were written by `csv.writer`,
    so a sentence with a '"' appears there as '"..""..."'; XTREME reads them with quoting
    off too, keeping those quotes, so this reproduces XTREME's inputs exactly. Empty lines
    are skipped; a header naming a column twice keeps its last field, as a dict would.
    """
    lines = _file_lines(path)
    filled = pc.utf8_length(lines).to_numpy(zero_copy_only=False) > 0
    numbers = np.flatnonzero(filled) + 1
    records = pc.split_pattern(lines if filled.all() else lines.filter(filled), "\t")
    if columns is None:
        if not len(records):
            return _table_rows(path, {}, numbers)
        columns, records, numbers = records[0].as_py(), records[1:], numbers[1:]
    counts = pc.list_value_length(records).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(counts != len(columns))
    if wrong.size:
        raise _field_count_error(path, int(numbers[wrong[0]]), len(columns), int(counts[wrong[0]]), "tab-separated")
    found = {name: pc.list_element(records, i) for i, name in enumerate(columns)}
    return _table_rows(path, found, numbers)


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(_decoded_lines(path))
    try:
        for fields in reader:
            if fields:
                yield reader.line_num, fields
    except csv.Error as error:
        raise UserError(
            f"{path}:{reader.line_num}: unreadable CSV ({error}); fix the quoting of that row"
        ) from None


@reader("csv")
def read_csv(path: Path, columns: list[str] | None = None) -> Iterator[Row]:
    """Comma-separated rows with standard quoting (Cosmos QA quotes contexts holding commas,
    quotes and line breaks); an error's line is the last line of its row."""
    return _records(path, _csv_records(path), columns, "comma-separated")


#: the nested-jsonl flattenings `read_jsonl`'s `flatten` option names, each registered with
#: `flattening` in its dataset's module
FLATTENINGS: dict[str, Callable[[Row], Row]] = {}


def flattening(name: str) -> Callable[[Callable[[Row], Row]], Callable[[Row], Row]]:
    """Register the decorated function, a nested row -> a flat row, as `flatten: name` of jsonl."""

    def register(function: Callable[[Row], Row]) -> Callable[[Row], Row]:
        if name in FLATTENINGS:
            raise ValueError(f"jsonl flattening {name!r} is registered twice")
        FLATTENINGS[name] = function
        return function

    return register


@reader("jsonl")
def read_jsonl(path: Path, flatten: str | None = None, labels: str | None = None) -> Iterator[Row]:
    """One JSON object a line (COPA/XCOPA, HellaSwag, ANLI, SNLI, CommonsenseQA, Cosmos QA test,
    Social IQa).

    Only CommonsenseQA nests its fields, so `flatten` names a dataset's flattening (registered
    with `flattening` in that dataset's module) rather than offering a general one that would
    need its own little language for lists of dicts. `labels` names a file of one label a line,
    line i labelling object i, given to each row as `label` (Social IQa's `train-labels.lst`
    beside `train.jsonl`).
    """
    if flatten is not None and flatten not in FLATTENINGS:
        raise UserError(f"unknown jsonl flattening {flatten!r}; valid: {', '.join(sorted(FLATTENINGS))}")
    rows = _jsonl_rows(path, flatten)
    return rows if labels is None else _labelled(path, rows, existing(Path(labels), "jsonl labels file"))


def _jsonl_rows(path: Path, flatten: str | None) -> Iterator[Row]:
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(
                f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno}); "
                "each line must hold one whole JSON object"
            ) from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, found {type(row).__name__}")
        yield Located(row if flatten is None else _flattened(path, number, row, flatten), f"{path}:{number}")


def _nonblank(path: Path) -> Iterator[str]:
    return (line.strip() for _, line in numbered_lines(path) if line.strip())


def _labelled(path: Path, rows: Iterator[Row], labels_path: Path) -> Iterator[Row]:
    """Row i with the label on line i of `labels_path`; blank lines count in neither file.

    Unequal counts are an error, never a shorter zip: a labels file of another split, or one
    with a line missing, would pair rows with wrong answers.
    """
    for row, label in zip_longest(rows, _nonblank(labels_path)):
        if row is None or label is None:
            raise UserError(
                f"{path} has {sum(1 for _ in _nonblank(path))} rows but {labels_path} has "
                f"{sum(1 for _ in _nonblank(labels_path))} labels; line i of the labels file labels row i: "
                "use the labels file of the same release and split"
            )
        if "label" in row:
            raise UserError(f"{path}: its rows have their own `label`; drop the `labels` option for this file")
        row["label"] = label
        yield row


def _flattened(path: Path, number: int, row: Row, flatten: str) -> Row:
    try:
        return FLATTENINGS[flatten](row)
    except (KeyError, TypeError) as error:
        raise UserError(
            f"{path}:{number}: not a {flatten} row ({type(error).__name__}: {error}); "
            f"use flatten: {flatten} only on that dataset's release files"
        ) from None


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})"
        ) from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 ({error.reason}); re-save the file as UTF-8") from None


def _squad_row(title: str, context: str, qa: Row) -> Row:
    """One question as the hub's SQuAD datasets give it. Answers are checked against their
    context where training uses them (`data`): evaluation scores their texts alone."""
    return {
        "id": qa["id"],
        "title": title,
        "context": context,
        "question": qa["question"],
        "answers": {"text": [answer["text"] for answer in qa["answers"]],
                    "answer_start": [answer["answer_start"] for answer in qa["answers"]]},
        "is_impossible": bool(qa.get("is_impossible", False)),
    }


@reader("squad_json")
def read_squad_json(path: Path) -> Iterator[Row]:
    """One row a question from SQuAD v1.1/v2.0 JSON, the format XQuAD, MLQA and TyDiQA-GoldP
    reuse; v2 unanswerable questions have empty answers and their `plausible_answers` dropped."""
    document = load_json(path)
    try:
        for article in document["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    yield _squad_row(article.get("title", ""), paragraph["context"], qa)
    except (KeyError, TypeError) as error:
        raise UserError(
            f"{path}: not SQuAD JSON ({type(error).__name__}: {error}); expected "
            "data[].paragraphs[] with context and qas[] of id, question, answers[{text, answer_start}]"
        ) from None


_SENT_ID = re.compile(r"#\s*sent_id\s*=\s*(.*)")


@reader("conllu")
def read_conllu(path: Path) -> Iterator[Row]:
    """One row a sentence of Universal Dependencies CoNLL-U: `tokens` (FORM), `upos` (UPOS),
    and `sent_id` where the sentence has one.

    Multiword-token ranges (`1-2`) and empty nodes (`1.1`) are skipped because UPOS tagging
    is over syntactic words, the lines with plain integer ids.
    """
    for block in _blocks(path):
        sentence: Row = {"tokens": [], "upos": []}
        for number, line in block:
            if line.startswith("#"):
                if match := _SENT_ID.match(line):
                    sentence["sent_id"] = match[1].strip()
                continue
            fields = line.split("\t")
            if len(fields) != 10:
                raise UserError(
                    f"{path}:{number}: expected 10 tab-separated CoNLL-U fields, found {len(fields)}; "
                    "fix that line (spaces instead of tabs?)"
                )
            if fields[0].isdigit():
                sentence["tokens"].append(fields[1])
                sentence["upos"].append(fields[3])
        if sentence["tokens"]:
            yield sentence


@reader("conll_tags")
def read_conll_tags(path: Path, strip_lang_prefix: bool = True) -> TableRows:
    """`token<TAB>tag` lines, a blank line between sentences (PAN-X, XTREME's UD-POS files), as a
    table of `tokens` and `tags` a sentence; label-less test files have the token alone and give
    empty `tags`. Runs of blank lines do not make empty sentences.

    PAN-X's `en:` prefix is dropped as XTREME's preprocessing drops it (up to the first ':'),
    and a token without one is refused: on a file that has no prefixes, stripping would cut
    `12:30` to `30`.
    """
    lines = _file_lines(path)
    filled = pc.utf8_length(pc.utf8_trim_whitespace(lines)).to_numpy(zero_copy_only=False) > 0
    numbers = np.flatnonzero(filled) + 1
    starts = filled & ~np.concatenate([[False], filled[:-1]])  # a sentence's first line
    sentence = np.cumsum(starts)[filled] - 1  # of each filled line
    fields = pc.split_pattern(lines.filter(filled), "\t")
    counts = pc.list_value_length(fields).to_numpy(zero_copy_only=False)
    first = np.flatnonzero(starts[filled])  # each sentence's first filled line, by index
    _check_tag_fields(path, numbers, counts, first[sentence])
    tokens = pc.list_element(fields, 0)
    if strip_lang_prefix:
        prefixed = pc.split_pattern(tokens, ":", max_splits=1)
        bare = np.flatnonzero(pc.list_value_length(prefixed).to_numpy(zero_copy_only=False) < 2)
        if bare.size:
            raise UserError(
                f"{path}:{numbers[bare[0]]}: token {tokens[int(bare[0])].as_py()!r} has no language prefix such as "
                "'en:'; for files without one (XTREME's preprocessed tsv files) set strip_lang_prefix: false"
            )
        tokens = pc.list_element(prefixed, 1)
    sizes = np.bincount(sentence, minlength=len(first))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    tagged = counts[first] == 2
    tags = pc.list_element(fields.filter(tagged[sentence]), 1) if tagged.any() else pa.array([], pa.large_string())
    tag_offsets = np.concatenate([[0], np.cumsum(np.where(tagged, sizes, 0))]).astype(np.int32)
    return _table_rows(path, {"tokens": pa.ListArray.from_arrays(offsets, tokens),
                                 "tags": pa.ListArray.from_arrays(tag_offsets, tags)}, numbers[first])


def _check_tag_fields(path: Path, numbers: np.ndarray, counts: np.ndarray, first: np.ndarray) -> None:
    """A sentence is all tagged or all bare: a partly tagged one would misalign tokens and tags
    (`counts`: each line's fields; `first`: the index of its sentence's first line). The
    first faulty line in the file is named."""
    faulty = np.flatnonzero((counts > 2) | (counts != counts[first]))
    if not faulty.size:
        return
    at = faulty[0]
    if counts[at] > 2:
        raise UserError(f"{path}:{numbers[at]}: expected `token<TAB>tag` or a lone token, found {counts[at]} "
                        "tab-separated fields")
    raise UserError(
        f"{path}:{numbers[at]}: found {counts[at]} tab-separated fields but the sentence's first line "
        f"({numbers[first[at]]}) has {counts[first[at]]}; tag every token of a sentence or none"
    )


def retrieval_row(id_: str, text: str, side: str, gold: str = "") -> Row:
    return {"id": id_, "text": text, "side": side, "gold": gold}


def _line_count(path: Path) -> int:
    return sum(1 for _ in numbered_lines(path))


@reader("aligned_text")
def read_aligned_text(path: Path, target_path: Path) -> Iterator[Row]:
    """Retrieval rows from two line-aligned files (Tatoeba: line i of `path` translates line i
    of `target_path`): source `s<i>` has gold `t<i>`. Rows come in pairs, source then target."""
    target_path = existing(Path(target_path), "aligned_text target_path")
    pairs = zip_longest(numbered_lines(path), numbered_lines(target_path))
    for index, (source, target) in enumerate(pairs):
        if source is None or target is None:
            raise UserError(
                f"{path} has {_line_count(path)} lines but {target_path} has {_line_count(target_path)}; "
                "line i of one must translate line i of the other: use the two files of one release"
            )
        yield retrieval_row(f"s{index}", source[1], "source", f"t{index}")
        yield retrieval_row(f"t{index}", target[1], "target")


