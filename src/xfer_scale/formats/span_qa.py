"""Extractive question answering (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): a span of the context.

Encoding follows XTREME's and jiant's SQuAD code, the code the paper's numbers come from:
question first (cut to `max_query_length` tokens), context second, and a context longer than
the window is split into windows that start `doc_stride` tokens apart. (transformers'
`run_qa` reads its `doc_stride` as the overlap of two windows instead; 128 means a different
split there.) A window that does not hold the whole answer is labelled as pointing at <s>.

Decoding is per example over all its windows: the best-scoring valid span among the `n_best`
start and end tokens of each window, no longer than `max_answer_length` tokens, its text cut
from the context by the tokenizer's character offsets. With `unanswerable: true` (SQuAD v2)
the answer is "" when the null score (<s> as start and end, the lowest over the windows)
beats the best span.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import datasets
import numpy as np
import torch
from torch import nn

from xfer_scale import metrics
from xfer_scale.errors import UserError
from xfer_scale.fields import TEXT, Field, squad_answers
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, check_options, register
from xfer_scale.prediction_kinds import ANSWERS

#: format_options and their defaults: XTREME's run_squad settings
OPTIONS: dict[str, Any] = {
    "doc_stride": 128,
    "max_query_length": 64,
    "max_answer_length": 30,
    "n_best": 20,
    "unanswerable": False,
}

NOT_CONTEXT = -1  # the character offset of a token outside the context (question, specials)


def _options(task: Any) -> dict[str, Any]:
    check_options(task, list(OPTIONS))
    options = {**OPTIONS, **dict(task.format_options or {})}
    for key, default in OPTIONS.items():
        value = options[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise UserError(f"task {task.name}: format_options.{key}={value!r} must be true or false.")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UserError(f"task {task.name}: format_options.{key}={value!r} must be a positive whole number.")
    return options


def answer_tokens(starts: Sequence[int], ends: Sequence[int], start_char: int, end_char: int) -> tuple[int, int]:
    """Token indices of the answer characters [start_char, end_char) in one window, or (0, 0)
    (<s>) when the window does not hold all of them. `starts`/`ends` are the tokens' character
    offsets in the context, NOT_CONTEXT for other tokens."""
    context = [i for i, start in enumerate(starts) if start != NOT_CONTEXT]
    if not context or starts[context[0]] > start_char or ends[context[-1]] < end_char:
        return 0, 0
    start = max(i for i in context if starts[i] <= start_char)
    end = min(i for i in context if ends[i] >= end_char)
    return start, max(start, end)


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, in_context: np.ndarray, n_best: int,
              max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, start token, end token) of the best valid span of one window, or None.

    As XTREME and run_qa: only the `n_best` highest start and end logits are candidates; a
    span must lie in the context, not end before it starts, and be at most
    `max_answer_length` tokens long.
    """
    starts = np.argsort(-start_logits, kind="stable")[:n_best, None]
    ends = np.argsort(-end_logits, kind="stable")[None, :n_best]
    valid = in_context[starts] & in_context[ends] & (ends >= starts) & (ends - starts < max_answer_length)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[starts] + end_logits[ends], -np.inf)
    row, column = np.unravel_index(np.argmax(scores), scores.shape)
    return float(scores[row, column]), int(starts[row, 0]), int(ends[0, column])


