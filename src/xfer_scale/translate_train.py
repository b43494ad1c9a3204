"""Translate-train: an intermediate task's training examples in several languages, the same
examples in each (`intermediate.languages`; docs/controls.md).

A translation is the task's `train` split in that language: `splits.train.per_language` in
its YAML names the release (XNLI-MT for MNLI, XTREME's translated SQuAD). The subsample is the
English arm's own (the format's draw over the English rows: same seed, same rows, nested), and
every language contributes those examples: by row where the translation is line-parallel to
the English file (XNLI-MT), by question id where translation dropped some rows (SQuAD, whose
translated questions keep their English ids). A translation that does not line up with the
English rows is refused, never silently misaligned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import datasets
import numpy as np

from xfer_scale.errors import UserError
from xfer_scale.formats.base import Amount, Format, Loader, TrainingSet


def available(task: Any) -> list[str]:
    """English and the languages the task has translated training data in."""
    train = task.get("splits", {}).get("train") or {}
    return ["en", *sorted(train.get("per_language") or {})]


def check(task: Any, languages: Sequence[str]) -> None:
    """Refuse, before any training, a language the task has no training data in."""
    have = available(task)
    missing = [lang for lang in languages if lang not in have]
    if missing:
        translated = " ".join(have[1:]) or "none"
        raise UserError(f"intermediate.languages: intermediate={task.name} has no training data in "
                        f"{', '.join(missing)} (translations: {translated}); choose from: {' '.join(have)}.")


def training_set(fmt: Format, load: Loader, amount: Amount) -> TrainingSet:
    """The format's training set in `amount.languages`: its English draw (rows `indices` of its
    task's train split) taken from every language and joined (`indices` stay the English rows;
    the set it is drawn from counts once per language). A training set that is not a draw of
    one split is the format's own business: the MLM mix translates its task's part itself."""
    english = fmt.training_set(load, amount)
    task = english.drawn_from
    if amount.languages == ("en",) or task is None:
        return english
    examples = union(task, load, load(task, "train"), english.indices, amount.languages)
    return TrainingSet(examples, english.full_size * len(amount.languages), english.indices)


def union(task: Any, load: Callable[..., datasets.Dataset], english: datasets.Dataset, chosen: list[int],
          languages: Sequence[str]) -> datasets.Dataset:
    """The examples of English rows `chosen`, in every one of `languages`, one after another
    (batches shuffle them together)."""
    parts = [english.select(chosen) if lang == "en" else _same_examples(task, english, load(task, "train", lang), chosen, lang)
             for lang in languages]
    return datasets.concatenate_datasets(parts)


def _same_examples(task: Any, english: datasets.Dataset, translated: datasets.Dataset, chosen: list[int],
                   lang: str) -> datasets.Dataset:
    where = f"{task.name} train [{lang}]"
    if "id" in english.column_names:
        position = {example_id: row for row, example_id in enumerate(translated["id"])}
        rows = [position[i] for i in english.select(chosen)["id"] if i in position]
        if chosen and not rows:
            raise UserError(f"{where}: none of the chosen English examples' ids is in the translation; it must keep "
                            "the English ids (XTREME's translate-train files do).")
        return translated.select(rows)
    if len(translated) != len(english):
        raise UserError(f"{where}: {len(translated)} rows against {len(english)} English rows; a translation "
                        "must be parallel to the English training file, row by row.")
    if "label" in english.column_names:
        differ = np.flatnonzero(np.asarray(english["label"]) != np.asarray(translated["label"]))
        if len(differ):
            raise UserError(f"{where}: row {differ[0] + 1} has another label than English row {differ[0] + 1} "
                            f"({len(differ)} rows differ); the translation is not parallel to the English file.")
    return translated.select(chosen)
