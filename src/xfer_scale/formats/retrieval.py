"""Sentence retrieval (Tatoeba) and bitext mining (BUCC 2018) with the encoder as it is.

Nothing is trained (`trains = False`, so the pipeline skips phase 2). A sentence's embedding
is the mean of one layer's hidden states over its real tokens, <s> and </s> included, as
XTREME's `evaluate_retrieval.py` pools them; sentences compare by cosine similarity, with
exact nearest neighbours from chunked matrix products and top-k on the device.

The task's `metric` picks the procedure:

- `accuracy` (Tatoeba): each query's nearest neighbour on the other side, scored by the
  share of queries whose neighbour is their translation. XTREME's and jiant's code put the
  non-English sentences in the index and search it with the English ones (faiss `add(x)`,
  `search(y)`), so `query_side: target` is the default; `source` searches the other way.
- `bucc` (BUCC 2018): XTREME's `mine_bitext` (ratio margin over the 4 nearest neighbours in
  both directions, best candidates kept greedily one-to-one), then the score threshold that
  maximises F1 on the language's dev gold (`bucc_optimize`), applied to its test split.

`format_options`: `layer` (default 14: `hidden_states[14]` of XLM-R Large, index 0 being the
embeddings, the layer XTREME's scripts call 13 of 24; see `resolve_layer` for other depths)
and `query_side` (Tatoeba only).

Rows are the readers' `id, text, side, gold`; the hub's pair rows (`source`, `target`) are
expanded to the same shape with the ids `read_aligned_text` gives line-aligned files.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from typing import Any

import datasets
import numpy as np
import torch
from torch import nn
from torch.nn import functional

from xfer_scale import metrics
from xfer_scale.errors import UserError
from xfer_scale.fields import TEXT, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, check_options, register
from xfer_scale.formats.basis import DevTuned
from xfer_scale.prediction_kinds import LABELS, PAIRS

log = logging.getLogger(__name__)

ROW_FIELDS = ("id", "text", "side", "gold")
PAIR_FIELDS = ("source", "target")
DEFAULT_LAYER = 14
NEIGHBOURS = 4  # XTREME's mine_bitext `neighborhood`
SIMILARITIES_PER_CHUNK = 1 << 26  # 256 MiB of float32 similarities per matrix product
OPTIONS = ("layer", "query_side")
QUERY_SIDES = ("target", "source")


def resolve_layer(layer: int | float, depth: int) -> int:
    """The index into `hidden_states` (0 = embeddings, `depth` = the last layer) to pool.

    An int is that index, a negative one counting from the end (-1 = the last layer); a float
    in (0, 1) is a fraction of the depth, rounded (14 / 24 reads XTREME's layer at any depth).
    An int deeper than the model falls back to its last layer, with a warning: the default
    is XLM-R Large's, and the 2-layer tiny model then reads its last layer.
    """
    if isinstance(layer, float):
        return round(layer * depth)
    if layer < -(depth + 1):
        raise UserError(f"target.format_options.layer={layer}: the model has only {depth + 1} hidden states.")
    if layer > depth:
        log.warning("retrieval: layer %d asked for, but the model has %d layers; pooling its last layer", layer, depth)
        return depth
    return layer % (depth + 1)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions the mask marks as real tokens, in float32."""
    mask = attention_mask.unsqueeze(-1).float()
    return (hidden.float() * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def first_layers(encoder: nn.Module, count: int) -> nn.Module:
    """A view of `encoder` that runs only its first `count` layers, sharing every weight, so
    its last hidden state is layer `count`'s: the layers above cost compute (10 of XLM-R
    Large's 24 for layer 14) and change nothing. `encoder` itself stays whole, as a later
    phase may train or save it. Per architecture: BERT, XLM-R and DeBERTa (whose relative
    positions are computed once, before the layers) pool layer `count`'s output as
    `hidden_states[count]` holds it; a pre-LayerNorm encoder (XLM-R XL) keeps its final
    LayerNorm, so it pools that layer's residual stream normalised as its last layer's is, the
    counterpart of a post-LN layer's output (`hidden_states[count]` there is unnormalised). (transformers' `output_hidden_states` is no alternative
    here: it records through hooks on the layers, which a view shares.)"""
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if count == encoder.config.num_hidden_layers:
        return encoder
    if not isinstance(layers, nn.ModuleList):
        raise UserError(f"retrieval pools layer {count}, but {type(encoder).__name__} has no BERT-style "
                        "`encoder.layer` list to stop at; use format_options.layer=-1 (its last layer).")
    view, stack = copy.copy(encoder), copy.copy(encoder.encoder)
    view._modules, stack._modules = dict(encoder._modules), dict(stack._modules)  # copy.copy shares them
    stack.layer = layers[:count]
    view.encoder = stack
    return view


class PooledLayerModel(nn.Module):
    """The encoder's hidden states at one layer, mean-pooled: a model without weights of its own."""

    def __init__(self, encoder: nn.Module, layer: int | float):
        super().__init__()
        self.encoder = first_layers(encoder, resolve_layer(layer, encoder.config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)


def by_row(logits: list[torch.Tensor], features: datasets.Dataset, rows: int, device: torch.device) -> torch.Tensor:
    """One vector a row (an embedding), in the rows' order on `device`: features come in their
    own order, each naming its row by `example_index`."""
    vectors = torch.empty(rows, logits[0].shape[-1], device=device)
    vectors[torch.as_tensor(features["example_index"], device=device)] = torch.stack(logits).to(device)
    return vectors


def top_k_cosine(queries: torch.Tensor, database: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices of each query's `k` nearest database rows, best first.

    Exact search, as faiss `IndexFlatIP` over L2-normalised vectors; queries go in chunks so
    that a BUCC test set (400k x 400k sentences) fits in device memory.
    """
    queries = functional.normalize(queries.float(), dim=-1)
    database = functional.normalize(database.float(), dim=-1)
    k = min(k, len(database))
    step = max(1, SIMILARITIES_PER_CHUNK // max(1, len(database)))
    parts = [(queries[start:start + step] @ database.T).topk(k, dim=1) for start in range(0, len(queries), step)]
    return torch.cat([p.values for p in parts]), torch.cat([p.indices for p in parts])


def _one_to_one(sources: list[int], targets: list[int]) -> list[int]:
    """Positions a greedy pass keeps, in the given best-first order: a candidate whose source
    or target an earlier kept candidate already has is dropped. The loop runs over the
    candidates (two per sentence), never over sentence pairs."""
    seen_sources: set[int] = set()
    seen_targets: set[int] = set()
    kept = []
    for position, (source, target) in enumerate(zip(sources, targets)):
        if source not in seen_sources and target not in seen_targets:
            seen_sources.add(source)
            seen_targets.add(target)
            kept.append(position)
    return kept


def mine(x: torch.Tensor, y: torch.Tensor, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source index, target index, score) of mined candidate pairs, best first.

    XTREME's `mine_bitext` (mode mine, retrieval max, margin ratio): a pair's score is its
    cosine over the mean of the two sentences' average similarity to their `k` nearest
    neighbours on the other side; every source proposes its best-scoring target and every
    target its best source, and the proposals are kept one-to-one, best first. As XTREME
    writes only candidates scoring above 0, so does this.
    """
    forward, forward_index = top_k_cosine(x, y, k)
    backward, backward_index = top_k_cosine(y, x, k)
    forward_mean, backward_mean = forward.mean(1), backward.mean(1)
    forward_scores = forward / ((forward_mean[:, None] + backward_mean[forward_index]) / 2)
    backward_scores = backward / ((backward_mean[:, None] + forward_mean[backward_index]) / 2)
    forward_best, forward_arg = forward_scores.max(1)
    backward_best, backward_arg = backward_scores.max(1)
    sources = torch.cat([torch.arange(len(x), device=x.device), backward_index.gather(1, backward_arg[:, None])[:, 0]])
    targets = torch.cat([forward_index.gather(1, forward_arg[:, None])[:, 0], torch.arange(len(y), device=y.device)])
    scores = torch.cat([forward_best, backward_best])
    order = torch.argsort(scores, descending=True, stable=True)
    sources, targets, scores = sources[order].cpu().numpy(), targets[order].cpu().numpy(), scores[order].cpu().numpy()
    kept = np.asarray(_one_to_one(sources.tolist(), targets.tolist()), dtype=np.int64)
    kept = kept[scores[kept] > 0]
    return sources[kept], targets[kept], scores[kept]


def tune_threshold(scores: np.ndarray, correct: np.ndarray, n_gold: int) -> float:
    """XTREME's `bucc_optimize`: walking the candidates best first, the threshold lies halfway
    between the candidate where F1 first peaks and the next one (at the peak itself when it
    is the last candidate); 0 when no candidate is correct, as XTREME's initial value."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    hits = np.cumsum(correct[order])
    if n_gold == 0 or len(hits) == 0 or hits[-1] == 0:
        return 0.0
    f1 = 2 * hits / (np.arange(1, len(hits) + 1) + n_gold)  # 2PR / (P + R), P = hits / extracted, R = hits / gold
    best = int(np.argmax(f1))
    return float(ranked[best] if best + 1 == len(ranked) else (ranked[best] + ranked[best + 1]) / 2)


def sides(examples: datasets.Dataset) -> datasets.Dataset:
    """Retrieval rows: side rows as they are; pair rows (the hub's shape) as source `s<i>`
    with gold `t<i>` and target `t<i>`, the ids `read_aligned_text` gives aligned files."""
    columns = set(examples.column_names)
    if columns >= set(ROW_FIELDS):
        return examples
    if columns >= set(PAIR_FIELDS):
        rows = []
        for index, (source, target) in enumerate(zip(examples["source"], examples["target"])):
            rows.append({"id": f"s{index}", "text": source, "side": "source", "gold": f"t{index}"})
            rows.append({"id": f"t{index}", "text": target, "side": "target", "gold": ""})
        return datasets.Dataset.from_list(rows)
    raise UserError(
        f"retrieval rows need the fields {', '.join(ROW_FIELDS)} (readers aligned_text, bucc) or "
        f"{', '.join(PAIR_FIELDS)} (one pair a row); found: {', '.join(sorted(columns))}. "
        "Fix the task config's `fields`."
    )


def _distinct(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The first position of each distinct text, and whether that text occurs more than once.

    XTREME embeds each distinct sentence once and drops mined pairs whose sentence text has
    several ids (it cannot tell which id was meant).
    """
    first: dict[str, int] = {}
    for position, text in enumerate(texts):
        first.setdefault(text, position)
    counts = Counter(texts)
    repeated = np.array([counts[text] > 1 for text in first], dtype=bool)
    return np.fromiter(first.values(), dtype=np.int64, count=len(first)), repeated


@register("retrieval")
class Retrieval(Format):
    """Tatoeba's nearest-neighbour search where the task's metric needs labels (each query's
    neighbour), BUCC's bitext mining where it needs pairs: the metric picks the procedure."""

    trains = False
    produces = (LABELS, PAIRS)
    roles = ("target",)
    model_inputs = ("input_ids", "attention_mask")
    #: a split maps the fields of one of the two shapes of rows (see `sides`)
    fields = {name: Field(TEXT, required=False) for name in (*ROW_FIELDS, *PAIR_FIELDS)}

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        #: BUCC's procedure: mine pairs (with a threshold tuned on dev), rather than search neighbours
        self.mines = metrics.get(self.metric_family).needs == PAIRS
        self.basis = DevTuned(self._threshold) if self.mines else None
        check_options(task, list(OPTIONS))
        options = dict(task.format_options)
        self.layer = options.get("layer", DEFAULT_LAYER)
        if isinstance(self.layer, bool) or not isinstance(self.layer, (int, float)) or (
                isinstance(self.layer, float) and not 0.0 < self.layer < 1.0):
            raise UserError(
                f"task {task.name}: format_options.layer={self.layer!r} must be an index into the hidden "
                "states (14; -1 for the last layer) or a fraction of the depth in (0, 1) (0.583)."
            )
        self.query_side = options.get("query_side", "target")
        if self.query_side not in QUERY_SIDES:
            raise UserError(f"task {task.name}: format_options.query_side={self.query_side!r}; "
                            f"choose {' or '.join(QUERY_SIDES)}.")
        self.database_side = "source" if self.query_side == "target" else "target"

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = tokenizer(batch["text"], truncation=True, max_length=max_length)
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(sides(examples), tokenize)

    def build(self, encoder: nn.Module) -> PooledLayerModel:
        return PooledLayerModel(encoder, self.layer)

    def _embeddings(self, logits: list[torch.Tensor], features: datasets.Dataset,
                    rows: datasets.Dataset) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Every row's embedding on the format's device, and the row positions of each side."""
        side = np.asarray(rows["side"])
        return by_row(logits, features, len(rows), self.device), {name: np.flatnonzero(side == name) for name in QUERY_SIDES}

    def _threshold(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset) -> float:
        """BUCC: the mining threshold that maximises F1 on this (dev) split's gold pairs."""
        rows = sides(examples)
        gold = set(self.references(rows))
        if not gold:
            raise UserError(f"{self.task.name} dev has no gold pairs to tune the mining threshold on; "
                            "use the release's sample split with its .gold file.")
        pairs, scores = self._mine(rows, *self._embeddings(logits, features, rows))
        correct = np.array([pair in gold for pair in pairs], dtype=bool)
        threshold = tune_threshold(scores, correct, len(gold))
        if correct.any():
            log.info("%s: threshold %.4f maximises F1 on the dev gold", self.task.name, threshold)
        else:
            log.warning("%s: no mined pair is in the dev gold; threshold %.1f, XTREME's default", self.task.name, threshold)
        return threshold

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        """Tatoeba: for each query, the position of its nearest neighbour among the other
        side's rows. BUCC: the mined (source id, target id) pairs scoring at least the
        threshold `basis` tuned on the language's dev split."""
        rows = sides(examples)
        embeddings, positions = self._embeddings(logits, features, rows)
        if self.mines:
            if basis is None:
                raise UserError(
                    f"{self.task.name}: the mining threshold is tuned on the dev split, which has not been evaluated; "
                    "keep dev before test in target.eval_splits (e.g. target.eval_splits=[dev,test]).")
            pairs, scores = self._mine(rows, embeddings, positions)
            return [pair for pair, score in zip(pairs, scores) if score >= basis]
        queries, database = positions[self.query_side], positions[self.database_side]
        _, nearest = top_k_cosine(embeddings[queries], embeddings[database], 1)
        return nearest[:, 0].tolist()

    @staticmethod
    def _mine(rows: datasets.Dataset, embeddings: torch.Tensor,
              positions: dict[str, np.ndarray]) -> tuple[list[tuple[str, str]], np.ndarray]:
        """Mined (source id, target id) candidates, best first, with their margin scores."""
        source, target = positions["source"], positions["target"]
        ids, texts = np.asarray(rows["id"], dtype=object), rows["text"]
        source_first, source_repeated = _distinct([texts[i] for i in source])
        target_first, target_repeated = _distinct([texts[i] for i in target])
        s, t, scores = mine(embeddings[source[source_first]], embeddings[target[target_first]])
        unambiguous = ~source_repeated[s] & ~target_repeated[t]
        pairs = list(zip(ids[source[source_first[s[unambiguous]]]], ids[target[target_first[t[unambiguous]]]]))
        return pairs, scores[unambiguous]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        """BUCC: the gold (source id, target id) pairs. Tatoeba: for each query, the position
        of its translation among the other side's rows."""
        rows = sides(examples)
        gold = [(id_, g) for id_, side, g in zip(rows["id"], rows["side"], rows["gold"]) if side == "source" and g]
        if self.mines:
            return gold
        translation = dict(gold) if self.query_side == "source" else {t: s for s, t in gold}
        queries = [id_ for id_, side in zip(rows["id"], rows["side"]) if side == self.query_side]
        database = [id_ for id_, side in zip(rows["id"], rows["side"]) if side == self.database_side]
        position = {id_: index for index, id_ in enumerate(database)}
        missing = [id_ for id_ in queries if translation.get(id_) not in position]
        if missing:
            raise UserError(
                f"{self.task.name}: {len(missing)} {self.query_side} sentences have no translation among the "
                f"loaded rows (e.g. {missing[0]}); load both files of a pair whole (eval.max_examples cuts rows)."
            )
        return [position[translation[id_]] for id_ in queries]

    def score(self, predictions: list[Any], examples: datasets.Dataset, language: str) -> dict[str, float]:
        """No gold (BUCC test files as XTREME ships them) scores nothing: predictions are still written."""
        references = self.references(examples)
        if not references:
            log.warning("%s %s: no gold pairs; predictions are written but not scored", self.task.name, language)
            return {}
        return metrics.compute(self.metric_family, predictions, references, language=language)
