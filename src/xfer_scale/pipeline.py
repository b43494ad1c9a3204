"""One experiment: intermediate training, target training, zero-shot evaluation, tables.

    phase 1  intermediate  English intermediate task, subsampled -> encoder (cached by key)
    phase 2  target        fresh head of the target's format, English training data
    phase 3  zero_shot     every language of the target, no target-language training

Phase 1's output is cached under its scientific identity (`identity`, `phase_cache`), so a
sweep over targets of the same intermediate setting trains it once. What each phase does
with its task is the task's format's business (`formats`): which data it trains on, the
model it builds, its loss and its predictions.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import broadcast_object_list, set_seed
from omegaconf import DictConfig, OmegaConf
from transformers.utils import logging as hf_logging

from xfer_scale import (checkpoint, config, controls, data, data_sources, evaluation, feature_cache, formats, identity,
                        modeling, phase_cache, read_plan, results, run_folder, sharding, steps, submission,
                        task_checks, training, translate_train)
from xfer_scale.atomic import atomic_dir, inventory, write_text
from xfer_scale.errors import UserError
from xfer_scale.status.heartbeat import Heartbeat

log = logging.getLogger(__name__)
TARGET_MODEL = "target_model"
#: the results' columns that say which intermediate training the evaluated model had
TRAINED_BY_COLUMNS = ("intermediate_task", "intermediate_fraction", "intermediate_examples", "intermediate_steps",
                      "series", "intermediate_budget", "intermediate_subsample_seed", "intermediate_languages",
                      "intermediate_translations", "intermediate_mlm_ratio")
DEV_SELECTION_FILE = "dev_selection.json"  # the English dev rows that selected phase 2's checkpoint


@dataclass
class Encoder:
    """Where phase 2 starts from, and what phase 1 put into it."""

    path: str
    examples: int = 0
    fraction: float = 0.0
    steps: int = 0


def make_accelerator(cfg: DictConfig, run_dir: Path) -> Accelerator:
    torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 parts of bf16 training, on Ampere and later
    torch.backends.cudnn.allow_tf32 = True
    tracking = None if cfg.tracking == "none" else cfg.tracking
    if tracking and importlib.util.find_spec(tracking) is None:  # accelerate would skip it without a word
        raise UserError(f"tracking={tracking} needs the {tracking} package: pip install {tracking}, "
                        "or use tracking=none.")
    accelerator = Accelerator(cpu=cfg.cpu, mixed_precision=config.precision(cfg), log_with=tracking,
                              project_dir=str(run_dir))
    if tracking:
        accelerator.init_trackers(cfg.name, config=_flat(cfg))
    return accelerator


def _flat(cfg: DictConfig) -> dict[str, Any]:
    """Scalar hyper-parameters for trackers, which take no nested values."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif isinstance(node, (int, float, str, bool)):
            out[prefix[:-1]] = node

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return {k: v for k, v in out.items() if ".splits." not in k}


def _phase_row(run_id: str, phase: str, cache_hit: bool, wall_s: float, stats: training.TrainStats | None,
               examples: int, selection: dict[str, Any] | None = None, saved: Path | None = None) -> dict[str, Any]:
    """A row of phases.parquet; a cached phase brings the `selection` its training recorded.
    `bytes_written`: the phase's checkpoints and the model it `saved` (on a shared file system,
    what a sweep costs it)."""
    if stats is not None:
        selection = {"best_step": stats.best_step, "history": stats.history}
    selection = selection or {"best_step": 0, "history": []}
    return {
        "run_id": run_id, "phase": phase, "cache_hit": cache_hit, "wall_s": wall_s,
        "examples": examples, "steps": stats.steps if stats else 0, "tokens": stats.tokens if stats else 0,
        "padding_fraction": stats.padding_fraction if stats else 0.0,
        "best_step": selection["best_step"], "dev_history": json.dumps(selection["history"]),
        "bytes_written": (stats.checkpoint_bytes if stats else 0)
        + (sum(file["size"] for file in inventory(saved, hashed=False).values()) if saved else 0),
    }


def _revision(cfg: DictConfig, path: str) -> str | None:
    """`model.revision` pins the hub model, not our own saved phase outputs."""
    return cfg.model.revision if path == cfg.model.path else None


