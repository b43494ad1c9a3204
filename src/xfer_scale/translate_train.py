"""Translate-train: an intermediate task's training examples in several languages, the same
examples in each (`intermediate.languages`; docs/controls.md).

A translation is the task's `train` split in that language, read from the release
`intermediate.translations` chooses among those its YAML lists (`xfer_scale.translations`:
XNLI-MT or XTREME's for MNLI, XTREME's for SQuAD). The subsample is the English arm's own (the
format's draw over the English rows: same seed, same rows, nested), and every language
contributes those examples: by row where the translation is line-parallel to the English file
(XNLI-MT), by question id where translation dropped some rows (SQuAD, whose translated
questions keep their English ids), and by the English text a row translates where the release
is in another order and says which columns hold that text (XTREME's MNLI). A translation that
does not line up with the English rows is refused, never silently misaligned or cut.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import datasets
import numpy as np
from omegaconf import open_dict

from xfer_scale import translations
from xfer_scale.errors import UserError
from xfer_scale.formats.base import Amount, Format, Loader, TrainingSet


def available(task: Any) -> list[str]:
    """English and the languages the task has translated training data in (the chosen release's)."""
    if "train" not in (task.get("splits") or {}):
        return ["en"]
    return ["en", *sorted(translations.per_language(task, "train"))]


def check(task: Any, languages: Sequence[str]) -> None:
    """Refuse, before any training, a language the task has no training data in, and a choice
    of translations that chooses nothing (`translations.check`)."""
    translations.check(task, languages)
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
    parts = [english.select(chosen) if lang == "en" else _same_examples(task, english, load, chosen, lang)
             for lang in languages]
    return datasets.concatenate_datasets(parts)


def _same_examples(task: Any, english: datasets.Dataset, load: Callable[..., datasets.Dataset], chosen: list[int],
                   lang: str) -> datasets.Dataset:
    where = f"{task.name} train [{lang}]"
    translated = load(task, "train", lang)
    release = translations.release(task)
    if release is not None and release.get("english"):
        return _by_english_text(where, english.select(chosen), translated, load(_english_side(task, lang), "train", lang))
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


def _english_side(task: Any, lang: str) -> Any:
    """The task with the chosen release's `lang` source reading the English text its rows
    translate (the release's `english` columns) in place of the translation: the same file,
    reader and filters, so its rows are the translation's, one for one."""
    name = translations.chosen(task)
    side = copy.deepcopy(task)
    release = side.splits.train.translations.releases[name]
    for part in ("hub", "local"):
        source = release.per_language[lang].get(part)
        if source is not None:
            with open_dict(source):
                source.fields = {**source.fields, **release.english}
    return side


def _normalised(text: str) -> str:
    """A text's letters without its spacing (NFC, whitespace removed): a release's copy of the
    English text may be tokenized unlike the English file (XNLI-MT's English has
    "geography ." where GLUE's MNLI has "geography."), which moves spaces and nothing else."""
    return "".join(unicodedata.normalize("NFC", text).split())


def _keys(rows: datasets.Dataset, columns: Sequence[str]) -> list[tuple[str, ...]]:
    """Each row's texts in `columns`, normalised: what pairs it up."""
    return list(zip(*([_normalised(text) for text in rows[column]] for column in columns), strict=True))


def _by_english_text(where: str, english: datasets.Dataset, translated: datasets.Dataset,
                     originals: datasets.Dataset) -> datasets.Dataset:
    """The translated rows of the `english` rows, found by the English text each translated row
    carries (`originals`, row for row with `translated`), a pair's texts compared without their
    spacing. Of rows with the same English text, one with the English row's label is taken. An
    English row no translated row matches, or matches only under another label, is refused with
    the count and the first such row: never left out or given another's translation."""
    if len(originals) != len(translated):
        raise UserError(f"{where}: the English text of the translation has {len(originals)} rows against "
                        f"{len(translated)} translated rows; they must be read from the same rows.")
    columns = [column for column in english.column_names if column != "label" and column in originals.column_names]
    found: dict[tuple[str, ...], list[int]] = {}
    for row, key in enumerate(_keys(originals, columns)):
        found.setdefault(key, []).append(row)
    labels = translated["label"]
    rows, unmatched, mislabelled = [], [], []
    for number, (key, label) in enumerate(zip(_keys(english, columns), english["label"], strict=True)):
        candidates = found.get(key, [])
        same = [candidate for candidate in candidates if labels[candidate] == label]
        if same:
            rows.append(same[0])
        else:
            (mislabelled if candidates else unmatched).append(number)
    if unmatched:
        first = english[unmatched[0]]
        raise UserError(f"{where}: {len(unmatched)} of the {len(english)} chosen English rows have no translated row "
                        f"with the same English text (compared without spacing); the first: "
                        f"{' / '.join(first[column] for column in columns)}. The translation does not cover the "
                        "English training file: use the files of one release of each, or other translations.")
    if mislabelled:
        first = english[mislabelled[0]]
        raise UserError(f"{where}: {len(mislabelled)} of the {len(english)} chosen English rows are translated under "
                        f"another label; the first: {' / '.join(first[column] for column in columns)}. The "
                        "translation is not of this English training file.")
    return translated.select(rows)
