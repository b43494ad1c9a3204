"""Which data sets each phase reads, as (task, split, language).

One list serves the pipeline (what it loads), `xfer-scale prepare` (what it fetches for
offline nodes) and the run identity (which files' fingerprints it holds), so the three never
disagree. A format says which tasks its training data comes from (a multitask: its parts).
"""

from __future__ import annotations

from omegaconf import DictConfig

from xfer_scale import config, formats

Read = tuple[DictConfig, str, str]


def phase1_reads(inter: DictConfig) -> list[Read]:
    """The intermediate task's English training data and the dev split that selects checkpoints."""
    if inter.name == "none":
        return []
    training = [(task, "train", "en") for task in formats.get(inter).training_tasks()]
    return training + ([(inter, "dev", "en")] if "dev" in inter.splits else [])


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