@register("span_qa")
class SpanQA(Format):
    produces = (ANSWERS,)
    model_inputs = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
    fields = {"id": Field(TEXT), "context": Field(TEXT), "question": Field(TEXT),
              "answers": Field(squad_answers(unanswerable=False))}

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        self.options = _options(task)
        if self.options["unanswerable"] and self.metric_family != "squad":
            raise UserError(f"task {task.name}: unanswerable questions are scored as SQuAD v2 does; use metric: squad.")

    @classmethod
    def fields_of(cls, task: Any) -> dict[str, Field]:
        """A training question may lack an answer where the task has unanswerable ones (SQuAD v2)."""
        return {**cls.fields, "answers": Field(squad_answers(_options(task)["unanswerable"]))}

    # -- encoding ---------------------------------------------------------------------------

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            features: dict[str, list] = defaultdict(list)
            for feature in self._windows(tokenizer, batch, max_length):
                for key, value in feature.items():
                    features[key].append(value)
            return dict(features)

        return encode_indexed(examples, tokenize)

    def _questions(self, tokenizer: Any, questions: list[str], max_length: int) -> tuple[list[str], list[int]]:
        """Questions cut to `max_query_length` tokens (and to half the window, so the context
        always keeps room) as XTREME does, and their lengths in tokens."""
        limit = min(self.options["max_query_length"], max_length // 2)
        offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        cut = [q if len(spans) <= limit else q[: spans[limit - 1][1]] for q, spans in zip(questions, offsets)]
        return cut, [len(ids) for ids in tokenizer(cut, add_special_tokens=False)["input_ids"]]

    def _step(self, room: int, question_length: int, max_length: int) -> int:
        """How far a window moves: `doc_stride`, or half the context room where that does not
        fit (the smoke experiment's max_length of 64), so windows always overlap."""
        if room < 2:
            raise UserError(
                f"max_length={max_length} leaves no room for the context after a {question_length}-token "
                "question; use a max_length of at least 32 for question answering."
            )
        return self.options["doc_stride"] if self.options["doc_stride"] < room else room // 2

    def _windows(self, tokenizer: Any, batch: dict[str, list], max_length: int) -> Iterable[dict[str, Any]]:
        """Every window of every example of the batch, in example order.

        The tokenizer's overflow `stride` is the overlap of two windows, which for a fixed
        step depends on the question's length: examples are encoded in groups of equal
        question length, one overlap per group.
        """
        questions, lengths = self._questions(tokenizer, [q.lstrip() for q in batch["question"]], max_length)
        by_length: dict[int, list[int]] = defaultdict(list)
        for row, length in enumerate(lengths):
            by_length[length].append(row)
        specials = tokenizer.num_special_tokens_to_add(pair=True)
        windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for length, rows in by_length.items():
            room = max_length - specials - length
            encoded = tokenizer(
                [questions[row] for row in rows], [batch["context"][row] for row in rows],
                truncation="only_second", max_length=max_length, stride=room - self._step(room, length, max_length),
                return_overflowing_tokens=True, return_offsets_mapping=True,
            )
            for window, sample in enumerate(encoded["overflow_to_sample_mapping"]):
                row = rows[sample]
                parts = encoded.sequence_ids(window)
                spans = [span if part == 1 else (NOT_CONTEXT, NOT_CONTEXT)
                         for span, part in zip(encoded["offset_mapping"][window], parts)]
                starts, ends = [span[0] for span in spans], [span[1] for span in spans]
                start, end = self._label(starts, ends, batch["answers"][row])
                windows[row].append({
                    **{key: encoded[key][window] for key in ("input_ids", "attention_mask", "token_type_ids")
                       if key in encoded},
                    "start_positions": start,
                    "end_positions": end,
                    "offset_start": starts,
                    "offset_end": ends,
                    "example_index": batch["example_index"][row],
                })
        for row in range(len(questions)):
            yield from windows[row]

    @staticmethod
    def _label(starts: list[int], ends: list[int], answers: dict[str, list]) -> tuple[int, int]:
        """The first gold answer, as XTREME and run_qa train; no answer points at <s>."""
        if not answers["text"]:
            return 0, 0
        start = answers["answer_start"][0]
        return answer_tokens(starts, ends, start, start + len(answers["text"][0]))

    # -- model ------------------------------------------------------------------------------

    def head(self, hidden_size: int, dropout: float) -> nn.Module:
        return nn.Linear(hidden_size, 2)  # start and end logit per token, no dropout, as XLMRobertaForQuestionAnswering

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], accelerator: Any) -> torch.Tensor:
        """Mean of the start and end cross entropies over the real (unpadded) tokens."""
        logits = logits.float().masked_fill(~batch["attention_mask"].bool()[..., None], -1e4)
        start = nn.functional.cross_entropy(logits[..., 0], batch["start_positions"])
        end = nn.functional.cross_entropy(logits[..., 1], batch["end_positions"])
        return (start + end) / 2

    # -- decoding and scoring ---------------------------------------------------------------

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[str]:
        """The answer text of each example, in the examples' order ("" for no answer)."""
        contexts = examples["context"]
        best: dict[int, tuple[float, str]] = {}
        null = [math.inf] * len(examples)
        columns = zip(logits, features["offset_start"], features["offset_end"], features["example_index"])
        for feature_logits, starts, ends, index in columns:
            start_logits, end_logits = feature_logits[:, 0].numpy(), feature_logits[:, 1].numpy()
            null[index] = min(null[index], float(start_logits[0] + end_logits[0]))
            in_context = np.asarray(starts) != NOT_CONTEXT
            span = best_span(start_logits, end_logits, in_context, self.options["n_best"], self.options["max_answer_length"])
            if span is not None and (index not in best or span[0] > best[index][0]):
                score, start, end = span
                best[index] = (score, contexts[index][starts[start]:ends[end]])
        answers = []
        for index in range(len(examples)):
            score, text = best.get(index, (-math.inf, ""))
            answers.append("" if self.options["unanswerable"] and null[index] > score else text)
        return answers

    def references(self, examples: datasets.Dataset) -> list[list[str]]:
        return [answers["text"] for answers in examples["answers"]]

    def submission(self, predictions: list[str], examples: datasets.Dataset) -> dict[str, str]:
        """Question id -> answer text, the shape of XTREME's QA prediction files."""
        return _by_id(examples["id"], predictions)

    def score(self, predictions: list[str], examples: datasets.Dataset, language: str) -> dict[str, float]:
        answers = _by_id(examples["id"], predictions)
        golds = _by_id(examples["id"], self.references(examples))
        if self.options["unanswerable"]:
            return squad_v2_scores(answers, golds)
        return metrics.compute(self.metric_family, answers, golds, language=language)


def _by_id(ids: list[str], values: list[Any]) -> dict[str, Any]:
    """Values keyed by question id; a repeated id would silently drop a question from scoring."""
    out = dict(zip(ids, values, strict=True))
    if len(out) < len(ids):
        twice = next(qid for qid, count in Counter(ids).items() if count > 1)
        raise UserError(f"question id {twice!r} appears twice in the data; give every question its own id.")
    return out


def squad_v2_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD v2.0's official EM and F1 (0-100): answerable questions as in v1.1, and a question
    without gold answers scores 1 exactly when the prediction normalises to nothing. As there,
    a question without a prediction scores 0."""
    answerable = {qid: golds for qid, golds in references.items() if golds}
    unanswerable = [qid for qid, golds in references.items() if not golds]
    correct_null = sum(qid in predictions and not metrics.normalize_squad(predictions[qid]) for qid in unanswerable)
    scores = metrics.squad_scores(predictions, answerable) if answerable else {"exact_match": 0.0, "f1": 0.0}
    return {
        name: (value * len(answerable) + 100.0 * correct_null) / len(references)
        for name, value in scores.items()
    }
