"""Masked-LM training on raw multilingual text: the paper's "continued multilingual MLM" control.

`intermediate=mlm` trains phase 1 on MLM alone (`MaskedLM`); `intermediate.mlm.ratio=r` mixes
MLM batches into any single task's (`MlmMix`: the multitask machinery, with the MLM text at a
fixed share r of the batches). The head is the pretrained model's own LM head, its output
layer tied to the input embeddings; like every head it stays behind, and only the encoder
goes on to phase 2. Masking is XLM-R's: 15% of the tokens, of those 80% replaced by <mask>,
10% by a random token, 10% kept (`DataCollatorForLanguageModeling`'s defaults), drawn anew for
every batch. The text (`mlm_corpus`) is sampled per language and sized by the step budget.
"""

from __future__ import annotations

import math
from typing import Any

import datasets
import torch
from accelerate import PartialState
from torch import nn
from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling
from transformers.utils import logging as hf_logging

from xfer_scale import data, mlm_corpus, steps, translate_train
from xfer_scale.errors import UserError
from xfer_scale.fields import TEXT, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Amount, Format, Loader, TrainingSet, register
from xfer_scale.formats.batching import IGNORE_INDEX, pad_batch
from xfer_scale.formats.model import TaskModel
from xfer_scale.formats.multitask import MultiTask, TaskMix

NAME = "mlm"
MASK_PROBABILITY = 0.15  # XLM-R's (and BERT's)


class TiedLMHead(nn.Module):
    """XLM-R's LM head: dense, gelu, layer norm, then the output layer, whose weights are the
    encoder's input embeddings and whose bias is its own.

    The embeddings are held outside the module tree, so the tied matrix is stored once, as the
    encoder's: saving the encoder saves it, and the head's state is dense, layer_norm and bias.
    Given the labels, the head scores only the masked positions: their logits are 15% of a
    batch's, which over XLM-R's 250k vocabulary are most of an MLM step's memory.
    """

    reads_labels = True

    def __init__(self, embeddings: nn.Embedding, hidden_size: int, layer_norm_eps: float):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.layer_norm = nn.LayerNorm(hidden_size, eps=layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(embeddings.num_embeddings))
        self.__dict__["embeddings"] = embeddings  # bypasses nn.Module registration: see above

    def forward(self, hidden: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            hidden = hidden[labels != IGNORE_INDEX]
        x = self.layer_norm(nn.functional.gelu(self.dense(hidden)))
        return nn.functional.linear(x, self.embeddings.weight, self.bias)


def pretrained_head_state(encoder: nn.Module) -> dict[str, torch.Tensor] | None:
    """The LM head weights of the checkpoint the encoder was loaded from, or None where it has
    none (`builtin:tiny`). The encoder knows its origin (`name_or_path`, and the hub commit it
    resolved), so the head comes from the same snapshot with nothing passed around."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its "newly initialised" report is the answer we look at
    try:
        loaded, info = AutoModelForMaskedLM.from_pretrained(
            encoder.name_or_path, revision=getattr(encoder.config, "_commit_hash", None), output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    if any(key.startswith("lm_head.") for key in info["missing_keys"]) or not hasattr(loaded, "lm_head"):
        return None
    return {key: value for key, value in loaded.lm_head.state_dict().items() if key.split(".")[0] != "decoder"}


class MaskingCollate:
    """Pads a batch and masks it: `labels` hold the original ids of the masked positions."""

    def __init__(self, masking: DataCollatorForLanguageModeling, pad_token_id: int):
        self.masking = masking
        self.pad_token_id = pad_token_id
        self.special_ids = torch.tensor(masking.tokenizer.all_special_ids)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_batch([{"input_ids": r["input_ids"], "attention_mask": r["attention_mask"]} for r in rows],
                          self.pad_token_id)
        special = torch.isin(batch["input_ids"], self.special_ids)  # <s>, </s>, padding: never masked
        batch["input_ids"], batch["labels"] = self.masking.torch_mask_tokens(batch["input_ids"], special)
        return batch


@register(NAME)
class MaskedLM(Format):
    """MLM on `intermediate.mlm`'s text. Alone (`intermediate=mlm`) it is sized as the task it
    names under `tasks` (conf/intermediate/mlm.yaml: MNLI): a fraction f trains on as many
    paragraphs as that task's f of examples, so an MLM arm and a task arm of one sweep match in
    data and steps; `intermediate.examples` is a count of paragraphs. The text has no dev split:
    no checkpoint selection, as for a multitask."""

    roles = ("intermediate",)
    produces = ()  # nothing to score: no dev split
    model_inputs = ("input_ids", "attention_mask")
    #: of its text's rows (`intermediate.mlm.corpus`), one paragraph a row (an article a row on the hub)
    fields = {"text": Field(TEXT)}

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        self.settings = task.mlm
        if self.settings.alpha < 0 or not self.settings.languages:
            raise UserError(f"intermediate.mlm.alpha={self.settings.alpha} must be >= 0 and intermediate.mlm.languages "
                            f"name some language (it is {list(self.settings.languages)}).")
        self.masking: DataCollatorForLanguageModeling | None = None  # needs the tokenizer: set by `encode`

    def training_tasks(self) -> list[Any]:
        """The task MLM alone is sized as (its text is read lazily: `read_plan.corpus_reads`)."""
        sized_as = list((self.task.get("tasks") or {}).values())
        if len(sized_as) != 1:
            raise UserError(f"intermediate={self.task.name} is sized as one task, named under its `tasks` "
                            f"(it names {len(sized_as)}); see conf/intermediate/mlm.yaml.")
        return sized_as

    def training_set(self, load: Loader, amount: Amount) -> TrainingSet:  # type: ignore[override]
        """Phase 1's only: `amount` is always given."""
        sized_as = self.training_tasks()[0]
        full = len(load(sized_as, "train"))
        paragraphs = amount.examples or data.subsample_size(full, amount.fraction, None, sized_as.name)
        text = self.text(load, paragraphs, amount.seed)
        return TrainingSet(text.examples, full, {**text.indices, "sized_as": sized_as.name})

    def text(self, load: Loader, paragraphs: int, seed: int) -> TrainingSet:
        """`paragraphs` rows of the MLM text; `indices`: how many each language gave."""
        examples, counts = mlm_corpus.sample(self.settings.corpus, list(self.settings.languages), self.settings.alpha,
                                             paragraphs, seed, load.data_root)
        return TrainingSet(examples, len(examples), {"paragraphs": counts})

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        self.masking = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MASK_PROBABILITY)

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = tokenizer(batch["text"], truncation=True, max_length=max_length)
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def build(self, encoder: nn.Module) -> TaskModel:
        """The pretrained LM head where the checkpoint has one; else a fresh one, initialised as
        XLM-R initialises it."""
        config = encoder.config
        head = TiedLMHead(encoder.get_input_embeddings(), config.hidden_size, config.layer_norm_eps)
        nn.init.normal_(head.dense.weight, std=config.initializer_range)
        nn.init.zeros_(head.dense.bias)
        state = pretrained_head_state(encoder)
        if state is not None:
            head.load_state_dict(state)
        return TaskModel(encoder, head)

    def loss(self, logits: torch.Tensor, batch: dict[str, Any], accelerator: Any) -> torch.Tensor:
        """Cross-entropy over the masked tokens (`logits` holds only theirs); a batch that
        happens to mask none contributes 0."""
        targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
        return nn.functional.cross_entropy(logits.float(), targets, reduction="sum") / max(len(targets), 1)

    def collator(self, features: Any, pad_token_id: int) -> MaskingCollate:
        if self.masking is None:
            raise RuntimeError("MaskedLM.collator before encode: masking needs the tokenizer encode saw")
        return MaskingCollate(self.masking, pad_token_id)