def _dev_for_selection(cfg: DictConfig, task: DictConfig, fmt: formats.Format, tokenizer: Any, tokenizer_key: str | None,
                       language: str) -> tuple[tuple[datasets.Dataset, datasets.Dataset] | None, dict[str, Any]]:
    """The English dev subset that picks the best checkpoint (500 examples in the paper), and
    which rows it holds. A seeded sample, stratified as the format declares (by label, where
    there are labels): the first rows of a file are no sample (a UD release's first English
    treebank is airline queries). Its labels index the format's label names (those its
    training data taught it)."""
    if "dev" not in task.splits:
        return None, {}
    full = feature_cache.load_split(cfg, task, "dev", language, fmt.label_names)
    size = min(task.train.eval_examples or len(full.dataset), len(full.dataset))
    chosen = sorted(data.subsample_order(data.strata(full.dataset, task), len(full.dataset), cfg.seed)[:size].tolist())
    examples = full.select(chosen)
    record = {"task": task.name, "split": "dev", "language": language, "seed": cfg.seed, "indices": chosen}
    features = feature_cache.encode(fmt, examples, tokenizer, task.train.max_length, tokenizer_key)
    return (examples.dataset, features), record


def _train_phase(cfg: DictConfig, phase: str, fmt: formats.Format, train_cfg: DictConfig,
                 examples: feature_cache.Examples, start_from: str, tokenizer: Any, tokenizer_key: str | None,
                 accelerator: Accelerator, language: str, checkpoints: training.Checkpoints,
                 beat: Heartbeat) -> tuple[torch.nn.Module, training.TrainStats, dict[str, Any], dict[str, Any] | None]:
    """The trained model, the loop's record, the dev rows that selected its checkpoint, and,
    where FSDP sharded the model, its whole state dict on the main process (`sharding`; every
    process gathers it), which the phase saves: None unsharded."""
    task = fmt.task
    log.info("%s: %s, %d English training examples, from %s", phase, task.name, len(examples.dataset), start_from)
    features = feature_cache.encode(fmt, examples, tokenizer, task.train.max_length, tokenizer_key)
    set_seed(cfg.seed)  # the new head's initial weights belong to the seeded run
    model = modeling.load(start_from, fmt, with_head=False, revision=_revision(cfg, start_from),
                          attention=cfg.model.attention)
    dev, dev_rows = _dev_for_selection(cfg, task, fmt, tokenizer, tokenizer_key, language)
    stats = training.train(
        phase=phase, model=model, fmt=fmt, features=features, dev=dev, cfg=train_cfg,
        accelerator=accelerator, seed=cfg.seed, pad_token_id=tokenizer.pad_token_id, checkpoints=checkpoints,
        num_workers=cfg.data.num_workers, eval_batch_size=evaluation.EvalBatching.of(cfg.eval),
        log_every_steps=cfg.log_every_steps, heartbeat=beat.of(phase),
        compile_bucket=cfg.model.compile_bucket if cfg.model.compile else None,
    )
    model = accelerator.unwrap_model(model)
    return model, stats, dev_rows, sharding.full_state(model, True) if sharding.sharded(accelerator) else None


def budgeted(inter: DictConfig, full_size: int, processes: int = 1) -> DictConfig:
    """Phase-1 training settings under the budget policy (see config.BUDGETS)."""
    train = inter.train
    if inter.budget == "epochs" or train.max_steps is not None:
        return train
    return OmegaConf.merge(train, {"max_steps": steps.full_data_max_steps(train, full_size, processes)})


