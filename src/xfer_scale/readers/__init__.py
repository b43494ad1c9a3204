"""Readers for the datasets' original release files, by the name task configs give as `reader:`.

- `registry`: the `reader` decorator, `read`, and what every reader gives (`Rows`: rows, one at
  a time or held as `TableRows`, a whole file's Arrow table);
- `generic`: the formats many datasets share (tsv, csv, jsonl, squad_json, conllu, conll_tags,
  aligned_text) and the line and table helpers the others build on;
- one module per dataset-specific format, each registering its readers where it defines them:
  `ccg` (CCGbank), `bucc` (BUCC 2018), `commonsenseqa` (its jsonl flattening), `ranking`
  (LAReQA, Mewsli-X).

Importing this package imports them all, so every reader is registered before `read` is
called. A new format is a module with `@reader("name")` functions, imported here.
"""

from xfer_scale.readers.registry import READERS, Located, Row, Rows, TableRows, read, reader

# the generic formats register first: an unknown reader's error lists the valid ones in this order
from xfer_scale.readers import generic
from xfer_scale.readers import bucc, ccg, commonsenseqa, ranking

__all__ = ["READERS", "Located", "Row", "Rows", "TableRows", "read", "reader",
           "generic", "bucc", "ccg", "commonsenseqa", "ranking"]