class TaskAndText(TaskMix):
    """A task's examples and the MLM text. Its size is the task's: the amount of intermediate
    data a run reports; the text is what the budget takes, not data."""

    def __len__(self) -> int:
        return len(next(iter(self.parts.values())))


class MlmMix(MultiTask):
    """A task with MLM batches at `intermediate.mlm.ratio` of all batches (the multitask
    `shares` mechanism: one head each on the shared encoder, a batch from one of them).

    The task keeps everything that is its own: its amount and subsample (translations
    included), its dev selection and predictions (its head is the model's first). The text is
    sized to the batches the budget gives MLM, estimated from the task's examples: over the
    epochs (the paper), `train.epochs` x the task's batches x r / (1 - r); under `max_steps` or
    `full_data_steps`, r x the phase's batches. Each epoch draws its MLM batches afresh from that
    text, and masks them anew.
    """

    def __init__(self, task: Any, primary: Format, device: torch.device | None = None):
        Format.__init__(self, task, device)
        if isinstance(primary, MultiTask) or not primary.trains:
            raise UserError(f"intermediate.mlm.ratio mixes MLM into one trainable task, not into {task.name} "
                            f"({primary.name}); for MLM alone use intermediate=mlm.")
        self.primary, self.mlm = primary, MaskedLM(task, device)
        self.parts = {task.name: primary, NAME: self.mlm}
        self.shares = {NAME: float(task.mlm.ratio)}
        self.selection_metric, self.metric_family = primary.selection_metric, primary.metric_family
        self.model_inputs = primary.model_inputs
        self.basis = primary.basis

    def training_tasks(self) -> list[Any]:
        return self.primary.training_tasks()

    def trained_on(self, examples: TaskMix) -> MlmMix:
        """The task's label names are the model's (its head predicts; its dev split selects)."""
        learnt = super().trained_on(examples)
        if learnt is not self:
            learnt.primary = learnt.parts[self.task.name]
            learnt.label_names = learnt.primary.label_names
        return learnt

    def training_set(self, load: Loader, amount: Amount) -> TrainingSet:  # type: ignore[override]
        """Phase 1's only: the task's own training set (in its languages) and the text."""
        own = translate_train.training_set(self.primary, load, amount)
        text = self.mlm.text(load, self._paragraphs(len(own.examples), own.full_size), amount.seed)
        return TrainingSet(TaskAndText({self.task.name: own.examples, NAME: text.examples}), own.full_size,
                           {self.task.name: own.indices, NAME: text.indices})

    def _paragraphs(self, examples: int, full_size: int) -> int:
        train, ratio = self.task.train, self.shares[NAME]
        if train.max_steps is not None:
            batches = steps.micro_batches(train.max_steps, train.grad_accum, PartialState().num_processes)
        elif self.task.budget == "full_data_steps":
            batches = train.epochs * math.ceil(full_size / train.batch_size)
        else:
            batches = train.epochs * math.ceil(examples / train.batch_size) / (1 - ratio)
        return math.ceil(ratio * batches) * train.batch_size

    def encode(self, examples: Any, tokenizer: Any, max_length: int) -> Any:
        """Training data, or the task's own rows (the dev split that selects checkpoints)."""
        if isinstance(examples, TaskMix):
            return super().encode(examples, tokenizer, max_length)
        return self.primary.encode(examples, tokenizer, max_length)

    # the task's head is the first, which the model uses where a batch names none: predicting is the task's

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        return self.primary.predict(logits, features, examples, basis)

    def references(self, examples: datasets.Dataset) -> list[Any]:
        return self.primary.references(examples)

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        return self.primary.score(predictions, examples, language)
