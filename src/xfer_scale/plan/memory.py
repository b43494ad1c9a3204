"""GPU memory a cell trains in, and how many cells share one card: an estimate.

Training holds fp32 weights, gradients and AdamW's two moments: 16 bytes a parameter
(embeddings included). Activations kept for the backward pass are, per layer and token,
about 34 x hidden bytes with 16-bit autocast and 66 x hidden in fp32 (Korthikanti et al.
2022, "Reducing Activation Recomputation", without the attention-score terms that
memory-efficient attention does not store), at the recipe's batch x max_length: the longest
batch of length-grouped batching is the peak. A suite run at the recipe's very shapes
(`Suite.peak_memory_gb`) replaces the estimate with its measured peak. A cell that only
evaluates holds its fp32 weights. Each cell's process also holds a CUDA context, so cells a
card divide its memory by the cell's plus CONTEXT_GB.

A model whose cell does not fit one card (XLM-R XL: 16 bytes of 3.5B parameters are 52 GB
before any activation) is trained sharded: FSDP's full sharding (conf/accelerate/) divides the
weights, gradients and AdamW states over the GPUs, while each GPU keeps the activations of its
own micro-batch; `sharded_gpus` counts the GPUs that makes fit.
"""

from __future__ import annotations

import math

from xfer_scale.plan.compute import Shape
from xfer_scale.plan.phases import Recipe
from xfer_scale.plan.suite import Suite

GB = 2**30  # as torch.cuda.max_memory_allocated() / 2**30, which the suite records
TRAINING_BYTES_PER_PARAMETER = 16  # fp32 weights 4 + gradients 4 + AdamW exp_avg 4 + exp_avg_sq 4
INFERENCE_BYTES_PER_PARAMETER = 4
ACTIVATION_BYTES = {True: 34, False: 66}  # per layer, token and hidden unit; by mixed precision
CONTEXT_GB = 0.5  # CUDA context and allocator slack per process
CARDS_GB = (80, 40)


def training_gb(shape: Shape, recipe: Recipe) -> float:
    """The estimate for one training phase at `recipe`."""
    states = TRAINING_BYTES_PER_PARAMETER * shape.total_parameters
    activations = (ACTIVATION_BYTES[recipe.mixed_precision] * shape.layers * shape.hidden
                   * recipe.batch_size * recipe.max_length)
    return (states + activations) / GB


def cell_gb(shape: Shape, recipes: list[Recipe], suite: Suite | None, concurrent: int) -> tuple[float, bool]:
    """A cell's peak over its training phases (they run one after the other) and whether every
    figure was measured; a cell that trains nothing holds its weights to evaluate."""
    if not recipes:
        return INFERENCE_BYTES_PER_PARAMETER * shape.total_parameters / GB, False
    found = [(suite.peak_memory_gb(recipe, concurrent) if suite else None, recipe) for recipe in recipes]
    peaks = [measured if measured is not None else training_gb(shape, recipe) for measured, recipe in found]
    return max(peaks), all(measured is not None for measured, _ in found)


def cells_per_card(gb: float, card_gb: float) -> int:
    """How many cells of `gb` each fit a card of `card_gb` at once."""
    return math.floor(card_gb / (gb + CONTEXT_GB))


def states_gb(shape: Shape) -> float:
    """What training holds per parameter (TRAINING_BYTES_PER_PARAMETER), which sharding divides."""
    return TRAINING_BYTES_PER_PARAMETER * shape.total_parameters / GB


def sharded_gb(shape: Shape, gb: float, gpus: int) -> float:
    """A GPU's share of a cell of `gb` whose training states are sharded over `gpus`."""
    return gb - states_gb(shape) + states_gb(shape) / gpus


def sharded_gpus(shape: Shape, gb: float, card_gb: float) -> int | None:
    """The GPUs of `card_gb` a cell of `gb` (its training states and activations) needs with
    the states sharded over them; None where it fits one card unsharded. Activations that alone
    overflow a card cannot be sharded away: 0."""
    if gb + CONTEXT_GB <= card_gb:
        return None
    states = states_gb(shape)
    room = card_gb - CONTEXT_GB - (gb - states)
    return math.ceil(states / room) if room > 0 else 0
