"""The training loop of both training phases, top to bottom, on accelerate.

Batches are grouped by length (little padding), gradients accumulate to the recipe's
effective batch, and the model is scored on an English dev subset every `eval_every_steps`
optimiser steps; the best state is kept (in host memory) and restored at the end (the
paper's selection), and training stops early after `early_stop_patience` evaluations
without a gain. The whole state is checkpointed by the clock (`checkpoint_every_minutes`),
not by a step count that at the paper's batch of 4 wrote 6.7 GB every 10-15 s.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.data_loader import prepare_data_loader, skip_first_batches
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from xfer_scale import (architectures, checkpoint, config, evaluation, packing, shape_buckets, sharding, steps,
                        stop_signals)
from xfer_scale.errors import Interrupted, UserError
from xfer_scale.formats import Format

log = logging.getLogger(__name__)
logging.getLogger("accelerate.checkpointing").setLevel(logging.WARNING)  # a line per file saved
#: the most seconds between two heartbeats of a training phase (`status` calls a run stalled after 600)
HEARTBEAT_EVERY_S = 60.0
#: on N processes, how often (in optimiser steps) the processes agree whether a checkpoint is due
#: or a stop was asked for: saving is collective, so all must agree, and agreeing is a host sync
AGREE_EVERY_STEPS = 10


@dataclass
class Checkpoints:
    """Where a training phase keeps its checkpoints, and the identity of the configuration
    training it: a checkpoint another configuration wrote there is refused, never resumed."""

    directory: Path
    identity: str


@dataclass
class TrainStats:
    """What `phases.parquet` records about a training phase, and where the loop stands
    (a checkpoint saves exactly this)."""

    steps: int = 0
    examples: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    best_score: float | None = None
    best_step: int = 0
    evals_without_gain: int = 0
    epoch: int = 0
    epoch_batches_done: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    #: bytes of the checkpoints this phase wrote (the main process's count; resumed runs add up)
    checkpoint_bytes: int = 0

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


class EpochBatches:
    """The batch sampler of every epoch: `use_epoch(e)` deals epoch e's batches (the format's plan,
    seeded by seed + e). Sampling happens in the main process, so one loader, and with
    `data.num_workers` one set of persistent workers, serves the whole phase."""

    def __init__(self, fmt: Format, features: Any, lengths: list[int], batch_size: int, seed: int):
        self.fmt, self.features, self.lengths, self.batch_size, self.seed = fmt, features, lengths, batch_size, seed
        self.epoch, self.batches = 0, fmt.batches(features, lengths, batch_size, seed)

    def use_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.batches = epoch, self.fmt.batches(self.features, self.lengths, self.batch_size,
                                                               self.seed + epoch)

    def __iter__(self) -> Any:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _phase_loader(features: Any, batches: EpochBatches, collate: Any, num_workers: int,
                  generator: torch.Generator) -> DataLoader:
    """Its own generator: creating an iterator then draws no number from the global RNG, whose
    state a resumed run must find exactly as the uninterrupted run did. Pinned host memory lets
    the copy to the GPU run beside the previous step's work (accelerate copies non-blocking)."""
    return DataLoader(features, batch_sampler=batches, collate_fn=collate, num_workers=num_workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=num_workers > 0, generator=generator)


