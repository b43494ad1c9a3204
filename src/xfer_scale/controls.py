"""The paper's control conditions around phase 1 (docs/controls.md):
the intermediate task machine-translated (`intermediate.languages`, see `translate_train`) and
multilingual masked-LM text, mixed into the task's batches (`intermediate.mlm.ratio`) or alone
(`intermediate=mlm`, see `formats.mlm`).

This module decides, from `cfg.intermediate` alone, which format phase 1 trains with, and how
the controls enter a run's identity and its result columns. The pipeline, the read plan and
the identity ask it, so the three agree and none of them special-cases a control.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from omegaconf import DictConfig

from xfer_scale import formats, translate_train, translations
from xfer_scale.errors import UserError
from xfer_scale.formats import mlm


def languages(inter: DictConfig) -> tuple[str, ...]:
    """The languages phase 1 trains the task in, as a set (their order changes nothing)."""
    return tuple(sorted(set(inter.languages)))


def mlm_alone(inter: DictConfig) -> bool:
    return inter.format == mlm.NAME


def uses_mlm(inter: DictConfig) -> bool:
    return inter.name != "none" and (mlm_alone(inter) or inter.mlm.ratio != 0)


def intermediate_format(inter: DictConfig, device: torch.device | None = None) -> formats.Format:
    """The format phase 1 trains with: the task's own (in its `languages`), with MLM batches
    mixed in at `mlm.ratio`; or MLM alone. A control that cannot apply is refused here, before
    any data is read."""
    ratio = inter.mlm.ratio
    if not 0 <= ratio < 1:
        raise UserError(f"intermediate.mlm.ratio={ratio} must be in [0, 1): the share of phase-1 batches that are MLM "
                        "batches (0: none); for MLM alone use intermediate=mlm.")
    if mlm_alone(inter):
        translations.check(inter, languages(inter))
        if ratio or languages(inter) != ("en",):
            raise UserError("intermediate=mlm trains on MLM text alone: intermediate.mlm.ratio and intermediate.languages "
                            "(a task's translations) do not apply; its text's languages are intermediate.mlm.languages.")
        return formats.get(inter, device)
    if not languages(inter):
        raise UserError(f"intermediate.languages=[] trains {inter.name} in no language; list some, e.g. [en].")
    translate_train.check(inter, languages(inter))
    fmt = formats.get(inter, device)
    return mlm.MlmMix(inter, fmt, device) if ratio else fmt


def identity_settings(settings: dict[str, Any], inter: DictConfig) -> dict[str, Any]:
    """The intermediate task's identity settings with the controls as phase 1 uses them: a
    control that is off leaves the identity as it was before controls existed (English-only
    runs keep their run ids, arms and cached phase-1 models), languages count as a set, and a
    translation counts only where it is trained on (the parts of a multitask, and the task MLM
    alone is sized as, train in English), as the sources of the release trained on. The
    release's name counts where it is not the task's default: the default's runs keep the ids
    they had before there was a choice."""
    if inter.name != "none":
        translations.check(inter, languages(inter))
    out = copy.deepcopy(settings)
    if not uses_mlm(inter):
        out.pop("mlm", None)
    else:  # the MLM text has no translations: its sources as they were before splits could have some
        for split in out["mlm"]["corpus"]["splits"].values():
            if split.get("translations") is None:
                split.pop("translations", None)
    translated = inter.name != "none" and languages(inter) != ("en",)
    if translated:
        out["languages"] = list(languages(inter))
    else:
        out.pop("languages", None)
    if not (translated and inter.get("translations") and inter.translations != translations.default(inter)):
        out.pop("translations", None)
    _translations_trained_on(out, languages(inter), inter.get("translations"))
    for part in (out.get("tasks") or {}).values():
        _translations_trained_on(part, ("en",), None)
    return out


def _translations_trained_on(settings: dict[str, Any], trained: tuple[str, ...], choice: str | None) -> None:
    """A task's `train` sources per language as read in `trained`: its own `per_language` and
    the chosen release's, with how that release pairs its rows up (`english`) where it does."""
    train = (settings.get("splits") or {}).get("train") or {}
    found = train.pop("translations", None)
    release = found["releases"][choice or found["default"]] if found else {}
    per_language = {**(train.get("per_language") or {}), **(release.get("per_language") or {})}
    if per_language:
        train["per_language"] = {lang: source for lang, source in per_language.items() if lang in trained}
    if release.get("english") and train.get("per_language"):
        train["english"] = release["english"]


def result_columns(inter: DictConfig) -> dict[str, Any]:
    """The results' readable columns for the controls: the task's training languages
    (comma-joined), which translations they were read from (null for English alone: two arms
    over one language list but other translations must not read alike) and the share of
    phase-1 batches that were MLM (1 for MLM alone); null where there was no phase-1 task (the
    baseline; MLM alone has no task languages)."""
    task = inter.name != "none" and not mlm_alone(inter)
    ratio = 1.0 if mlm_alone(inter) else float(inter.mlm.ratio) if task else None
    translated = task and list(languages(inter)) != ["en"]
    return {"intermediate_languages": ",".join(languages(inter)) if task else None,
            "intermediate_translations": translations.chosen(inter) if translated else None,
            "intermediate_mlm_ratio": ratio}
