"""Which data sets each phase reads, as (task, split, language).

One list serves the pipeline (what it loads), `xfer-scale prepare` (what it fetches for
offline nodes) and the run identity (which files' fingerprints it holds), so the three never
disagree. A format says which tasks its training data comes from (a multitask: its parts).
"""

from __future__ import annotations

from omegaconf import DictConfig

from xfer_scale import config, controls, formats

Read = tuple[DictConfig, str, str]


def phase1_reads(inter: DictConfig) -> list[Read]:
    """The intermediate task's training data (English, and its translations where it trains on
    them: their examples are chosen over the English rows) and the dev split that selects checkpoints."""
    if inter.name == "none":
        return []
    training_languages = sorted({"en", *controls.languages(inter)}, key=lambda lang: lang != "en")
    training = [(task, "train", language) for task in controls.intermediate_format(inter).training_tasks()
                for language in training_languages]
    return training + ([(inter, "dev", "en")] if "dev" in inter.splits else [])


def corpus_reads(inter: DictConfig) -> list[Read]:
    """The MLM text phase 1 samples, per language. Not in `data_reads`: it is never loaded
    whole, only sampled (`mlm_corpus`), so `prepare` cannot fetch it; its local files are part
    of the phase-1 identity like any data's."""
    if not controls.uses_mlm(inter):
        return []
    return [(inter.mlm.corpus, "train", language) for language in inter.mlm.languages]


def target_reads(cfg: DictConfig) -> list[Read]:
    """The target's English training and selection data, where phase 2 trains."""
    target = cfg.target
    if target.checkpoint or not formats.get(target).trains:
        return []
    return [(target, split, target.train_language) for split in ("train", "dev") if split in target.splits]


def zero_shot_reads(cfg: DictConfig) -> list[Read]:
    """Each evaluated language's splits in `target.eval_splits` order (BUCC tunes on dev what test uses)."""
    target = cfg.target
    return [(target, split, language) for language in config.target_languages(cfg) for split in target.eval_splits
            if split in target.splits and not (split == "dev" and language in target.languages_without_dev)]


def data_reads(cfg: DictConfig, phase: str) -> list[Read]:
    """What `phase` loads in this run (nothing when it does not run)."""
    if phase not in cfg.phases:
        return []
    return {"intermediate": lambda: phase1_reads(cfg.intermediate), "target": lambda: target_reads(cfg),
            "zero_shot": lambda: zero_shot_reads(cfg)}[phase]()