def intermediate_phase(cfg: DictConfig, model_path: str, tokenizer: Any, tokenizer_key: str | None,
                       accelerator: Accelerator, run_id: str, phase_rows: list[dict[str, Any]],
                       beat: Heartbeat) -> Encoder:
    """Phase 1, or its cached result. Returns the encoder phase 2 starts from."""
    inter = cfg.intermediate
    if inter.name == "none":
        return Encoder(model_path)
    entry = phase_cache.entry_path(cfg, accelerator.num_processes)
    beat("intermediate")
    start = time.perf_counter()
    with phase_cache.claim(entry, accelerator) as meta:
        if meta is not None:
            log.info("intermediate: reusing cached %s (%d examples)", entry, meta["examples"])
            phase_rows.append(_phase_row(run_id, "intermediate", True, time.perf_counter() - start, None,
                                         meta["examples"], meta["selection"]))
            return Encoder(str(entry), meta["examples"], meta["fraction"], meta["steps"])
        if "intermediate" not in cfg.phases:
            raise UserError(
                f"phases={list(cfg.phases)} skips phase 1, but no cached phase-1 model exists at {entry}; "
                "add `intermediate` to phases, or use intermediate=none."
            )
        fmt = controls.intermediate_format(inter, accelerator.device)
        subsample_seed = config.subsample_seed(cfg)
        load = feature_cache.loader(cfg, "en")
        training_set = translate_train.training_set(fmt, load, formats.Amount(
            inter.fraction, inter.examples, subsample_seed, controls.languages(inter)))
        examples, full_size = training_set.examples, training_set.full_size
        fmt = fmt.trained_on(examples)
        checkpoints = training.Checkpoints(phase_cache.checkpoint_dir(entry), entry.name)
        model, stats, dev_rows, state = _train_phase(cfg, "intermediate", fmt,
                                                      budgeted(inter, full_size, accelerator.num_processes),
                                                      feature_cache.training_examples(load, training_set), model_path,
                                                      tokenizer, tokenizer_key, accelerator, "en", checkpoints, beat)
        if accelerator.is_main_process:
            phase_cache.write(
                entry, lambda folder: modeling.save(model, tokenizer, folder, fmt, with_head=False, identity=entry.name,
                                                    state=state),
                meta={"examples": len(examples), "fraction": len(examples) / full_size, "steps": stats.steps,
                      "best_dev": stats.best_score,
                      "selection": {"best_step": stats.best_step, "history": stats.history},
                      "identity": identity.phase1_identity(cfg, accelerator.num_processes)},
                subsample={"task": inter.name, "of": full_size, "seed": subsample_seed,
                           "indices": training_set.indices, "dev_selection": dev_rows})
            checkpoint.remove(checkpoints.directory)
        accelerator.wait_for_everyone()
    phase_rows.append(_phase_row(run_id, "intermediate", False, time.perf_counter() - start, stats, len(examples),
                                 saved=entry if accelerator.is_main_process else None))
    return Encoder(str(entry), len(examples), len(examples) / full_size, stats.steps)


def _reusable_target_model(saved: Path, run_id: str) -> bool:
    """Whether an earlier attempt of this very run finished phase 2 into `saved`; another
    configuration's model there is refused, never adopted."""
    manifest = modeling.read_manifest(str(saved))
    if manifest is None:
        return False
    if manifest.get("identity") != run_id:
        raise UserError(
            f"{saved} holds a model another configuration trained (run {manifest.get('identity')}, this is run "
            f"{run_id}); choose another hydra.run.dir (or hydra.sweep.dir), or move that folder away."
        )
    return True


def trained_by(cfg: DictConfig, encoder: Encoder, keys: identity.RunKeys) -> dict[str, Any]:
    """What this run's intermediate training was, in the results' columns: a target model it
    saves carries it, so that a run evaluating that model reports the training it had."""
    inter = cfg.intermediate
    return {"run_id": keys.run_id, "intermediate_task": inter.name, "intermediate_fraction": encoder.fraction,
            "intermediate_examples": encoder.examples, "intermediate_steps": encoder.steps, "series": keys.series,
            "intermediate_budget": inter.budget, "intermediate_subsample_seed": config.subsample_seed(cfg),
            **controls.result_columns(inter)}


def _checkpoint_trained_by(checkpoint: str) -> dict[str, Any]:
    """The intermediate training a saved target model had: its manifest's record, or, for a
    model saved before models recorded it, the results of the run folder it was saved in."""
    manifest = modeling.read_manifest(checkpoint) or {}
    if "trained_by" in manifest:
        return manifest["trained_by"]
    table = Path(checkpoint).parent / results.RESULTS_FILE
    if run_folder.results_damage(table.parent) is None:
        row = pd.read_parquet(table).iloc[0]
        return {"run_id": row["run_id"], **{column: row[column] for column in TRAINED_BY_COLUMNS if column in row}}
    raise UserError(f"target.checkpoint={checkpoint} does not record which run trained it (its model.json has no "
                    f"trained_by, and {table} is not there), so its rows could not say which intermediate training "
                    "they measure; give a target_model/ folder of a finished run.")


