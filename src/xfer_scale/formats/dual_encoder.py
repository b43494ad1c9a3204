"""Ranking with a trained dual encoder: LAReQA (answer sentences) and Mewsli-X (entities).

XTREME-R's recipe (`BertForRetrieval`, `run_retrieval_qa.py`, `run_retrieval_el.py`): one
encoder embeds both queries and candidates, each as the pooled first token (`<s>` through a
dense layer and tanh), L2-normalised; training scores every query against every candidate of
the batch, scaled by a learnable factor that starts at 100, with cross-entropy towards its
own candidate (in-batch negatives). In a data-parallel run the candidates of every process
are negatives too. The pooler is new: XLM-R was pretrained without a sentence objective, so
its checkpoint's pooler carries nothing learnt. It starts as XTREME-R's does: BERT's
`_init_weights` (weights normal(0, `initializer_range` = 0.02), bias 0), which is also what
the hub checkpoint's pooler is, a draw made when fairseq's weights were converted (transformers'
`convert_roberta_original_pytorch_checkpoint_to_pytorch.py` copies no pooler).

Evaluation ranks one search space for every language (`basis.SearchSpace`): LAReQA pools the
candidates of all 11 languages, Mewsli-X has one set of entities (a million in the release).
The pipeline embeds it once, and each language's queries take their top 20 from it by exact,
chunked matrix products (`retrieval.top_k_cosine`). Metrics are mAP@20 (LAReQA, `metric:
map`) and the mean reciprocal rank within the top 20 (Mewsli-X, `metric: mrr`, which XTREME
also calls map@20).

Rows: see `readers.ranking`. Training rows are (`query`, `candidate`) pairs; SQuAD-shaped
rows (LAReQA's training data is SQuAD v1.1) become pairs of the question and its answer's
sentence followed by the paragraph, as XTREME-R builds them (`sentence_breaks`).

Checkpoint selection (a `dev` split; LAReQA's is SQuAD v1.1 dev): pairs as in training, scored
as `run_retrieval_qa.py --evaluate_during_training` scores them, its `avg_loss`: the in-batch
loss of consecutive batches of 8 in file order, averaged over the batches. The loop keeps the
highest score, so the score is minus that loss (`DEV_SCORE`).

`format_options`: `query_length` (96; candidates use `train.max_length`),
`max_candidates` (keep the first N candidates of the search space, for quick runs only),
`lowercase` (every text lowercased before it is tokenized, as XTREME-R's XLM-R runs had it:
see conf/target/lareqa.yaml) and `pooling` (`cls`, XTREME-R's, or `mean`). A randomly
initialised encoder (`model=tiny`) collapses under `cls` pooling (every text embedded alike, measured on the smoke data at
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

from xfer_scale import architectures, metrics
from xfer_scale.errors import UserError
from xfer_scale.fields import TEXT, TEXTS, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, check_options, register
from xfer_scale.formats.basis import SearchSpace
from xfer_scale.formats.retrieval import by_row, mean_pool, top_k_cosine
from xfer_scale.prediction_kinds import RANKINGS

log = logging.getLogger(__name__)

OPTIONS = ("query_length", "max_candidates", "pooling", "lowercase")
POOLINGS = ("cls", "mean")
INITIAL_SCALE = 100.0
TOP_K = 20  # XTREME-R ranks, writes and scores the top 20
#: the dev score that selects checkpoints: minus XTREME-R's dev `avg_loss` (higher is better)
DEV_SCORE = "minus_loss"
#: run_retrieval_qa.py's dev batches: `--per_gpu_eval_batch_size` (default 8; train_lareqa.sh
#: sets none) on one GPU, drawn in file order (`SequentialSampler`)
DEV_BATCH = 8


class DualEncoderHead(nn.Module):
    """The pooler and the learnt similarity scale: what the format adds to the encoder.
    `cls` pools `<s>` through a dense layer and tanh (XTREME-R's); `mean` averages the real
    tokens' states (no weights but the scale), in float32: a bf16 model's (phase 3's) sum of
    bf16 states would be rounded to bf16 before it is ranked by cosine."""

    def __init__(self, hidden_size: int, pooling: str, initializer_range: float):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size) if pooling == "cls" else None
        if self.dense is not None:  # as BERT's `_init_weights` initialises the pooler XTREME-R loads
            nn.init.normal_(self.dense.weight, std=initializer_range)
            nn.init.zeros_(self.dense.bias)
        self.logit_scale = nn.Parameter(torch.tensor([INITIAL_SCALE]))

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.dense is not None:
            pooled = torch.tanh(self.dense(hidden[:, 0]))
        else:
            pooled = mean_pool(hidden, attention_mask)
        return functional.normalize(pooled.float(), dim=-1)


class DualEncoderModel(nn.Module):
    """Embeds queries alone (prediction), or queries and their candidates (training, dev):
    then one row a pair, the query's vector, the candidate's and the similarity scale
    (`split_pairs`), so that the evaluation loop, which stores one tensor a feature, can
    score dev pairs as training does."""

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
        scale = self.head.logit_scale.float().expand(len(queries), 1)
        return torch.cat([queries, self.embed(candidate_input_ids, candidate_attention_mask), scale], dim=-1)


def split_pairs(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(queries, candidates, scale) of `DualEncoderModel`'s pair rows."""
    width = (rows.shape[-1] - 1) // 2
    return rows[:, :width], rows[:, width:2 * width], rows[0, -1]


def in_batch_loss(queries: torch.Tensor, candidates: torch.Tensor, scale: torch.Tensor,
                  offset: int = 0) -> torch.Tensor:
    """Cross-entropy of each query's scaled similarities to every candidate, towards its own
    (at `offset` + its row: a data-parallel batch's candidates hold other processes' first)."""
    logits = scale * queries @ candidates.T
    return functional.cross_entropy(logits, torch.arange(len(queries), device=logits.device) + offset)


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


def lowercased(text: str) -> str:
    """`text` lowercased as transformers 2.3-2.9 lowercase it for a tokenizer given
    `do_lower_case=True` (`PreTrainedTokenizer.tokenize`'s `lowercase_text`): one character at a
    time, so a Greek capital sigma becomes σ even at a word's end, where `str.lower` gives ς.
    XLM-R's special tokens, which that function leaves alone, are lowercase already."""
    return "".join(character.lower() for character in text)


def dev_score(rows: torch.Tensor) -> float:
    """Minus the mean in-batch loss of the pair rows cut in order into batches of DEV_BATCH
    (the last may be shorter), each batch's loss counting once: `run_retrieval_qa.evaluate`'s
    `avg_loss`, the only dev figure XTREME-R's LAReQA training computes."""
    losses = [in_batch_loss(*split_pairs(rows[start:start + DEV_BATCH])).item()
              for start in range(0, len(rows), DEV_BATCH)]
    return -float(np.mean(losses))


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
    #: training pairs (LAReQA's made of SQuAD's rows: `derived_rows`), queries (with their
    #: `relevant` ids) or candidates: a split maps the fields of one of these shapes (see `encode`)
    fields = {"query": Field(TEXT, required=False), "candidate": Field(TEXT, required=False),
              "id": Field(TEXT, required=False), "text": Field(TEXT, required=False),
              "relevant": Field(TEXTS, required=False)}

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        check_options(task, list(OPTIONS))
        options = task.format_options
        self.query_length = int(options.get("query_length", 96))
        self.basis = SearchSpace(self._index, options.get("max_candidates"))
        self.pooling = options.get("pooling", "cls")
        self.lowercase = bool(options.get("lowercase", False))
        if self.pooling not in POOLINGS:
            raise UserError(f"task {task.name}: format_options.pooling={self.pooling!r}; choose cls (XTREME-R's) "
                            "or mean.")
        # a dev split holds pairs, not rankings: it scores the loss (a chosen `selection_metric` must be that)
        if self.selection_metric != DEV_SCORE and "selection_metric" in options:
            raise UserError(f"task {task.name}: format_options.selection_metric={self.selection_metric!r}; a dual "
                            f"encoder's dev pairs score {DEV_SCORE} only.")
        self.selection_metric = DEV_SCORE

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        """Pairs: the query and the candidate as two inputs. Query or candidate rows: one input
        each; a row is a candidate when it has no `relevant` (the search space)."""
        if self.pooling == "cls" and not architectures.first_token_pools(tokenizer):
            raise UserError(f"task {self.task.name}: format_options.pooling=cls pools the first token, but this "
                            "model's tokenizer puts no <s> or [CLS] first; use format_options.pooling=mean.")
        if "query" in examples.column_names:
            def tokenize(batch: dict[str, list]) -> dict[str, list]:
                query = tokenizer(self.texts(batch["query"]), truncation=True, max_length=self.query_length)
                candidate = tokenizer(self.texts(batch["candidate"]), truncation=True, max_length=max_length)
                return {"input_ids": query["input_ids"], "attention_mask": query["attention_mask"],
                        "candidate_input_ids": candidate["input_ids"],
                        "candidate_attention_mask": candidate["attention_mask"], "example_index": batch["example_index"]}
        else:
            length = self.query_length if "relevant" in examples.column_names else max_length

            def tokenize(batch: dict[str, list]) -> dict[str, list]:
                return {**tokenizer(self.texts(batch["text"]), truncation=True, max_length=length),
                        "example_index": batch["example_index"]}
        return encode_indexed(examples, tokenize)

    def texts(self, texts: list[str]) -> list[str]:
        """The texts as the tokenizer gets them: lowercased with `format_options.lowercase`."""
        return [lowercased(text) for text in texts] if self.lowercase else texts

    def build(self, encoder: nn.Module) -> DualEncoderModel:
        config = encoder.config
        return DualEncoderModel(encoder, DualEncoderHead(config.hidden_size, self.pooling, config.initializer_range))

    def loss(self, outputs: Any, batch: dict[str, torch.Tensor], accelerator: Any) -> torch.Tensor:
        queries, candidates, scale = split_pairs(outputs)
        candidates, offset = gather_candidates(candidates, accelerator)
        return in_batch_loss(queries, candidates, scale, offset)

    def batches(self, features: Any, lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
        """Random batches, as XTREME-R draws them. Grouping by length would gather equal
        candidates (SQuAD questions answered by one sentence, mentions of one entity) into one
        batch, each the others' negative: no loss could fall, and nothing would be learnt."""
        order = np.random.default_rng(seed).permutation(len(lengths))
        return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]

    def _index(self, logits: list[torch.Tensor], features: datasets.Dataset, candidates: datasets.Dataset) -> Index:
        """The search space's embeddings, in its rows' order, on the format's device."""
        return Index(list(candidates["id"]), by_row(logits, features, len(candidates), self.device))

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        """Each query's top candidate ids, best first; `basis` is the embedded search space.
        Dev pairs: each pair's row (`split_pairs`), which `score` reads."""
        if "query" in examples.column_names:
            return list(by_row(logits, features, len(examples), self.device))
        if not isinstance(basis, Index):
            raise UserError(f"{self.task.name}: queries are ranked against the embedded search space, which the "
                            "zero-shot phase builds; there is none here.")
        queries = by_row(logits, features, len(examples), self.device)
        _, top = top_k_cosine(queries, basis.embeddings, min(TOP_K, len(basis.ids)))
        return [[basis.ids[i] for i in row] for row in top.tolist()]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        """Dev pairs have none: a pair is its own reference, its loss the score."""
        return [None] * len(examples) if "query" in examples.column_names else list(examples["relevant"])

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        """Queries without gold (Mewsli-X test as XTREME ships it) score nothing; predictions are still written.
        Dev pairs score minus XTREME-R's dev `avg_loss` (`dev_score`)."""
        if "query" in examples.column_names:
            return {DEV_SCORE: dev_score(torch.stack(predictions))}
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
