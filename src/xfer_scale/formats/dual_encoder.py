"""Ranking with a trained dual encoder: LAReQA (answer sentences) and Mewsli-X (entities).

XTREME-R's recipe (`BertForRetrieval`, `run_retrieval_qa.py`, `run_retrieval_el.py`): one
encoder embeds both queries and candidates, each as the pooled first token (`<s>` through a
dense layer and tanh), L2-normalised; training scores every query against every candidate of
the batch, scaled by a learnable factor that starts at 100, with cross-entropy towards its
own candidate (in-batch negatives). In a data-parallel run the candidates of every process
are negatives too. The pooler is new: XLM-R was pretrained without a sentence objective, so
its checkpoint's pooler carries nothing learnt.

Evaluation ranks one search space for every language (`search_space`): LAReQA pools the
candidates of all 11 languages, Mewsli-X has one set of entities (a million in the release).
The pipeline embeds it once, and each language's queries take their top 20 from it by exact,
chunked matrix products (`retrieval.top_k_cosine`). Metrics are mAP@20 (LAReQA, `metric:
map`) and the mean reciprocal rank within the top 20 (Mewsli-X, `metric: mrr`, which XTREME
also calls map@20).

Rows: see `readers.ranking`. Training rows are (`query`, `candidate`) pairs; SQuAD-shaped
rows (LAReQA's training data is SQuAD v1.1) become pairs of the question and its answer's
sentence followed by the paragraph, as XTREME-R builds them (`sentence_breaks`).
`format_options`: `query_length` (96; candidates use `train.max_length`),
`max_candidates` (keep the first N candidates of the search space, for quick runs only) and
`pooling` (`cls`, XTREME-R's, or `mean`). A randomly initialised encoder (`model=tiny`)
collapses under `cls` pooling (every text embedded alike, measured on the smoke data at
learning rates 1e-3 and 1e-4) but learns under `mean`: smoke runs pass
`target.format_options.pooling=mean`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import datasets
import numpy as np
import torch
import torch.distributed.nn.functional as distributed
from torch import nn
from torch.nn import functional

from xfer_scale import architectures, metrics, sentence_breaks
from xfer_scale.errors import UserError
from xfer_scale.formats.base import (SEARCH_SPLIT, Amount, Format, Loader, TrainingSet, check_options, encode_indexed,
                                     register)
from xfer_scale.formats.retrieval import by_row, mean_pool, top_k_cosine
from xfer_scale.prediction_kinds import RANKINGS

log = logging.getLogger(__name__)

OPTIONS = ("query_length", "max_candidates", "pooling")
POOLINGS = ("cls", "mean")
INITIAL_SCALE = 100.0
TOP_K = 20  # XTREME-R ranks, writes and scores the top 20


class DualEncoderHead(nn.Module):
    """The pooler and the learnt similarity scale: what the format adds to the encoder.
    `cls` pools `<s>` through a dense layer and tanh (XTREME-R's); `mean` averages the real
    tokens' states (no weights but the scale), in float32: a bf16 model's (phase 3's) sum of
    bf16 states would be rounded to bf16 before it is ranked by cosine."""

    def __init__(self, hidden_size: int, pooling: str):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size) if pooling == "cls" else None
        self.logit_scale = nn.Parameter(torch.tensor([INITIAL_SCALE]))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            pooled = torch.tanh(self.dense(hidden[:, 0]))
        else:
            pooled = mean_pool(hidden, attention_mask)
        return functional.normalize(pooled.float(), dim=-1)


class DualEncoderModel(nn.Module):
    """Embeds queries alone (prediction), or queries and their candidates (training)."""

    def __init__(self, encoder: nn.Module, head: DualEncoderHead):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state,
                         attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                candidate_input_ids: torch.Tensor | None = None, candidate_attention_mask: torch.Tensor | None = None,
                **_: Any) -> Any:
        queries = self.embed(input_ids, attention_mask)
        if candidate_input_ids is None:
            return queries
        return queries, self.embed(candidate_input_ids, candidate_attention_mask), self.head.logit_scale


def gather_candidates(candidates: torch.Tensor, accelerator: Any) -> tuple[torch.Tensor, int]:
    """Every process's candidates, gradients flowing back into this process's own, and where
    this process's start: the negatives of a data-parallel batch. Batches may differ in size
    (an epoch's last), so they are padded to the largest for the exchange and cut after."""
    if accelerator.num_processes == 1:
        return candidates, 0
    sizes = accelerator.gather(torch.tensor([len(candidates)], device=candidates.device)).tolist()
    padded = functional.pad(candidates, (0, 0, 0, max(sizes) - len(candidates)))
    pieces = distributed.all_gather(padded)
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)]), sum(sizes[:accelerator.process_index])


def squad_pairs(examples: datasets.Dataset, task_name: str) -> datasets.Dataset:
    """(question, answer sentence + paragraph) pairs of SQuAD rows; a question whose answer
    starts between sentences is left out, as XTREME-R leaves it out."""
    queries, candidates = [], []
    for context, question, answers in zip(examples["context"], examples["question"], examples["answers"]):
        sentence = sentence_breaks.answer_sentence(context, answers["answer_start"][0])
        if sentence is not None:
            queries.append(question)
            candidates.append((sentence + context).replace("\n", ""))
    if not queries:
        raise UserError(f"{task_name}: no training question has its answer inside a sentence; check the data.")
    if len(queries) < len(examples):
        log.info("%s: %d of %d questions left out: their answer starts between sentences",
                 task_name, len(examples) - len(queries), len(examples))
    return datasets.Dataset.from_dict({"query": queries, "candidate": candidates})


