"""Which data a run's numbers come from, for run.json's `data` and the results' `data_revisions`.

A run id pins a hub dataset by the revision its task YAML asks for, and most ask for none: the
hub's `main` of the day. The numbers can then change with the data while the run id does not,
so the run records, per task and split, each hub dataset with the revision it asked for and the
commit that revision resolved to, and each local file by name, size and content hash (the
hashes the run id already holds, `data.local_fingerprint`). Bookkeeping only: nothing here
enters the run id (`identity`), which stays what it was.

The commit is read from huggingface_hub's cache, offline and at no cost: `datasets.load_dataset`
pins a load to one commit by fetching the dataset card at the asked revision, which records the
revision's commit in the cache (`<HF_HUB_CACHE>/datasets--<org>--<name>/refs/<revision>`, the
cache layout huggingface_hub documents; a card the branch lacks, as on `refs/convert/parquet`,
records it too). Where the cache holds no such record (a load that never reached the hub, or
another cache folder), `resolved` is None and the requested revision is all that is known; a
revision that is already a commit is its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name
from omegaconf import DictConfig

from xfer_scale import data, file_hashes, read_plan

#: what a hub source is recorded by, where set, beside its revision: what picks its rows (`fields`
#: and `filter` are the task's reading of them, in config.yaml)
HUB_KEYS = ("path", "name", "data_dir", "data_files", "split")
_COMMIT = re.compile(r"[0-9a-f]{40}")
#: the results column, and the token it has for a run that read no hub dataset
COLUMN = "data_revisions"
LOCAL_ONLY = "local"
SHORT = 12  # hex digits of a commit in `data_revisions`, as `git log --abbrev=12` shows them


def resolved_commit(path: str, revision: str | None, cache: Path | None = None) -> str | None:
    """The commit `revision` (None: `main`) of hub dataset `path` resolved to when it was loaded,
    from the hub cache (`cache`, default huggingface_hub's); None where the cache does not say."""
    asked = revision or "main"
    if _COMMIT.fullmatch(asked):
        return asked
    ref = Path(cache or constants.HF_HUB_CACHE) / repo_folder_name(repo_id=path, repo_type="dataset") / "refs" / asked
    try:
        found = ref.read_text().strip()
    except OSError:
        return None
    return found if _COMMIT.fullmatch(found) else None


def hub_source(hub: Any, cache: Path | None = None) -> dict[str, Any]:
    """A hub source as recorded: what it asks for (its config name with `{lang}` unfilled: the
    entry lists the languages) and the commit it resolved to."""
    asked = {key: data.plain(hub.get(key)) for key in HUB_KEYS if hub.get(key) is not None}
    return {**asked, "revision": hub.get("revision"), "resolved": resolved_commit(hub.path, hub.get("revision"), cache)}


def run_reads(cfg: DictConfig) -> list[read_plan.Read]:
    """Every (task, split, language) behind the run's numbers: the reads its run id fingerprints."""
    return [*read_plan.phase1_reads(cfg.intermediate), *read_plan.corpus_reads(cfg.intermediate),
            *read_plan.target_reads(cfg), *read_plan.zero_shot_reads(cfg), *read_plan.search_reads(cfg)]


def data_record(cfg: DictConfig, cache: Path | None = None) -> list[dict[str, Any]]:
    """run.json's `data`: per task and split, the languages that read the same sources, the hub
    sources (`hub_source`) and the local files (`[name, size, sha256]`). A part is read from
    local files where the task finds a folder for it (`data.local_base`), else from the hub, as
    `data.load_split` chooses."""
    hashes = file_hashes.folder(cfg.cache.dir)
    entries: dict[str, dict[str, Any]] = {}
    for task, split, language in run_reads(cfg):
        parts = data.split_parts(task, split, language)
        hub = [hub_source(part.hub, cache) for part in parts if _from_hub(task, part, cfg.data.root)]
        files = data.local_fingerprint(task, split, language, cfg.data.root, hashes)
        key = json.dumps([task.name, split, hub, files], sort_keys=True, default=str)
        entry = entries.setdefault(key, {"task": task.name, "split": split, "languages": [], "hub": hub,
                                         "files": files})
        if language not in entry["languages"]:
            entry["languages"].append(language)
    return list(entries.values())


def _from_hub(task: Any, part: Any, data_root: str | None) -> bool:
    """Whether a split's part is read from the hub: it has a hub source and no local folder."""
    return part.get("hub") is not None and data.part_base(task, part, data_root) is None


def revisions(record: list[dict[str, Any]]) -> str:
    """The results' compact `data_revisions`: each hub dataset read, once, as `path@commit`
    (the commit's first 12 hex digits; `path@<revision>?` where the commit is not known),
    space-separated and sorted; `local` for a run that read local files only (their hashes are
    in the run id and in run.json's `data`)."""
    tokens = {f"{hub['path']}@{hub['resolved'][:SHORT] if hub['resolved'] else (hub['revision'] or 'main') + '?'}"
              for entry in record for hub in entry["hub"]}
    return " ".join(sorted(tokens)) or LOCAL_ONLY
