"""Language facts the report groups by: codes, English names, resource class 0-5, and how much of
the language XLM-R saw in pretraining.

The facts live in `languages.csv` beside this module, one row per language with its source, so a
researcher who disagrees with a class (they are contested) fixes one line instead of our code.
The resource class follows Joshi et al. (2020); low-resource means classes 0..2 unless the caller
says otherwise. The pretraining data is CC-100's token count (Conneau et al. 2020, Table 6): a class
lumps together languages XLM-R never saw and languages it saw hundreds of millions of tokens of.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

from xfer_scale.errors import UserError

COLUMNS = ("code", "iso3", "name", "resource_class", "cc100_tokens_m", "in_pretraining", "source")
LOW_RESOURCE_MAX_CLASS = 2
_TABLE = "languages.csv"


@dataclass(frozen=True)
class Language:
    """One row of languages.csv."""

    code: str
    iso3: str
    name: str
    resource_class: int
    cc100_tokens_m: float | None  # None: not in CC-100
    in_pretraining: bool
    source: str


def table_path() -> str:
    """Where the table is, for messages that tell the user which file to edit."""
    return str(resources.files("xfer_scale").joinpath(_TABLE))


@functools.cache
def languages() -> Mapping[str, Language]:
    """All languages by code, read once: importlib.resources so it works from an installed wheel."""
    text = resources.files("xfer_scale").joinpath(_TABLE).read_text(encoding="utf-8")
    return MappingProxyType(_parse(text))


def language(code: str) -> Language:
    """The row for `code`; an unknown code is a user error that says how to add it."""
    row = languages().get(_normalise(code))
    if row is None:
        raise UserError(_unknown_code_message(code))
    return row


def resource_class(code: str) -> int:
    """Joshi et al. (2020) class, 0 (left behind) to 5 (winners)."""
    return language(code).resource_class


def is_low_resource(code: str, threshold: int = LOW_RESOURCE_MAX_CLASS) -> bool:
    """Classes 0..threshold are low-resource; the threshold is a choice the report states."""
    if not 0 <= threshold <= 5:
        raise UserError(f"low-resource threshold {threshold} is outside the classes 0-5: pick 0..5 (default 2).")
    return resource_class(code) <= threshold


def cc100_tokens_m(code: str) -> float | None:
    """Millions of CC-100 tokens XLM-R was pretrained on; None for a language CC-100 lacks."""
    return language(code).cc100_tokens_m


def name(code: str) -> str:
    """English name, equal to XTREME's udpos config suffix (udpos.<name>) where udpos has the language."""
    return language(code).name


def _normalise(code: str) -> str:
    return code.strip().lower()


def _unknown_code_message(code: str) -> str:
    """Name the problem, suggest the likely mix-up (a 3-letter code), and say how to add a row."""
    hint = ""
    wanted = _normalise(code)
    for row in languages().values():
        if row.iso3 == wanted:
            hint = f" {code!r} is the 3-letter code of {row.name}: use {row.code!r}."
    known = " ".join(sorted(languages()))
    return (
        f"unknown language code {code!r}.{hint} Known codes: {known}. "
        f"To add a language, append a row `{','.join(COLUMNS)}` to {table_path()} "
        "with its class from Joshi et al. (2020)'s lang2tax table, its CC-100 tokens from Table 6 of "
        "Conneau et al. (2020) (empty if CC-100 lacks it), and where you took them from."
    )


def _parse(text: str) -> dict[str, Language]:
    """Rows by code; a malformed row names its line, since users are invited to edit the file."""
    lines = enumerate(text.splitlines(), start=1)
    numbered = [(n, line) for n, line in lines if line.strip() and not line.startswith("#")]
    if not numbered or tuple(next(csv.reader([numbered[0][1]]))) != COLUMNS:
        raise UserError(f"{_TABLE}: the first row that is not a comment must be the header {','.join(COLUMNS)}.")
    rows: dict[str, Language] = {}
    for line_no, line in numbered[1:]:
        row = _parse_row(next(csv.reader([line])), line_no)
        if row.code in rows:
            raise UserError(f"{_TABLE} line {line_no}: code {row.code!r} appears twice; keep one row per language.")
        rows[row.code] = row
    return rows


def _parse_row(fields: list[str], line_no: int) -> Language:
    if len(fields) != len(COLUMNS):
        raise UserError(
            f"{_TABLE} line {line_no}: {len(fields)} fields, expected {len(COLUMNS)} ({','.join(COLUMNS)}); "
            "quote a source that contains commas."
        )
    code, iso3, english_name, klass, tokens, seen, source = (field.strip() for field in fields)
    if klass not in {"0", "1", "2", "3", "4", "5"}:
        raise UserError(f"{_TABLE} line {line_no}: resource_class {klass!r} must be an integer 0-5.")
    if not source:
        raise UserError(f"{_TABLE} line {line_no}: `source` is empty; say where the class comes from.")
    return Language(code.lower(), iso3.lower(), english_name, int(klass), *_pretraining(tokens, seen, line_no), source)


def _pretraining(tokens: str, seen: str, line_no: int) -> tuple[float | None, bool]:
    """(cc100_tokens_m, in_pretraining): the two must agree, since a language is in XLM-R's
    pretraining exactly when CC-100 has tokens of it; a row where they do not is a typo."""
    if seen not in {"true", "false"}:
        raise UserError(f"{_TABLE} line {line_no}: in_pretraining {seen!r} must be true or false.")
    try:
        count = float(tokens) if tokens else None
    except ValueError:
        raise UserError(
            f"{_TABLE} line {line_no}: cc100_tokens_m {tokens!r} is not a number (millions of tokens)."
        ) from None
    if count is not None and count <= 0:
        raise UserError(
            f"{_TABLE} line {line_no}: cc100_tokens_m {tokens} must be above 0; leave it empty if CC-100 lacks the language."
        )
    if (count is not None) != (seen == "true"):
        raise UserError(
            f"{_TABLE} line {line_no}: in_pretraining is {seen} but cc100_tokens_m is {tokens or 'empty'}: "
            "a language is in XLM-R's pretraining exactly when CC-100 has tokens of it."
        )
    return count, seen == "true"