def train(
    *,
    phase: str,
    model: torch.nn.Module,
    fmt: Format,
    features: Any,
    dev: tuple[datasets.Dataset, datasets.Dataset] | None,
    cfg: Any,
    accelerator: Accelerator,
    seed: int,
    pad_token_id: int,
    checkpoints: Checkpoints | None = None,
    num_workers: int = 0,
    eval_batch_size: evaluation.EvalBatching | int = 64,
    log_every_steps: int = 50,
    heartbeat: Callable[[int, int], None] | None = None,
    compile_bucket: int | None = None,
) -> TrainStats:
    """Train `model` in place on `features`; `dev` = (examples, features) for selection.

    With `checkpoints`, the loop saves its state every `cfg.checkpoint_every_minutes` (and/or
    `cfg.checkpoint_every_steps`) and, if a checkpoint of the same configuration is already
    there, continues from it with the same batches and RNG, so the result equals that of an
    uninterrupted run.

    `compile_bucket`: train through `torch.compile` (CUDA graphs on a GPU), on batches padded
    to multiples of it (`shape_buckets`); evaluation stays eager, its shapes are many.

    `heartbeat(step, total_steps)` is called when the loop starts and ends and at most every
    HEARTBEAT_EVERY_S seconds between: a clock read per optimiser step, no file I/O in the loop.
    """
    set_seed(seed)
    # counted from the format's own plan of an epoch (a multitask cuts every task's last batch short)
    epoch_batches = EpochBatches(fmt, features, fmt.lengths(features), cfg.batch_size, seed)
    total_steps = steps.total(cfg, len(epoch_batches), accelerator.num_processes)
    warmup = steps.warmup(cfg, total_steps)

    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)  # one kernel for all parameters
    if accelerator.num_processes > 1:  # DDP refuses a step that leaves weights without gradients unless told
        # gradients as views into DDP's all-reduce buckets: no copy in and out of them each step
        unused = getattr(model, "leaves_weights_unused", False)  # a model of several heads says so
        accelerator.ddp_handler = DistributedDataParallelKwargs(find_unused_parameters=unused,
                                                                gradient_as_bucket_view=True)
    # no scheduler through `prepare`: the loop sets the rate per optimiser step (steps.learning_rate);
    # under FSDP this is where accelerate shards the model (conf/accelerate/, `sharding`)
    is_sharded = sharding.sharded(accelerator)
    model, optimizer = accelerator.prepare(model, optimizer)
    collate = fmt.collator(features, pad_token_id)
    if cfg.packing:
        if not fmt.packable:
            raise UserError(f"{phase}: format {fmt.name} trains on two sequences a feature, which a packed batch "
                            "cannot hold; set train.packing=false for this task.")
        if compile_bucket:
            raise config.compiled_packing(f"{phase}.train.packing")
        encoder = accelerator.unwrap_model(model).encoder
        if not architectures.packs(encoder):
            raise UserError(f"{phase}.train.packing=true: {type(encoder).__name__} runs "
                            f"{encoder.config._attn_implementation} attention, which would attend across the "
                            "sequences of a packed row (it reads no sequence boundaries); set "
                            f"{phase}.train.packing=false for this model.")
        collate = packing.PackedCollate(collate)
    forward, recompiles = model, contextlib.nullcontext()
    if compile_bucket:
        collate = shape_buckets.BucketPad(collate, compile_bucket, cfg.max_length, pad_token_id)
        forward = torch.compile(model, mode="reduce-overhead" if accelerator.device.type == "cuda" else None,
                                dynamic=False)
        # a graph per bucket and batch size (an epoch's last batch is short): room for all of them
        buckets = -(-cfg.max_length // compile_bucket)
        recompiles = torch._dynamo.config.patch(recompile_limit=max(8, 4 * buckets))

    stats, best_state = TrainStats(), None
    resumed = checkpoint.load(accelerator, checkpoints.directory, TrainStats, checkpoints.identity) if checkpoints else None
    if resumed:
        stats, best_state = resumed
        log.info("%s: resuming from the checkpoint at step %d in %s", phase, stats.steps, checkpoints.directory)
    log.info("%s: training on %d features, %d optimiser steps (batch %d x %d accumulation) on %s",
             phase, len(features), total_steps, cfg.batch_size, cfg.grad_accum, accelerator.device)
    heartbeat = heartbeat or (lambda step, total: None)
    heartbeat(stats.steps, total_steps)
    beat_at = saved_at = time.monotonic()
    best_changed = False
    running_loss = torch.zeros((), device=accelerator.device)
    # examples, real tokens, padded tokens seen by this rank since the last read (no host sync per step)
    counts = torch.zeros(3, dtype=torch.long, device=accelerator.device)
    progress = tqdm(total=total_steps, initial=stats.steps, desc=phase, disable=not accelerator.is_local_main_process)
    model.train()
    # a checkpoint saved at the last step, or where patience ran out (a signal came just then), ends here
    patience = cfg.early_stop_patience
    stop = stats.steps >= total_steps or (patience is not None and stats.evals_without_gain >= patience)
    generator = torch.Generator()
    # accelerate's function, not the Accelerator method: the loader is not part of the saved
    # state (the loop's own position is); it deals each process its share, copied to the device
    loader = prepare_data_loader(
        _phase_loader(features, epoch_batches, collate, num_workers, generator), device=accelerator.device,
        num_processes=accelerator.num_processes, process_index=accelerator.process_index, put_on_device=True,
        non_blocking=torch.cuda.is_available(),
    )
    signals = stop_signals.Deferred()  # SIGTERM/SIGINT: a checkpoint at the step, then Interrupted
    with recompiles, signals.installed():
        try:
            while not stop:
                epoch_batches.use_epoch(stats.epoch)
                generator.manual_seed(seed)  # each epoch's workers as a fresh loader's: resumed runs see the same
                epoch_length = len(loader)  # this rank's share of the batches
                done = stats.epoch_batches_done
                for micro_step, batch in enumerate(skip_first_batches(loader, done) if done else loader, start=done):
                    sync = (micro_step + 1) % cfg.grad_accum == 0 or micro_step + 1 == epoch_length
                    with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                        loss = fmt.loss(forward(**batch), batch, accelerator)
                        accelerator.backward(loss / cfg.grad_accum)
                    running_loss += loss.detach() / cfg.grad_accum
                    counts[0] += len(batch["attention_mask"])  # a packed batch's input_ids are one row
                    counts[1] += batch["attention_mask"].sum()
                    counts[2] += batch["input_ids"].numel()
                    if not sync:
                        continue
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    lr = steps.learning_rate(stats.steps, cfg.learning_rate, warmup, total_steps)
                    for group in optimizer.param_groups:
                        group["lr"] = lr
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    stats.steps += 1
                    stats.epoch_batches_done = micro_step + 1
                    progress.update(1)
                    if time.monotonic() - beat_at >= HEARTBEAT_EVERY_S:
                        heartbeat(stats.steps, total_steps)
                        beat_at = time.monotonic()
                    if stats.steps % log_every_steps == 0 or stats.steps == total_steps:
                        _log_loss(phase, running_loss, stats.steps, log_every_steps, accelerator, lr, progress)
                    at_end = stats.steps >= total_steps
                    if dev is not None and (stats.steps % cfg.eval_every_steps == 0 or at_end):
                        score = _select_score(model, fmt, dev, accelerator, pad_token_id, eval_batch_size, is_sharded)
                        stats.history.append({"step": stats.steps, "score": score})
                        accelerator.log({f"{phase}/dev_score": score}, step=stats.steps)
                        if stats.best_score is None or score > stats.best_score:
                            stats.best_score, stats.best_step, stats.evals_without_gain = score, stats.steps, 0
                            best_state = sharding.full_state(accelerator.unwrap_model(model), is_sharded)
                            best_changed = True
                        else:
                            stats.evals_without_gain += 1
                        if patience is not None and stats.evals_without_gain >= patience:
                            log.info("%s: no dev gain in %d evaluations; stopping at step %d", phase, patience, stats.steps)
                            stop = True
                    save, interrupted = _between_steps(cfg, stats.steps, saved_at, signals, accelerator)
                    if (at_end or stop) and not interrupted:  # the phase ends: its model is saved next, not a state
                        stop = True
                        break
                    if checkpoints and (save or interrupted):
                        _add_counts(stats, counts, accelerator)
                        stats.checkpoint_bytes += checkpoint.save(accelerator, checkpoints.directory, stats, best_state,
                                                                  best_changed, checkpoints.identity)
                        best_changed, saved_at = False, time.monotonic()
                    if interrupted:
                        signals.pass_on()  # submitit's requeue, where it sent the signal
                        saved = f"; checkpoint saved in {checkpoints.directory}" if checkpoints else ""
                        raise Interrupted(f"{signals.received} at {phase} step {stats.steps}{saved}")
                else:
                    stats.epoch += 1
                    stats.epoch_batches_done = 0
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted at {phase} step {stats.steps}") from None
        finally:
            progress.close()
    heartbeat(stats.steps, total_steps)
    _add_counts(stats, counts, accelerator)
    if best_state is not None:
        sharding.load_full_state(accelerator.unwrap_model(model), best_state, is_sharded)
        log.info("%s: best English dev score %.2f at step %d", phase, stats.best_score, stats.best_step)
    accelerator.free_memory()
    return stats


def _between_steps(cfg: Any, step: int, saved_at: float, signals: stop_signals.Deferred,
                   accelerator: Accelerator) -> tuple[bool, bool]:
    """(save a checkpoint, stop) after optimiser step `step`. A checkpoint is due every
    `checkpoint_every_steps` steps, or once `checkpoint_every_minutes` have passed since the
    last save (or the start); a stop, once a signal came. On N processes both are agreed every
    AGREE_EVERY_STEPS steps (any process's clock or signal counts): clocks differ, signals
    arrive apart, and a save that one process starts alone hangs."""
    by_steps = bool(cfg.checkpoint_every_steps) and step % cfg.checkpoint_every_steps == 0
    minutes = cfg.checkpoint_every_minutes
    by_clock = minutes is not None and time.monotonic() - saved_at >= 60.0 * minutes
    signalled = signals.received is not None
    if accelerator.num_processes == 1:
        return by_steps or by_clock, signalled
    if step % AGREE_EVERY_STEPS:
        return by_steps, False
    agreed = accelerator.reduce(torch.tensor([by_clock, signalled], device=accelerator.device, dtype=torch.int32),
                                reduction="sum").tolist()
    return by_steps or agreed[0] > 0, agreed[1] > 0


def _add_counts(stats: TrainStats, counts: torch.Tensor, accelerator: Accelerator) -> None:
    """Move the device-side counters, summed over all ranks, into `stats`."""
    examples, tokens, padded = accelerator.reduce(counts, reduction="sum").tolist()
    stats.examples += examples
    stats.tokens += tokens
    stats.padded_tokens += padded
    counts.zero_()


def _log_loss(phase: str, running_loss: torch.Tensor, step: int, every: int, accelerator: Accelerator,
              lr: float, progress: tqdm) -> None:
    """The one host sync of the hot loop, every `every` steps; a NaN/inf loss stops the run.
    `lr` is the rate optimiser step `step` took."""
    mean_loss = running_loss.item() / (step % every or every)
    if not math.isfinite(mean_loss):
        raise UserError(
            f"{phase}: the training loss became {mean_loss} by step {step}; lower the learning rate, "
            "or use precision=bf16 instead of fp16."
        )
    running_loss.zero_()
    progress.set_postfix(loss=f"{mean_loss:.4f}")
    accelerator.log({f"{phase}/loss": mean_loss, f"{phase}/lr": lr}, step=step)


def _select_score(model: torch.nn.Module, fmt: Format, dev: tuple[datasets.Dataset, datasets.Dataset],
                  accelerator: Accelerator, pad_token_id: int, batch_size: evaluation.EvalBatching | int,
                  is_sharded: bool) -> float:
    """The dev score that selects checkpoints, batched as `batch_size` says (`evaluation.as_batching`).
    The model being trained predicts under autocast, as it trains: a bf16 copy of it
    (`evaluation.inference_model`) would cost a cast of every weight per evaluation, and
    memory beside the optimiser's state, for a few hundred examples. A sharded model's every
    forward pass gathers each layer from all processes, so there every process predicts every
    example (in the same batches) rather than its share."""
    examples, features = dev
    evaluated = evaluation.evaluate(
        accelerator.unwrap_model(model), fmt, examples, features, "en", batch_size,
        accelerator.device, pad_token_id, autocast_dtype(accelerator),
        shard=(0, 1) if is_sharded else (accelerator.process_index, accelerator.num_processes),
    )
    return evaluated.scores[fmt.selection_metric]


def autocast_dtype(accelerator: Accelerator) -> torch.dtype | None:
    """The dtype the run's mixed precision computes in; None for float32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(str(accelerator.mixed_precision))
