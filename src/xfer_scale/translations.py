"""Which machine translation of a task's training split translate-train trains on.

A task may have its training split machine-translated by more than one release: MNLI by the
XNLI authors (XNLI-MT 1.0) and by XTREME's authors (translate-train), which are different
translations (docs/controls.md). The task's YAML lists them under
`splits.<split>.translations.releases`, each a source per language, and names its `default`;
`intermediate.translations` picks another. This module owns that choice: the data layer, the
read plan and the identity ask it which source a language is read from, so they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xfer_scale.errors import UserError


def releases(source: Any) -> Mapping[str, Any]:
    """A split's translation releases by name (none where it has no translations)."""
    translations = source.get("translations")
    return (translations.get("releases") or {}) if translations else {}


def default(task: Any, split: str = "train") -> str | None:
    """The release of `split` read unless the task chooses another; None where it has none."""
    source = (task.get("splits") or {}).get(split)
    return source.translations.default if source is not None and releases(source) else None


def chosen(task: Any, split: str = "train") -> str | None:
    """The release of `split` that is read: `translations` where the task sets it (phase 1's
    task), else the split's default; None where the split has no translations."""
    source = (task.get("splits") or {}).get(split)
    if source is None or not releases(source):
        return None
    name = task.get("translations") or source.translations.default
    if name not in releases(source):
        raise UserError(f"{task.name} {split}: no translations {name!r}; it has: {', '.join(releases(source))}.")
    return name


def release(task: Any, split: str = "train") -> Any:
    """The chosen release of `split` (its `per_language` and `english`), or None."""
    name = chosen(task, split)
    return None if name is None else releases(task.splits[split])[name]


def per_language(task: Any, split: str) -> Mapping[str, Any]:
    """The sources replacing the split's own in one language: its `per_language`, and the
    chosen translation's."""
    found = release(task, split)
    own = task.splits[split].get("per_language") or {}
    return {**own, **(found.per_language if found is not None else {})}


def check(task: Any, languages: Sequence[str]) -> None:
    """Refuse, before any data is read, an `intermediate.translations` that chooses nothing:
    one the task has no release of, or set where phase 1 trains in English alone (no
    translation is read, so the run would be the English arm under another name)."""
    name = task.get("translations")
    if name is None:
        return
    train = (task.get("splits") or {}).get("train") or {}
    have = list(releases(train))
    if name not in have:
        raise UserError(f"intermediate.translations={name}: intermediate={task.name} has no such translations; "
                        f"choose from: {' '.join(have) or 'none (it has no translated training data)'}, "
                        "or leave it unset (null) for the task's default.")
    if set(languages) <= {"en"}:
        raise UserError(f"intermediate.translations={name} chooses the translations translate-train trains on, "
                        "and intermediate.languages=[en] trains on none; list the languages too (e.g. "
                        "intermediate.languages=[de,es]), or leave intermediate.translations unset.")
