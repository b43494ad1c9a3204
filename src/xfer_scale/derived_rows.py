"""Rows a task builds from a split's rows before any format sees them.

A task's examples are not always its files' rows: LAReQA trains (and selects checkpoints) on
SQuAD's questions, each paired with its answer's sentence, while Mewsli-X's files hold its
pairs as they are. Which rows a task trains on is a fact of the task, so its YAML says so on
the split (`rows: squad_sentence_pairs`), and the data layer builds them right after reading:
the format sees one shape whatever the task, and the features cache keeps the built rows as it
keeps any split's. A builder declares the fields it reads (`inputs`), which the split's sources
map as they would a format's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import datasets

from xfer_scale import sentence_breaks
from xfer_scale.errors import UserError
from xfer_scale.fields import TEXT, Field, squad_answers

log = logging.getLogger(__name__)

Build = Callable[[datasets.Dataset, str], datasets.Dataset]


@dataclass(frozen=True)
class RowBuilder:
    """`build(rows, task name)` -> the rows the format reads; `inputs`: the fields it reads."""

    name: str
    inputs: Mapping[str, Field]
    build: Build


_REGISTRY: dict[str, RowBuilder] = {}


def row_builder(name: str, inputs: Mapping[str, Field]) -> Callable[[Build], Build]:
    """Register the decorated function as the row builder `name` (`rows: name` on a split)."""

    def add(build: Build) -> Build:
        known = _REGISTRY.get(name)
        if known is not None and known.build is not build:
            raise ValueError(f"row builder {name!r} is registered twice")
        _REGISTRY[name] = RowBuilder(name, inputs, build)
        return build

    return add


def get(name: str, where: str) -> RowBuilder:
    if name not in _REGISTRY:
        raise UserError(f"{where}: rows={name!r} is no row builder; choose one of {', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


SQUAD_FIELDS = {"id": Field(TEXT), "context": Field(TEXT), "question": Field(TEXT),
                "answers": Field(squad_answers(unanswerable=False))}


@row_builder("squad_sentence_pairs", SQUAD_FIELDS)
def squad_sentence_pairs(examples: datasets.Dataset, task_name: str) -> datasets.Dataset:
    """(question, answer sentence + paragraph) pairs of SQuAD rows, as XTREME-R's LAReQA
    trains on them; a question whose answer starts between sentences is left out, as XTREME-R
    leaves it out."""
    queries, candidates = [], []
    for context, question, answers in zip(examples["context"], examples["question"], examples["answers"]):
        sentence = sentence_breaks.answer_sentence(context, answers["answer_start"][0])
        if sentence is not None:
            queries.append(question)
            candidates.append((sentence + context).replace("\n", ""))
    if not queries:
        raise UserError(f"{task_name}: no question has its answer inside a sentence; check the data.")
    if len(queries) < len(examples):
        log.info("%s: %d of %d questions left out: their answer starts between sentences",
                 task_name, len(examples) - len(queries), len(examples))
    return datasets.Dataset.from_dict({"query": queries, "candidate": candidates})
