"""Multiple choice (COPA/XCOPA, HellaSwag, Cosmos QA, CommonsenseQA): one score per choice.

An example is one feature holding a (prompt, choice) sequence pair per choice; each pair is
scored from its <s> and a softmax across the choices picks one, as jiant (which ran the
paper) and XTREME-R do. How a task's fields become the two texts is data, not code: the
`format_options` templates below, so XCOPA and HellaSwag differ only in their YAML files.
"""

from __future__ import annotations

from typing import Any

import datasets
import torch
from torch import nn

from xfer_scale.errors import UserError
from xfer_scale.fields import CLASS, TEXT, TEXTS, Field
from xfer_scale.formats.arrow import encode_indexed
from xfer_scale.formats.base import Format, check_options, register
from xfer_scale.formats.classification import ClassificationHead

#: jiant's assembly: "<context> <question>" against each choice
TEMPLATES = {"prompt": "{context} {question}", "choice": "{choice}"}
FIELDS = ("context", "question", "choice")


class MultipleChoiceHead(nn.Module):
    """jiant's choice scorer: XLM-R's classification head with a single output, per choice."""

    def __init__(self, hidden_size: int, dropout: float):
        super().__init__()
        self.score = ClassificationHead(hidden_size, 1, dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, choices, length, hidden) -> (batch, choices) logits."""
        batch, choices = hidden.shape[:2]
        return self.score(hidden.flatten(0, 1)).view(batch, choices)


def _template(task: Any, key: str) -> str:
    template = task.format_options.get(key, TEMPLATES[key])
    try:
        template.format(**dict.fromkeys(FIELDS, ""))
    except (KeyError, IndexError, ValueError) as error:
        raise UserError(
            f"task {task.name}: format_options.{key}={template!r} is not a valid template ({error}); "
            f"use the fields {', '.join('{' + f + '}' for f in FIELDS)}."
        ) from None
    return template


@register("multiple_choice")
class MultipleChoice(Format):
    """Canonical rows: `context`, `question` (may be empty), `choices` (one text per label
    name), `label` (the correct choice's index).

    `format_options`: `prompt` and `choice` are templates over {context}, {question} and
    {choice} for the two texts of a pair (default "{context} {question}" and "{choice}";
    HellaSwag continues ctx_b with each ending: choice "{question} {choice}");
    `question_text` maps a raw question to its wording (COPA's `cause` becomes "What was the
    cause of this?", as in jiant).
    """

    fields = {"context": Field(TEXT, required=False), "question": Field(TEXT, required=False),
              "choices": Field(TEXTS), "label": Field(CLASS, stratifies=True)}

    def __init__(self, task: Any, device: torch.device | None = None):
        super().__init__(task, device)
        check_options(task, [*TEMPLATES, "question_text"])
        self.prompt = _template(task, "prompt")
        self.choice = _template(task, "choice")
        self.question_text = dict(task.format_options.get("question_text") or {})

    def _question(self, raw: str, index: int) -> str:
        if not self.question_text:
            return raw
        if raw not in self.question_text:
            raise UserError(
                f"task {self.task.name}: example {index} has question {raw!r}, which "
                f"format_options.question_text does not map (it maps: {', '.join(self.question_text)})."
            )
        return self.question_text[raw]

    def pairs(self, context: str, question: str, choices: list[str], index: int) -> list[tuple[str, str]]:
        """The (prompt, choice) texts of one example; `index` names it in errors."""
        if len(choices) != self.num_labels:
            raise UserError(
                f"task {self.task.name}: example {index} has {len(choices)} choices, but the task has "
                f"{self.num_labels} (its label_names); fix the data or label_names."
            )
        fields = {"context": context, "question": self._question(question, index)}
        prompt = self.prompt.format(**fields, choice="").strip()
        return [(prompt, self.choice.format(**fields, choice=choice).strip()) for choice in choices]

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            absent = [""] * len(batch["choices"])  # e.g. CommonsenseQA: a question and no context
            pairs = [
                pair
                for index, context, question, choices in zip(
                    batch["example_index"], batch.get("context", absent), batch.get("question", absent),
                    batch["choices"])
                for pair in self.pairs(context, question, choices, index)
            ]
            flat = tokenizer([p for p, _ in pairs], [c for _, c in pairs], truncation=True, max_length=max_length)
            n = self.num_labels
            out = {key: [flat[key][i:i + n] for i in range(0, len(pairs), n)]
                   for key in ("input_ids", "attention_mask", "token_type_ids") if key in flat}
            out["labels"] = batch["label"]
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def head(self, hidden_size: int, dropout: float) -> nn.Module:
        return MultipleChoiceHead(hidden_size, dropout)

    def predict(self, logits: list[torch.Tensor], features: datasets.Dataset, examples: datasets.Dataset,
                basis: Any = None) -> list[Any]:
        """The chosen index of each example (XTREME-R's XCOPA submissions hold the index)."""
        chosen = dict(zip(features["example_index"], (int(row.argmax()) for row in logits)))
        return [chosen[i] for i in range(len(examples))]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        return list(examples["label"])
