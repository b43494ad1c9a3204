"""The fields a format declares, and the kinds of value they hold.

A format names the canonical fields of its rows (`Format.fields`: name -> `Field`), and a
task's sources map their own columns to those names (`fields:` in its YAML). The data layer
checks each mapping against the declaration and each value against its field's kind as rows
are read, and knows nothing else of a format: a missing field or a value of the wrong type
stops the load with the task's name or the row's `file:line`, instead of surfacing as a
KeyError inside `encode`.

Labels are the kind that needs more than the value: a class, or each of a sequence of classes,
is stored as its index into the label names (`LabelIndex`). A task with `labels_from_data`
learns its names as rows are read (`Labels`); they travel with the examples, as the label
columns' `datasets.ClassLabel` features, and never into the task config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from xfer_scale.errors import UserError


class BadValue(Exception):
    """A value its field's kind does not take; the data layer says which row holds it."""


@dataclass(frozen=True)
class Kind:
    """How one kind of value is checked and stored."""

    name: str
    #: the value as stored, checked (BadValue says what is wrong); a label as it is, for `LabelIndex`
    convert: Callable[[Any], Any]
    #: the Arrow type of a column whose values are stored as they are: such a column is read
    #: whole, with no Python per row
    stored: pa.DataType | None = None
    #: values are labels, stored as indices into the label names
    labelled: bool = False
    #: a value is a list of them (a label per token)
    sequence: bool = False
    #: what a training row's value must be besides, given the whole row (a training answer
    #: must lie in its context); None: nothing
    training_check: Callable[[Any, Mapping[str, Any]], None] | None = None


def _shown(value: Any) -> str:
    return f"{value!r:.60} ({type(value).__name__})"


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"expected a text, found {_shown(value)}")
    return value


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadValue(f"expected a list of texts, found {_shown(value)}")
    return value


def _number(value: Any) -> float:
    """A number, or a text that reads as one (a TSV file's columns are texts)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, str, np.integer, np.floating)):
        raise BadValue(f"expected a number, found {_shown(value)}")
    try:
        return float(value)
    except ValueError:
        raise BadValue(f"expected a number, found {_shown(value)}") from None


def _label(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise BadValue(f"expected one label, found {_shown(value)}")
    return value


def _labels(value: Any) -> list[Any]:
    if not isinstance(value, list) or any(isinstance(item, (list, dict)) for item in value):
        raise BadValue(f"expected a list of labels, found {_shown(value)}")
    return value


def _answers(value: Any) -> dict[str, list]:
    """SQuAD's answers: `{text: [...], answer_start: [...]}`, one start per text."""
    if (not isinstance(value, Mapping) or not isinstance(value.get("text"), list)
            or not isinstance(value.get("answer_start"), list) or len(value["text"]) != len(value["answer_start"])
            or not all(isinstance(text, str) for text in value["text"])
            or not all(isinstance(start, int) and not isinstance(start, bool) for start in value["answer_start"])):
        raise BadValue(f"expected answers {{text: [texts], answer_start: [as many character offsets]}}, "
                       f"found {_shown(value)}")
    return dict(value)


TEXT = Kind("text", _text, pa.string())
TEXTS = Kind("texts", _texts, pa.list_(pa.string()))
#: a label, stored as its index into the label names
CLASS = Kind("class", _label, labelled=True)
#: a label per token (tags)
CLASS_SEQUENCE = Kind("class_sequence", _labels, labelled=True, sequence=True)
#: a real number (a regression target)
NUMBER = Kind("number", _number, pa.float64())


