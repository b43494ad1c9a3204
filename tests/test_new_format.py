"""A format defined outside the package: registered, configured as data, trained and evaluated
by the pipeline without a line of the package knowing it.

The toy task predicts a sentence's first subword from the <s> vector through an output layer
tied to the input embeddings, the shape an MLM head has: a head that ties weights to the
embeddings must be expressible in a format alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pandas as pd
import torch
from omegaconf import OmegaConf
from torch import nn

from tests.test_config import compose_cfg
from xfer_scale import config, formats, pipeline
from xfer_scale.fields import TEXT, Field
from xfer_scale.formats.arrow import encode_indexed

SENTENCES = {
    "en": ["the cat sleeps", "a dog barks", "the bird sings", "a fish swims", "birds fly high", "cats purr softly"],
    "de": ["die Katze schläft", "ein Hund bellt", "der Vogel singt", "ein Fisch schwimmt", "Vögel fliegen", "Katzen"],
}


class TiedFirstToken(nn.Module):
    """Scores every vocabulary entry for the <s> position, with the embedding matrix as weights."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.transform = nn.Linear(encoder.config.hidden_size, encoder.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return self.transform(hidden) @ self.encoder.get_input_embeddings().weight.T


@formats.register("first_token")
class FirstToken(formats.Format):
    selection_metric = "accuracy"
    fields = {"text_a": Field(TEXT)}

    def encode(self, examples: datasets.Dataset, tokenizer: Any, max_length: int) -> datasets.Dataset:
        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = tokenizer(batch["text_a"], truncation=True, max_length=max_length)
            out["labels"] = [ids[1] for ids in out["input_ids"]]
            out["example_index"] = batch["example_index"]
            return out

        return encode_indexed(examples, tokenize)

    def build(self, encoder: nn.Module) -> nn.Module:
        return TiedFirstToken(encoder)

    def predict(self, logits, features, examples, basis=None) -> list[int]:
        by_example = dict(zip(features["example_index"], (int(row.argmax()) for row in logits)))
        return [by_example[i] for i in range(len(examples))]

    def references(self, examples: datasets.Dataset) -> list[Any]:
        return [None] * len(examples)  # the gold first subword lives in the features

    def score(self, predictions: list[int], examples: datasets.Dataset, language: str) -> dict[str, float]:
        gold = [self.first_subword[text] for text in examples["text_a"]]
        return {"accuracy": 100.0 * sum(p == g for p, g in zip(predictions, gold)) / len(gold)}


def toy_task(data_dir: Path) -> dict[str, Any]:
    local = {"path": "{lang}.tsv", "reader": "tsv", "fields": {"text_a": "sentence"}}
    return {
        "name": "first_token", "format": "first_token", "metric": "accuracy", "label_names": [], "data_dir": str(data_dir),
        "benchmark_languages": {"smoke": ["en", "de"]},
        "splits": {split: {"local": local} for split in ("train", "dev", "test")},
        "train": {"learning_rate": 3e-3, "epochs": 30, "batch_size": 6, "max_length": 16, "eval_every_steps": 10,
                  "early_stop_patience": None, "warmup_ratio": 0.0},
    }


def test_a_format_from_outside_the_package_trains_and_evaluates_through_the_pipeline(tmp_path: Path, cache_dir: Path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for language, sentences in SENTENCES.items():
        (data_dir / f"{language}.tsv").write_text("sentence\n" + "\n".join(sentences) + "\n")
    cfg = compose_cfg("experiment=smoke", "intermediate=none", f"cache.dir={cache_dir}")
    cfg.target = OmegaConf.merge(OmegaConf.structured(config.TargetConfig), toy_task(data_dir))
    assert "first_token" in formats.names("target") and "first_token" in formats.names("intermediate")

    from xfer_scale import modeling

    tokenizer = modeling.load_tokenizer(modeling.resolve(cfg.model, cfg.cache.dir))
    FirstToken.first_subword = {text: tokenizer(text)["input_ids"][1] for texts in SENTENCES.values() for text in texts}
    run_dir = pipeline.run(cfg, tmp_path / "run")

    results = pd.read_parquet(run_dir / "results.parquet").set_index(["language", "split"])
    assert sorted(results.index) == [("de", "dev"), ("de", "test"), ("en", "dev"), ("en", "test")]
    assert results.loc[("en", "test"), "value"] == 100.0  # six training sentences, learnt by heart
    assert (results.n_examples == 6).all() and results.metric.unique().tolist() == ["accuracy"]
    phases = pd.read_parquet(run_dir / "phases.parquet").set_index("phase")
    assert phases.loc["target", "steps"] == 30  # one batch an epoch
    manifest = modeling.read_manifest(str(run_dir / pipeline.TARGET_MODEL))
    assert manifest["head"] == {"format": "first_token", "label_names": []}