@dataclasses.dataclass(frozen=True)
class Index:
    """The embedded search space: candidate ids and their unit vectors (rows in the same order)."""

    ids: list[str]
    embeddings: torch.Tensor


@register("dual_encoder")
class DualEncoder(Format):
    roles = ("target",)
    model_inputs = ("input_ids", "attention_mask", "candidate_input_ids", "candidate_attention_mask")
    produces = (RANKINGS,)
    packable = False  # a query and its candidate are two sequences, not one to pack

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        check_options(task, list(OPTIONS))
        options = task.format_options
        self.query_length = int(options.get("query_length", 96))
        self.max_candidates = options.get("max_candidates")
        self.pooling = options.get("pooling", "cls")
        if self.pooling not in POOLINGS:
            raise UserError(f"task {task.name}: format_options.pooling={self.pooling!r}; choose cls (XTREME-R's) "
                            "or mean.")

    def training_set(self, load: Loader, amount: Amount | None) -> TrainingSet:
        chosen = super().training_set(load, amount)
        if "query" in chosen.examples.column_names:
            return chosen
        return dataclasses.replace(chosen, examples=squad_pairs(chosen.examples, self.task.name))

    def search_space(self, load: Loader) -> datasets.Dataset:
        candidates = load(self.task, SEARCH_SPLIT)
        if self.max_candidates is not None and self.max_candidates < len(candidates):
            log.warning("%s: ranking among the first %d of %d candidates (format_options.max_candidates): "
                        "scores are not comparable with the full set's", self.task.name, self.max_candidates,
                        len(candidates))
            candidates = candidates.select(range(self.max_candidates))
        return candidates

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        """Pairs: the query and the candidate as two inputs. Query or candidate rows: one input
        each; a row is a candidate when it has no `relevant` (the search space)."""
        if self.pooling == "cls" and not architectures.first_token_pools(tokenizer):
            raise UserError(f"task {self.task.name}: format_options.pooling=cls pools the first token, but this "
                            "model's tokenizer puts no <s> or [CLS] first; use format_options.pooling=mean.")
        if "query" in examples.column_names:
            def tokenize(batch: dict[str, list]) -> dict[str, list]:
                query = tokenizer(batch["query"], truncation=True, max_length=self.query_length)
                candidate = tokenizer(batch["candidate"], truncation=True, max_length=max_length)
                return {"input_ids": query["input_ids"], "attention_mask": query["attention_mask"],
                        "candidate_input_ids": candidate["input_ids"],
                        "candidate_attention_mask": candidate["attention_mask"], "example_index": batch["example_index"]}
        else:
            length = self.query_length if "relevant" in examples.column_names else max_length

            def tokenize(batch: dict[str, list]) -> dict[str, list]:
                return {**tokenizer(batch["text"], truncation=True, max_length=length),
                        "example_index": batch["example_index"]}
        return encode_indexed(examples, tokenize)

    def build(self, encoder: nn.Module) -> DualEncoderModel:
        return DualEncoderModel(encoder, DualEncoderHead(encoder.config.hidden_size, self.pooling))

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor], accelerator: Any) -> torch.Tensor:
        queries, candidates, scale = outputs
        candidates, offset = gather_candidates(candidates, accelerator)
        logits = scale * queries @ candidates.T
        targets = torch.arange(len(queries), device=logits.device) + offset
        return functional.cross_entropy(logits, targets)

    def batches(self, features: Any, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        """Random batches, as XTREME-R draws them. Grouping by length would gather equal
        candidates (SQuAD questions answered by one sentence, mentions of one entity) into one
        batch, each the others' negative: no loss could fall, and nothing would be learnt."""
        order = np.random.default_rng(seed).permutation(len(lengths))
        return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]

    def index(self, candidates: datasets.Dataset, features: datasets.Dataset, logits: list[torch.Tensor]) -> Index:
        """The search space's embeddings, in its rows' order, on the format's device."""
        return Index(list(candidates["id"]), by_row(logits, features, len(candidates), self.device))

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                calibration: Any = None) -> list[Any]:
        """Each query's top candidate ids, best first; `calibration` is the embedded search space."""
        if not isinstance(calibration, Index):
            raise UserError(f"{self.task.name}: queries are ranked against the embedded search space, which the "
                            "zero-shot phase builds; there is none here.")
        queries = by_row(logits, features, len(examples), self.device)
        _, top = top_k_cosine(queries, calibration.embeddings, min(TOP_K, len(calibration.ids)))
        return [[calibration.ids[i] for i in row] for row in top.tolist()]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        return list(examples["relevant"])

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        """Queries without gold (Mewsli-X test as XTREME ships it) score nothing; predictions are still written."""
        references = self.references(examples)
        if not any(references):
            log.warning("%s %s: no gold candidates; predictions are written but not scored", self.task.name, language)
            return {}
        ids = examples["id"]
        return metrics.compute(self.metric_family, dict(zip(ids, predictions)), dict(zip(ids, references)),
                               language=language)

    def submission(self, predictions: list[Any], examples: datasets.Dataset) -> Any:
        """XTREME-R's files: {query id: [top candidate ids, best first]}."""
        return dict(zip(examples["id"], predictions))
