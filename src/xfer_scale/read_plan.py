"""Which data sets each phase reads, as (task, split, language).

One list serves the pipeline (what it loads), `xfer-scale prepare` (what it fetches for
offline nodes) and the run identity (which files' fingerprints it holds), so the three never
disagree. A format says which tasks its training data comes from (a multitask: its parts).
"""

from __future__ import annotations

from omegaconf import DictConfig

from xfer_scale import config, controls, data, formats
from xfer_scale.errors import UserError

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
    """Each evaluated language's splits (`config.evaluated_splits`)."""
    target = cfg.target
    return [(target, split, language) for language in config.target_languages(cfg)
            for split in config.evaluated_splits(target, language)]


def search_reads(cfg: DictConfig) -> list[Read]:
    """The search space every language's queries rank (LAReQA's answer sentences, Mewsli-X's
    entities): loaded once a run, beside the per-language reads (`formats.SearchSpace`)."""
    target = cfg.target
    return [(target, formats.SEARCH_SPLIT, target.train_language)] if formats.SEARCH_SPLIT in target.splits else []


def data_reads(cfg: DictConfig, phase: str) -> list[Read]:
    """What `phase` loads in this run (nothing when it does not run)."""
    if phase not in cfg.phases:
        return []
    return {"intermediate": lambda: phase1_reads(cfg.intermediate), "target": lambda: target_reads(cfg),
            "zero_shot": lambda: zero_shot_reads(cfg)}[phase]()


def phase_loads(cfg: DictConfig, phase: str) -> list[Read]:
    """Everything `phase` loads: its reads and, in phase 3, the search space beside them (what
    `prepare` fetches and the start-up check covers)."""
    reads = data_reads(cfg, phase)
    return [*reads, *search_reads(cfg)] if phase == "zero_shot" and reads else reads


def _add(found: list[str], item: str) -> None:
    if item not in found:
        found.append(item)


def check_sources(cfg: DictConfig) -> None:
    """Stop at start-up, before any training, where a language phase 3 evaluates has only
    original-release files and no data.root to find them in (XTREME-R's UD-POS lt pl ro uk wo):
    otherwise the load fails only once phases 1 and 2 have trained. Only phase 3's reads are
    checked: phases 1 and 2 may come from the cache and read nothing. With data.root set,
    missing files are the fingerprinting's error (`data.local_fingerprint`), also at start-up."""
    missing: dict[str, dict[str, list[str]]] = {}  # task -> its languages, expected files, releases
    for task, split, language in phase_loads(cfg, "zero_shot"):
        for part in data.split_parts(task, split, language):
            local = part.get("local")
            if part.get("hub") is None and local is not None and data.local_base(task, local, cfg.data.root) is None:
                found = missing.setdefault(task.name, {"languages": [], "files": [], "releases": []})
                _add(found["languages"], language)
                _add(found["files"], f"DIR/{local.task_dir or task.name}/{local.path}")
                if local.get("release"):
                    _add(found["releases"], local.release)
    if not missing:
        return
    what = "; ".join(f"{name} in {' '.join(found['languages'])}: {' and '.join(found['files'])}"
                     + "".join(f" (the release: {release})" for release in found["releases"])
                     for name, found in missing.items())
    local_only = {language for found in missing.values() for language in found["languages"]}
    keep = [language for language in config.target_languages(cfg) if language not in local_only]
    restrict = (f", or evaluate only the languages with a hub source: target.languages=[{','.join(keep)}]"
                if keep else "")
    raise UserError(f"some languages this run evaluates have no hub source, only original-release files, and "
                    f"data.root is not set ({what}). Put those files in a folder DIR as shown and set "
                    f"data.root=DIR{restrict}.")