def squad_answers(unanswerable: bool, context: str = "context") -> Kind:
    """SQuAD's answers, character offsets into the field `context`. A training question's
    first answer is the span it is trained on (as in XTREME and run_qa): it must be there,
    unless the task has `unanswerable` questions (SQuAD v2), and be at its offset in the
    context. SQuAD v1.1's training answers all are; a wrong offset (bytes counted instead of
    characters, an edited context) would train on another span unseen, and XTREME's loader
    would drop the question with a warning. Evaluation scores answer texts only, so other
    answers and other splits go unchecked."""

    def check(value: dict[str, list], row: Mapping[str, Any]) -> None:
        question, text_of = row.get("id"), row[context]
        if not value["text"]:
            if not unanswerable:
                raise BadValue(f"training question {question!r} has no answer, and the task has no unanswerable "
                               "questions (format_options.unanswerable: false); give it its answer, or remove it.")
            return
        text, start = value["text"][0], value["answer_start"][0]
        if start < 0 or start + len(text) > len(text_of):
            raise BadValue(f"question {question!r}: answer {text!r} at answer_start {start} lies outside its "
                           f"{len(text_of)}-character {context}; answer_start must count characters of the {context}.")
        found = text_of[start:start + len(text)]
        if found != text:
            raise BadValue(f"question {question!r}: answer {text!r} is not at answer_start {start} of its {context} "
                           f"(found {found!r}); answer_start must count characters of the {context}.")

    return Kind("answers", _answers, training_check=check)


@dataclass(frozen=True)
class Field:
    """One canonical field of a format's rows."""

    kind: Kind
    #: every source of a task must map it (an optional one: some do, as a pair's second text)
    required: bool = True
    #: nested subsamples and the dev rows that select checkpoints keep this field's classes in
    #: proportion (at most one field of a format)
    stratifies: bool = False


def stratum(declared: Mapping[str, Field]) -> str | None:
    """The field that stratifies subsamples, or None."""
    return next((name for name, field in declared.items() if field.stratifies), None)


def check_mapping(declared: Mapping[str, Field], mapped: Iterable[str], owner: str, where: str) -> None:
    """Refuse a source (`where`: the task and split it is of) whose `fields` lack a required
    field of the format, or name a field it does not declare: the format would fail far from the
    config (a KeyError in `encode`), or never read the column."""
    mapped = list(mapped)
    unknown = [name for name in mapped if name not in declared]
    missing = [name for name, field in declared.items() if field.required and name not in mapped]
    if not unknown and not missing:
        return
    fields = ", ".join(f"{name} ({field.kind.name}{'' if field.required else ', optional'})"
                       for name, field in declared.items()) or "none"
    problem = (f"maps {', '.join(unknown)}, which {owner} does not declare" if unknown
               else f"does not map {', '.join(missing)}, which {owner} needs")
    raise UserError(f"{where}: the source's `fields` {problem} (its fields: {fields}); map the format's field "
                    "names to the source's columns in the task's YAML.")


class Labels:
    """The label names of one split as it is read: those given (the task's, or those learnt on
    its training split), and with `grow` (`labels_from_data`) every label first seen in it,
    appended in row order. Every source of the split shares it, so they share one index; a
    label first seen outside the training data gets an index the head never learns, and so
    counts as an error, as it should."""

    def __init__(self, names: Sequence[str], grow: bool):
        self.names = list(names)
        self.grow = grow


class LabelIndex:
    """One source's labels to indices into `labels.names`: through the source's own spelling
    where it has one (`label_values[i]` means name i), a label in `skip` to None (its row is
    left out)."""

    def __init__(self, labels: Labels, values: Sequence[Any] | None, skip: Iterable[Any]):
        self.labels = labels
        self.index = {str(v): i for i, v in enumerate(values if values is not None else labels.names)}
        self.skip = set(map(str, skip))

    def __call__(self, raw: Any) -> int | None:
        key = str(raw)
        if key in self.skip:
            return None
        if key not in self.index and self.labels.grow:
            self.index[key] = len(self.labels.names)
            self.labels.names.append(key)
        if key not in self.index:
            raise BadValue(f"label {raw!r} is not one of {', '.join(self.index)}; "
                           "fix the file, or list it in the task config's `skip_labels` / `label_values`.")
        return self.index[key]