def target_phase(cfg: DictConfig, encoder: Encoder, tokenizer: Any, tokenizer_key: str | None,
                 accelerator: Accelerator, run_dir: Path, run_id: str, phase_rows: list[dict[str, Any]],
                 beat: Heartbeat, own: dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Phase 2: the model phase 3 evaluates (a trained checkpoint, or the encoder as it is), and
    the intermediate training it had (`own`, this run's, unless it is a given checkpoint)."""
    target = cfg.target
    fmt = formats.get(target, accelerator.device)
    if target.checkpoint:
        log.info("target: evaluating the given checkpoint %s", target.checkpoint)
        return (modeling.load(target.checkpoint, fmt, with_head=fmt.trains, attention=cfg.model.attention),
                _checkpoint_trained_by(target.checkpoint))
    if not fmt.trains:  # a retrieval task embeds with the encoder; nothing to train
        return modeling.load(encoder.path, fmt, with_head=False, revision=_revision(cfg, encoder.path),
                             attention=cfg.model.attention), own
    beat("target")
    start = time.perf_counter()
    saved = run_dir / TARGET_MODEL
    if _reusable_target_model(saved, run_id):
        log.info("target: reusing the model an earlier attempt of this run trained, %s", saved)
        phase_rows.append(_phase_row(run_id, "target", True, time.perf_counter() - start, None, 0))
        return modeling.load(str(saved), fmt, with_head=True, attention=cfg.model.attention), own
    load = feature_cache.loader(cfg, target.train_language)
    examples = feature_cache.training_examples(load, fmt.training_set(load, None))
    fmt = fmt.trained_on(examples.dataset)
    checkpoints = training.Checkpoints(run_dir / "checkpoints" / "target", run_id)
    model, stats, dev_rows, state = _train_phase(cfg, "target", fmt, target.train, examples, encoder.path, tokenizer,
                                                  tokenizer_key, accelerator, target.train_language, checkpoints, beat)
    if accelerator.is_main_process:
        with atomic_dir(saved) as tmp:
            modeling.save(model, tokenizer, tmp, fmt, with_head=True, identity=run_id, trained_by=own, state=state)
            write_text(tmp / DEV_SELECTION_FILE, json.dumps(dev_rows) + "\n")
        checkpoint.remove(checkpoints.directory)
    accelerator.wait_for_everyone()
    phase_rows.append(_phase_row(run_id, "target", False, time.perf_counter() - start, stats, len(examples.dataset),
                                 saved=saved if accelerator.is_main_process else None))
    if state is not None:  # phase 3 evaluates a whole model in every process: the one just saved
        model = modeling.load(str(saved), fmt, with_head=True, attention=cfg.model.attention)
    return model, own


def _fit_search_space(cfg: DictConfig, fmt: formats.Format, search: formats.SearchSpace, model: torch.nn.Module,
                      autocast_dtype: torch.dtype | None, tokenizer: Any, tokenizer_key: str | None,
                      accelerator: Accelerator) -> Any:
    """The format's search space fitted once a run (`formats.SearchSpace`): the candidates every
    language's queries are ranked against, embedded. `model` predicts under `autocast_dtype`
    (`evaluation.inference_model`)."""
    target = cfg.target
    candidates = feature_cache.load_split(cfg, target, formats.SEARCH_SPLIT, target.train_language)
    rows = search.rows(target.name, len(candidates.dataset))
    if len(rows) < len(candidates.dataset):
        candidates = candidates.select(rows)
    start = time.perf_counter()
    features = feature_cache.encode(fmt, candidates, tokenizer, cfg.target.train.max_length, tokenizer_key)
    logits = evaluation.all_logits(
        model, features, fmt, evaluation.EvalBatching.of(cfg.eval), accelerator.device, tokenizer.pad_token_id,
        autocast_dtype, progress="search space" if accelerator.is_local_main_process else None,
        shard=(accelerator.process_index, accelerator.num_processes))
    log.info("zero_shot: %s search space of %d candidates embedded in %.1f s", cfg.target.name,
             len(candidates.dataset), time.perf_counter() - start)
    return search.fit(logits, features, candidates.dataset)


def zero_shot_phase(cfg: DictConfig, model: torch.nn.Module, tokenizer: Any, tokenizer_key: str | None,
                    accelerator: Accelerator, run_dir: Path, run_id: str, phase_rows: list[dict[str, Any]],
                    beat: Heartbeat) -> list[dict[str, Any]]:
    """Phase 3: (language, split, metric, value, n_examples) rows for every language.

    What predictions rest on besides a split's own outputs (`Format.basis`) is fitted here and
    handed on explicitly: a search space once, for every language (`_fit_search_space`); what a
    language's dev split tunes (BUCC's mining threshold), for that language's later splits.
    Under bf16, every language is predicted by one bf16 copy of the model (`evaluation.inference_model`).
    """
    target = cfg.target
    fmt = formats.get(target, accelerator.device)
    model, autocast_dtype = evaluation.inference_model(model.to(accelerator.device), training.autocast_dtype(accelerator))
    batching = evaluation.EvalBatching.of(cfg.eval)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    tuned: dict[str, Any] = {}  # language -> the basis its dev split tuned
    evaluated = 0
    writes = task_checks.submission(cfg)  # XTREME's folder and file format, e.g. bucc2018's pair files
    if writes is None:
        log.warning("zero_shot: target=%s writes no prediction files: no benchmark file (conf/benchmarks/) lists it "
                    "and it declares no target.submission_format", target.name)
    reads = read_plan.data_reads(cfg, "zero_shot")
    shared = (_fit_search_space(cfg, fmt, fmt.basis, model, autocast_dtype, tokenizer, tokenizer_key, accelerator)
              if isinstance(fmt.basis, formats.SearchSpace) else None)
    for done, (_, split, language) in enumerate(reads):
        beat("zero_shot", done, len(reads))
        examples = feature_cache.load_split(cfg, target, split, language)
        if cfg.eval.max_examples:
            examples = examples.select(range(min(cfg.eval.max_examples, len(examples.dataset))))
        features = feature_cache.encode(fmt, examples, tokenizer, target.train.max_length, tokenizer_key)
        result = evaluation.evaluate(
            model, fmt, examples.dataset, features, language, batching, accelerator.device,
            tokenizer.pad_token_id, autocast_dtype,
            progress=f"zero-shot {language} {split}" if accelerator.is_local_main_process else None,
            shard=(accelerator.process_index, accelerator.num_processes),
            tune=split == "dev", basis=tuned.get(language, shared),
        )
        tuned[language] = result.basis
        evaluated += result.examples
        log.info("zero_shot: %s %s %s (%d examples): %s", target.name, language, split, result.examples,
                 ", ".join(f"{k} {v:.2f}" for k, v in result.scores.items()))
        rows += [{"language": language, "split": split, "metric": metric, "value": value,
                  "n_examples": result.examples} for metric, value in result.scores.items()]
        if split == "test" and accelerator.is_main_process and writes is not None:
            submission.write_predictions(run_dir / "predictions", writes.task, language,
                                         fmt.submission(result.predictions, examples.dataset), writes.file)
    beat("zero_shot", len(reads), len(reads))
    phase_rows.append(_phase_row(run_id, "zero_shot", False, time.perf_counter() - start, None, evaluated))
    return rows


def run(cfg: DictConfig, run_dir: Path, on_claimed: Callable[[Path], None] | None = None) -> Path:
    """Run the selected phases of one experiment and write its tables into `run_dir`.

    Running it again in the same folder resumes: finished runs are skipped, a finished
    phase 2 is reused, and an interrupted training phase continues from its checkpoint.
    Nothing is written into the folder before it is claimed for this configuration
    (`run_folder`); `on_claimed(run_dir)` then runs in the main process first.
    """
    config.validate(cfg)
    _check_head(cfg)
    read_plan.check_sources(cfg)
    datasets.disable_progress_bars()  # our own bars and log lines say what runs
    hf_logging.disable_progress_bar()
    state = PartialState(cpu=cfg.cpu)
    # `accelerate launch` runs Hydra in every process: a `${now:...}` run dir can differ by a second
    run_dir = Path(broadcast_object_list([str(run_dir)])[0])
    world_size = state.num_processes  # part of the identity: the effective batch
    keys = identity.run_keys(cfg, world_size)
    rid = keys.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_folder.held(run_dir, rid, state.is_main_process):
        if broadcast_object_list([run_folder.finished(run_dir, rid)])[0]:  # the main process, holding the folder, decides
            log.info("run %s is already complete in %s; nothing to do", rid, run_dir)
            return run_dir
        if on_claimed is not None and state.is_main_process:
            on_claimed(run_dir)
        return _run_claimed(cfg, run_dir, keys, world_size)


def _data(cfg: DictConfig, accelerator: Accelerator) -> dict[str, Any]:
    """run.json's `data` (which data the numbers come from: `data_sources`) and its compact
    `data_revisions`; recorded by the main process, which alone writes run.json."""
    if not accelerator.is_main_process:
        return {}
    record = data_sources.data_record(cfg)
    return {"data": record, data_sources.COLUMN: data_sources.revisions(record)}


def _check_head(cfg: DictConfig) -> None:
    """A run that evaluates without training phase 2 needs a trained head from somewhere: a
    random one scores at chance, rows that would read as another arm. Retrieval needs none."""
    if "zero_shot" in cfg.phases and "target" not in cfg.phases and not cfg.target.checkpoint \
            and formats.get(cfg.target).trains:
        raise UserError(f"phases={list(cfg.phases)} skips phase 2 and target.checkpoint is not set, so target="
                        f"{cfg.target.name}'s head would be untrained and score at chance; add target to phases, or "
                        "set target.checkpoint=DIR (the target_model/ folder of a finished run).")


def _read_evaluation_data(cfg: DictConfig) -> None:
    """Read every split phase 3 evaluates before anything trains: a malformed row, a truncated
    file or a missing language stops the run here (exit 2 with file:line), not after hours of
    phases 1 and 2. The examples go into the features cache, where phase 3 finds them again."""
    for task, split, language in read_plan.data_reads(cfg, "zero_shot"):
        feature_cache.load_split(cfg, task, split, language)


def _run_claimed(cfg: DictConfig, run_dir: Path, keys: identity.RunKeys, world_size: int) -> Path:
    rid = keys.run_id
    accelerator = make_accelerator(cfg, run_dir)
    record = {"run_id": rid, **results.provenance(str(accelerator.device)), **_data(cfg, accelerator)}
    log.info("run %s (%s) on %s, precision %s, into %s", rid, cfg.name, accelerator.device, config.precision(cfg), run_dir)
    if accelerator.is_main_process:
        results.write_run_record(run_dir, cfg, record)

    with accelerator.main_process_first():  # `builtin:tiny` is built once, not by every process at once
        model_path = modeling.resolve(cfg.model, cfg.cache.dir)
    tokenizer = modeling.load_tokenizer(model_path, cfg.model.revision)
    tokenizer_key = feature_cache.tokenizer_identity(tokenizer) if cfg.cache.features else None  # keys its features
    phase_rows: list[dict[str, Any]] = []
    beat = Heartbeat(run_dir if accelerator.is_main_process else None)
    if "zero_shot" in cfg.phases:
        _read_evaluation_data(cfg)
    encoder = intermediate_phase(cfg, model_path, tokenizer, tokenizer_key, accelerator, rid, phase_rows, beat)
    model, trained = target_phase(cfg, encoder, tokenizer, tokenizer_key, accelerator, run_dir, rid, phase_rows, beat,
                                  trained_by(cfg, encoder, keys))
    rows = []
    if "zero_shot" in cfg.phases:
        rows = zero_shot_phase(cfg, model, tokenizer, tokenizer_key, accelerator, run_dir, rid, phase_rows, beat)

    common = {
        "run_id": rid, "experiment": cfg.name, "model": cfg.model.name, "seed": cfg.seed,
        "target_task": cfg.target.name, "arm": keys.arm, "baseline_key": keys.baseline_key,
        "benchmark": cfg.benchmark, "model_revision": cfg.model.revision, "processes": world_size,
        **{column: trained[column] for column in TRAINED_BY_COLUMNS},
        "checkpoint": cfg.target.checkpoint, "checkpoint_run_id": trained["run_id"] if cfg.target.checkpoint else None,
    }
    if accelerator.is_main_process:
        record.update(_data(cfg, accelerator))  # the hub commits the loads resolved, now that they ran
        common[data_sources.COLUMN] = record[data_sources.COLUMN]
        frame = results.write_tables(run_dir, [{**common, **row} for row in rows], phase_rows)
        record["finished"] = results.now()
        results.write_run_record(run_dir, cfg, record)
        log.info("wrote %d result rows to %s", len(frame), run_dir / results.RESULTS_FILE)
    accelerator.end_training()
    return run_dir
