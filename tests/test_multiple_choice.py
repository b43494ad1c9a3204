"""The multiple-choice format: texts from templates, one feature of choices x tokens per
example, nested padding, a (batch, choices) head, and decoding to the chosen index."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import datasets
import pytest
import torch
from omegaconf import OmegaConf

from xfer_scale import formats, modeling, tiny
from xfer_scale.config import TinyModelConfig
from xfer_scale.errors import UserError
from xfer_scale.formats.batching import feature_lengths, pad_batch

COPA_QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}


def mc_task(choices: int = 2, **options):
    return OmegaConf.create({"name": "mc", "format": "multiple_choice",
                             "label_names": [str(i) for i in range(choices)], "format_options": options})


@pytest.fixture(scope="module")
def tiny_path(cache_dir: Path) -> str:
    return str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig())))


@pytest.fixture(scope="module")
def tokenizer(tiny_path: str):
    return modeling.load_tokenizer(tiny_path)


def copa_examples() -> datasets.Dataset:
    return datasets.Dataset.from_dict({
        "context": ["The man fell.", "The woman sings in the park.", "The child buys the red car."],
        "question": ["cause", "effect", "cause"],
        "choices": [["He slipped.", "He laughed."], ["People listen.", "People do not listen."],
                    ["He had money.", "He had no money at all, not even a little bit."]],
        "label": [0, 0, 1],
    })


def test_copa_pairs_word_the_question_as_jiant_does():
    fmt = formats.get(mc_task(question_text=COPA_QUESTIONS))
    assert fmt.pairs("The man fell.", "cause", ["He slipped.", "He laughed."], 0) == [
        ("The man fell. What was the cause of this?", "He slipped."),
        ("The man fell. What was the cause of this?", "He laughed."),
    ]


def test_hellaswag_template_continues_ctx_b_and_empty_parts_leave_no_spaces():
    fmt = formats.get(mc_task(4, prompt="{context}", choice="{question} {choice}"))
    pairs = fmt.pairs("A man sits.", "the man", ["eats.", "runs.", "sleeps.", "reads."], 0)
    assert pairs[2] == ("A man sits.", "the man sleeps.")
    assert fmt.pairs("A man sits.", "", ["a", "b", "c", "d"], 0)[0] == ("A man sits.", "a")
    plain = formats.get(mc_task(2))
    assert plain.pairs("", "Where do fish live?", ["sea", "tree"], 0)[1] == ("Where do fish live?", "tree")


@pytest.mark.parametrize("task, call, message", [
    (mc_task(2), ("c", "q", ["a", "b", "c"], 7), r"example 7 has 3 choices, but the task has 2"),
    (mc_task(2, question_text=COPA_QUESTIONS), ("c", "why", ["a", "b"], 3), r"question 'why'.*maps: cause, effect"),
])
def test_bad_examples_name_the_problem(task, call, message):
    with pytest.raises(UserError, match=message):
        formats.get(task).pairs(*call)


def test_bad_template_is_refused_when_the_task_is_set_up():
    with pytest.raises(UserError, match=r"format_options.choice='\{ending\}'.*\{context\}, \{question\}, \{choice\}"):
        formats.get(mc_task(2, choice="{ending}"))
    with pytest.raises(UserError, match=r"unknown multiple_choice format_options promt; valid: prompt, choice"):
        formats.get(mc_task(2, promt="{context}"))


def test_encode_gives_one_feature_of_choices_by_tokens_per_example(tokenizer):
    fmt = formats.get(mc_task(question_text=COPA_QUESTIONS))
    examples = copa_examples()
    features = fmt.encode(examples, tokenizer, max_length=256)
    assert len(features) == 3 and features["example_index"] == [0, 1, 2] and features["labels"] == [0, 0, 1]
    first = features[0]
    assert [len(choice) for choice in first["input_ids"]] == [len(mask) for mask in first["attention_mask"]]
    expected = tokenizer("The man fell. What was the cause of this?", "He laughed.")["input_ids"]
    assert first["input_ids"][1] == expected and expected[0] == tokenizer.bos_token_id
    assert feature_lengths(features).tolist() == [max(map(len, ids)) for ids in features["input_ids"]]
    short = fmt.encode(examples, tokenizer, max_length=24)
    assert [max(map(len, ids)) for ids in short["input_ids"]] == [24, 24, 24]  # pairs are cut to max_length
    questions_only = datasets.Dataset.from_dict({"question": ["Where?"], "choices": [["sea", "tree"]], "label": [1]})
    assert formats.get(mc_task(2)).encode(questions_only, tokenizer, 64)["input_ids"][0][0] == \
        tokenizer("Where?", "sea")["input_ids"]  # CommonsenseQA: no context column


def test_pad_batch_pads_every_choice_to_one_width():
    batch = pad_batch([
        {"input_ids": [[0, 5, 2], [0, 5, 6, 7, 2]], "attention_mask": [[1, 1, 1], [1, 1, 1, 1, 1]], "labels": 1},
        {"input_ids": [[0, 2], [0, 8, 2]], "attention_mask": [[1, 1], [1, 1, 1]], "labels": 0},
    ], pad_token_id=1)
    assert batch["input_ids"].shape == (2, 2, 5) and batch["labels"].tolist() == [1, 0]
    assert batch["input_ids"][1, 0].tolist() == [0, 2, 1, 1, 1]
    assert batch["attention_mask"].sum().item() == 13


def test_model_scores_each_choice_as_if_it_were_alone(tiny_path, tokenizer):
    """Flattening choices into the encoder's batch and back keeps every score in its place."""
    fmt = formats.get(mc_task(question_text=COPA_QUESTIONS))
    features = fmt.encode(copa_examples(), tokenizer, max_length=32)
    model = modeling.load(tiny_path, fmt, with_head=False).eval()
    rows = [{k: f[k] for k in ("input_ids", "attention_mask", "labels")} for f in features]
    batch = pad_batch(rows, tokenizer.pad_token_id)
    with torch.no_grad():
        logits = model(**batch)
        alone = model(input_ids=torch.tensor([[rows[2]["input_ids"][1]]]),
                      attention_mask=torch.tensor([[rows[2]["attention_mask"][1]]]))
    assert logits.shape == (3, 2) and alone.shape == (1, 1)
    assert torch.allclose(logits[2, 1], alone[0, 0], atol=1e-5)
    assert torch.isfinite(fmt.loss(logits, batch, None))


def test_predictions_are_chosen_indices_scored_as_accuracy():
    fmt = formats.get(mc_task(question_text=COPA_QUESTIONS))
    examples = copa_examples()
    features = datasets.Dataset.from_dict({"example_index": [0, 1, 2]})
    logits = [torch.tensor([0.3, 0.1]), torch.tensor([-1.0, 2.0]), torch.tensor([0.0, 4.0])]
    predictions = fmt.predict(logits, features, examples)
    assert predictions == [0, 1, 1]
    assert fmt.score(predictions, examples, "et") == {"accuracy": pytest.approx(200 / 3)}
