"""The paper's control conditions in phase 1: multilingual MLM mixed into the task's batches,
MLM alone, and the task machine-translated (docs/controls.md)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from omegaconf import OmegaConf
from safetensors import safe_open

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import config, controls, data, identity, mlm_corpus, modeling, tiny, training, translate_train
from xfer_scale.config import TinyModelConfig
from xfer_scale.errors import UserError
from xfer_scale.formats.base import Amount, Loader
from xfer_scale.formats.batching import IGNORE_INDEX
from xfer_scale.formats.mlm import MASK_PROBABILITY, NAME, TiedLMHead

FAST = ("intermediate.fraction=0.5", "target.languages=[en,de]", "target.eval_splits=[test]")
ARMS = {  # the three controls: overrides, and the result columns they must carry
    "mlm_mix": (("intermediate=mnli", "intermediate.mlm.ratio=0.5"), "en", 0.5),
    "mlm_alone": (("intermediate=mlm",), None, 1.0),
    "translated": (("intermediate=mnli", "intermediate.languages=[de,es]"), "de,es", 0.0),
}


@pytest.fixture(scope="module")
def tiny_path(cache_dir: Path) -> str:
    return str(tiny.ensure(cache_dir, **dataclasses.asdict(TinyModelConfig())))


def smoke(*overrides: str):
    return compose_cfg("experiment=smoke", *overrides)


def phase1_key(*overrides: str) -> str:
    return identity.phase1_key(smoke(*overrides), 1)


# -- the three arms, end to end ---------------------------------------------------------------

@pytest.mark.parametrize("arm", list(ARMS))
def test_each_control_trains_and_evaluates_from_a_phase1_model_of_its_own(arm: str, tmp_path: Path, cache_dir: Path):
    overrides, languages, ratio = ARMS[arm]
    assert run_cli(*overrides, *FAST, run_dir=tmp_path / "run", cache_dir=cache_dir) == 0
    frame = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert sorted(frame.language) == ["de", "en"] and frame.value.between(0, 100).all()
    assert frame.intermediate_languages.tolist() == [languages] * 2 or (languages is None and frame.intermediate_languages.isna().all())
    assert frame.intermediate_mlm_ratio.unique().tolist() == [ratio]
    read_from = frame.intermediate_translations  # MNLI's default translations, XNLI-MT, for the translated arm
    assert read_from.tolist() == ["xnli_mt"] * 2 if arm == "translated" else read_from.isna().all()
    entry = cache_dir / "intermediate" / phase1_key(*overrides, *FAST)
    assert (entry / "meta.json").is_file()
    with safe_open(str(entry / "model.safetensors"), "pt") as saved:  # the encoder alone: no MLM head
        assert not [key for key in saved.keys() if "lm_head" in key or key.startswith("head")]
    assert json.loads((entry / modeling.MANIFEST_FILE).read_text())["head"] is None


def test_the_three_controls_and_english_are_four_phase1_models_and_four_arms():
    settings = [(*overrides, *FAST) for overrides, _, _ in ARMS.values()] + [("intermediate=mnli", *FAST)]
    assert len({phase1_key(*s) for s in settings}) == 4
    assert len({identity.run_keys(smoke(*s), 1).arm for s in settings}) == 4


# -- MLM mixed into phase 1 -------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.75])
def test_mlm_batches_are_the_configured_share_of_the_phase(ratio: float, tiny_path: str):
    cfg = smoke("intermediate=mnli", f"intermediate.mlm.ratio={ratio}", "intermediate.fraction=0.25")
    inter = cfg.intermediate
    fmt = controls.intermediate_format(inter)
    tokenizer = modeling.load_tokenizer(tiny_path)
    training_set = fmt.training_set(Loader(cfg.data.root), Amount(0.25, None, 1))
    features = fmt.encode(training_set.examples, tokenizer, 64)
    lengths = fmt.lengths(features)
    counts = {0: 0, 1: 0}
    for epoch in range(int(inter.train.epochs)):
        epoch_counts = {0: 0, 1: 0}
        for batch in fmt.batches(features, lengths, inter.train.batch_size, 1 + epoch):
            epoch_counts[int(features.offsets.searchsorted(batch[0], side="right")) - 1] += 1
        assert abs(epoch_counts[1] - ratio * sum(epoch_counts.values())) <= 1
        counts = {part: counts[part] + epoch_counts[part] for part in counts}
    assert abs(counts[1] - ratio * sum(counts.values())) <= 1
    # the text holds as many batches as the phase takes from it: none is repeated for want of text
    assert len(features.parts[1]) >= counts[1] * inter.train.batch_size
    assert len(training_set.examples) == 150  # the amount of intermediate data is the task's


def test_the_lm_head_is_tied_to_the_input_embeddings_and_the_mlm_loss_falls(tiny_path: str):
    cfg = smoke("intermediate=mlm")
    fmt = controls.intermediate_format(cfg.intermediate)
    tokenizer = modeling.load_tokenizer(tiny_path)
    text = fmt.text(Loader(cfg.data.root), 448, seed=0).examples
    features = fmt.encode(text, tokenizer, 64)
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    torch.manual_seed(0)
    model = modeling.load(tiny_path, fmt, with_head=False)
    assert isinstance(model.head, TiedLMHead)
    assert model.head.embeddings.weight is model.encoder.get_input_embeddings().weight
    assert not [key for key in model.state_dict() if key.startswith("head.") and "embeddings" in key]  # stored once

    held_out = fmt.encode(fmt.text(Loader(cfg.data.root), 64, seed=99).examples, tokenizer, 64)
    collate = fmt.collator(held_out, tokenizer.pad_token_id)

    def held_out_loss() -> float:
        torch.manual_seed(5)  # the same masks each time
        batch = collate([held_out[i] for i in range(len(held_out))])
        model.eval()
        with torch.no_grad():
            return float(fmt.loss(model(**batch), batch, None))

    before = held_out_loss()
    train_cfg = OmegaConf.structured(config.TrainConfig(learning_rate=2e-3, epochs=6, batch_size=16, warmup_ratio=0.0))
    model.train()
    training.train(phase="test", model=model, fmt=fmt, features=features, dev=None, cfg=train_cfg,
                   accelerator=Accelerator(cpu=True), seed=3, pad_token_id=tokenizer.pad_token_id)
    after = held_out_loss()
    assert after < 0.8 * before, (before, after)
    assert model.head.embeddings.weight is model.encoder.get_input_embeddings().weight  # still tied


def test_the_lm_head_is_the_checkpoints_own_where_it_has_one(tiny_path: str, tmp_path: Path):
    """An XLM-R checkpoint saved with its LM head (as FacebookAI/xlm-roberta-large is): the head
    starts from those weights, its output layer the encoder's embeddings."""
    from transformers import AutoConfig, XLMRobertaForMaskedLM

    torch.manual_seed(1)
    pretrained = XLMRobertaForMaskedLM(AutoConfig.from_pretrained(tiny_path))
    pretrained.save_pretrained(tmp_path / "xlmr")
    model = controls.intermediate_format(smoke("intermediate=mlm").intermediate).build(
        modeling.load_encoder(str(tmp_path / "xlmr")))
    for name in ("dense.weight", "dense.bias", "layer_norm.weight", "bias"):
        torch.testing.assert_close(model.head.state_dict()[name], pretrained.lm_head.state_dict()[name], msg=name)
    torch.testing.assert_close(model.head.embeddings.weight, pretrained.roberta.get_input_embeddings().weight)


def test_masking_is_xlmrs_and_leaves_special_tokens_alone(tiny_path: str):
    cfg = smoke("intermediate=mlm")
    fmt = controls.intermediate_format(cfg.intermediate)
    tokenizer = modeling.load_tokenizer(tiny_path)
    features = fmt.encode(fmt.text(Loader(cfg.data.root), 600, seed=0).examples, tokenizer, 64)
    torch.manual_seed(0)
    batch = fmt.collator(features, tokenizer.pad_token_id)([features[i] for i in range(len(features))])
    masked = batch["labels"] != IGNORE_INDEX
    original = torch.where(masked, batch["labels"], batch["input_ids"])
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids))  # <s>, </s>, padding
    assert not (masked & special).any()
    assert abs(masked.sum() / (~special).sum() - MASK_PROBABILITY) < 0.02
    replaced = (batch["input_ids"][masked] == tokenizer.mask_token_id).float().mean()
    kept = (batch["input_ids"][masked] == original[masked]).float().mean()
    assert abs(replaced - 0.8) < 0.05 and 0.05 < kept < 0.15  # 80% <mask>, 10% random, 10% kept


# -- the MLM text -----------------------------------------------------------------------------

def test_languages_are_sampled_by_exponent_smoothed_size():
    sizes = {"en": 900.0, "sw": 100.0}
    assert mlm_corpus.language_shares(sizes, 1.0) == pytest.approx({"en": 0.9, "sw": 0.1})
    assert mlm_corpus.language_shares(sizes, 0.0) == pytest.approx({"en": 0.5, "sw": 0.5})
    smoothed = mlm_corpus.language_shares(sizes, 0.3)
    assert 0.1 < smoothed["sw"] < 0.5 and smoothed["en"] == pytest.approx(0.9**0.3 / (0.9**0.3 + 0.1**0.3))
    counts = mlm_corpus.apportion(101, smoothed)
    assert sum(counts.values()) == 101 and abs(counts["sw"] - 101 * smoothed["sw"]) < 1


def test_local_text_is_drawn_lazily_deterministically_and_nested(tmp_path: Path):
    corpus = tmp_path / "de.txt"
    corpus.write_text("".join(f"Absatz {i}.\n" + ("\n" if i % 7 == 0 else "") for i in range(500)), encoding="utf-8")
    text = mlm_corpus.LocalText([corpus])
    large = text.draw(50, np.random.default_rng([4, 2]))
    assert text.draw(20, np.random.default_rng([4, 2])) == large[:20]  # a smaller budget: the first of the larger
    assert all(line.startswith("Absatz ") for line in large) and len(set(large)) > 40
    assert mlm_corpus.LocalText([corpus]).draw(1, np.random.default_rng(0)) != [""]


def test_the_smoke_corpus_gives_every_language_its_share_sized_by_the_budget():
    cfg = smoke("intermediate=mlm")
    mlm = cfg.intermediate.mlm
    rows, counts = mlm_corpus.sample(mlm.corpus, list(mlm.languages), mlm.alpha, 300, 1, cfg.data.root)
    assert len(rows) == 300 and set(counts) == {"en", "de", "es", "fr", "sw"} and sum(counts.values()) == 300
    assert {lang: rows["language"].count(lang) for lang in counts} == counts


def test_the_hub_corpus_is_streamed_with_wikipedias_schema(monkeypatch: pytest.MonkeyPatch):
    """wikimedia/wikipedia, config 20231101.<lang>, split train: id, url, title, text (an article)."""
    articles = [{"id": str(i), "url": f"https://sw.wikipedia.org/wiki?curid={i}", "title": f"Makala {i}",
                 "text": f"Makala {i} aya ya kwanza.\n\nAya ya pili ya makala {i}."} for i in range(40)]
    calls = []

    def load_dataset(path, name, split, revision, streaming):
        calls.append((path, name, split, streaming))
        return datasets.IterableDataset.from_generator(lambda: iter(articles))

    monkeypatch.setattr(mlm_corpus.datasets, "load_dataset", load_dataset)
    cfg = compose_cfg("intermediate=mlm", "target.languages=[sw]", "intermediate.mlm.alpha=0")
    rows, counts = mlm_corpus.sample(cfg.intermediate.mlm.corpus, ["sw"], 0.0, 15, 1, None)
    assert calls == [("wikimedia/wikipedia", "20231101.sw", "train", True)] and counts == {"sw": 15}
    assert all(text.startswith(("Makala", "Aya")) and "\n" not in text for text in rows["text"])


# -- translated intermediate data --------------------------------------------------------------

def test_translated_subsamples_take_the_same_examples_in_every_language():
    cfg = smoke("intermediate=mnli")
    fmt = controls.intermediate_format(cfg.intermediate)
    load = Loader(cfg.data.root)
    english = fmt.training_set(load, Amount(0.1, None, 7))
    translated = translate_train.training_set(fmt, load, Amount(0.1, None, 7, ("de", "en", "es")))
    assert translated.indices == english.indices and len(translated.examples) == 3 * len(english.examples) == 180
    assert translated.full_size == 3 * english.full_size  # the fraction stays 0.1
    german = load(cfg.intermediate, "train", "de").select(english.indices)
    rows = translated.examples
    assert rows[:60]["text_a"] == german["text_a"] and rows[60:120]["text_a"] == english.examples["text_a"]
    assert rows[:60]["label"] == rows[60:120]["label"] == rows[120:]["label"]
    smaller = translate_train.training_set(fmt, load, Amount(0.05, None, 7, ("de", "en", "es")))
    assert set(smaller.indices) < set(translated.indices)  # nested, as for English


def test_translations_pair_up_by_id_where_some_were_dropped():
    task = OmegaConf.create({"name": "squad_v1"})
    english = datasets.Dataset.from_dict({"id": ["q0", "q1", "q2", "q3"], "question": ["a", "b", "c", "d"]})
    german = datasets.Dataset.from_dict({"id": ["q3", "q0", "q2"], "question": ["D", "A", "C"]})  # q1 lost
    rows = translate_train.union(task, lambda task, split, lang: german, english, [0, 1, 3], ["de", "en"])
    assert rows["id"] == ["q0", "q3", "q0", "q1", "q3"] and rows["question"][:2] == ["A", "D"]


def test_a_translation_that_is_not_parallel_is_refused():
    task = OmegaConf.create({"name": "mnli"})
    english = datasets.Dataset.from_dict({"text_a": ["x", "y", "z"], "label": [0, 1, 2]})
    shifted = datasets.Dataset.from_dict({"text_a": ["y", "z", "x"], "label": [1, 2, 0]})
    with pytest.raises(UserError, match="row 1 has another label"):
        translate_train.union(task, lambda *_: shifted, english, [0, 1], ["de"])
    with pytest.raises(UserError, match="2 rows against 3 English rows"):
        translate_train.union(task, lambda *_: shifted.select([0, 1]), english, [0, 1], ["de"])


def test_the_hub_source_of_xnli_mt_reads_its_recorded_schema(monkeypatch: pytest.MonkeyPatch):
    """facebook/xnli, config <lang>, split train (XNLI-MT): premise, hypothesis, label as a
    ClassLabel over entailment, neutral, contradiction; 392,702 rows a language."""
    features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    calls = []

    def load_dataset(path, name, split, revision):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_dict({"premise": ["Der Mann malt.", "Die Frau kauft."],
                                           "hypothesis": ["Er malt.", "Sie kauft nicht."], "label": [0, 2]},
                                          features=features)

    monkeypatch.setattr(data.datasets, "load_dataset", load_dataset)
    rows = data.load_split(compose_cfg("intermediate=mnli").intermediate, "train", "de")
    assert calls == [("facebook/xnli", "de", "train", None)]
    assert rows.to_list() == [{"text_a": "Der Mann malt.", "text_b": "Er malt.", "label": 0},
                              {"text_a": "Die Frau kauft.", "text_b": "Sie kauft nicht.", "label": 2}]


def test_the_release_files_of_xnli_mt_spell_contradiction_their_own_way():
    cfg = smoke("intermediate=mnli")
    german = data.load_split(cfg.intermediate, "train", "de", cfg.data.root)
    english = data.load_split(cfg.intermediate, "train", "en", cfg.data.root)
    assert german["label"] == english["label"] and 2 in german["label"] and len(german) == 600


XTREME_MNLI = Path(__file__).parent / "fixtures" / "original" / "mnli_xtreme"  # GLUE train.tsv + XTREME's layout


def xtreme_mnli(data_dir: Path = XTREME_MNLI):
    return compose_cfg("intermediate=mnli", "intermediate.translations=xtreme", "intermediate.languages=[de,en]",
                       f"intermediate.data_dir={data_dir}").intermediate


def test_xtreme_translations_pair_up_with_the_english_rows_by_the_english_text_they_carry():
    """XTREME's MNLI rows are in another order, their English tokenized ("geography ."), and
    contradiction spelt "contradictory": each English row still gets its own translation."""
    task, load = xtreme_mnli(), Loader()
    english = load(task, "train")
    rows = translate_train.union(task, load, english, [7, 0, 3, 5], ["de", "en"])
    assert rows["text_a"][:4] == ['Er sagte: "Nun, ich bin mir nicht sicher."',
                                  "Konzeptionell hat die Sahneabschöpfung zwei Dimensionen - Produkt und Geographie.",
                                  "Woher weißt du das? All dies sind wieder ihre Informationen.",
                                  "Mein Walkman ist kaputt, also bin ich sauer, jetzt muss ich die Stereoanlage laut aufdrehen"]
    assert rows["label"][:4] == rows["label"][4:] == [2, 1, 0, 0]


def _edited(tmp_path: Path, edit) -> Path:
    """A copy of the XTREME fixture with its German file's rows passed through `edit`."""
    folder = tmp_path / "mnli"
    shutil.copytree(XTREME_MNLI, folder)
    german = folder / "translate-train" / "en-de-translated.tsv"
    german.write_text("".join(edit(german.read_text(encoding="utf-8").splitlines(keepends=True))), encoding="utf-8")
    return folder


@pytest.mark.parametrize("edit, message", [
    (lambda lines: [line for line in lines if not line.startswith("He said")],
     r"1 of the 8 chosen English rows have no translated row with the same English text .*the first: "
     r'He said, "Well, I\'m not sure." / He was certain.'),
    (lambda lines: [line.replace("\tcontradictory", "\tneutral") for line in lines],
     r"1 of the 8 chosen English rows are translated under another label; the first: He said"),
])
def test_a_translation_that_does_not_cover_the_english_rows_is_refused_naming_the_first(edit, message, tmp_path: Path):
    task, load = xtreme_mnli(_edited(tmp_path, edit)), Loader()
    english = load(task, "train")
    with pytest.raises(UserError, match=message):
        translate_train.union(task, load, english, list(range(8)), ["de"])


# -- refusals, before any training ---------------------------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (("intermediate=mnli", "intermediate.languages=[de,xx]"), "no training data in xx .*translations: ar bg de"),
    (("intermediate=hellaswag", "intermediate.languages=[de]"), r"no training data in de \(translations: none\)"),
    (("intermediate=mnli", "intermediate.languages=[]"), "in no language"),
    (("intermediate=mnli", "intermediate.mlm.ratio=1"), r"must be in \[0, 1\)"),
    (("intermediate=mlm", "intermediate.mlm.ratio=0.5"), "MLM text alone"),
    (("intermediate=multitask", "intermediate.mlm.ratio=0.5"), "into one trainable task"),
    (("intermediate=mlm", "intermediate.mlm.alpha=-1"), "must be >= 0"),
    (("intermediate=mnli", "intermediate.translations=xtreme"), r"intermediate.languages=\[en\] trains on none"),
    (("intermediate=mnli", "intermediate.languages=[de]", "intermediate.translations=google"),
     "mnli has no such translations; choose from: xnli_mt xtreme"),
    (("intermediate=squad_v1", "intermediate.languages=[de]", "intermediate.translations=xnli_mt"),
     "squad_v1 has no such translations; choose from: xtreme,"),
    (("intermediate=hellaswag", "intermediate.languages=[de]", "intermediate.translations=xtreme"),
     r"choose from: none \(it has no translated training data\)"),
    (("intermediate=mlm", "intermediate.translations=xtreme"), "mlm has no such translations"),
])
def test_a_control_that_cannot_apply_is_refused_before_training(overrides: tuple[str, ...], message: str):
    with pytest.raises(UserError, match=message):
        identity.run_id(smoke(*overrides), 1)


# -- identity ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["mnli", "multitask"])
def test_controls_that_are_off_leave_the_identity_as_it_was(task: str):
    """As it was before the controls existed: no control settings, no translation sources."""
    settings = identity.phase1_identity(smoke(f"intermediate={task}"), 1)["intermediate"]
    assert "mlm" not in settings and "languages" not in settings
    for part in [settings, *settings.get("tasks", {}).values()]:
        assert all(not split["per_language"] for split in part.get("splits", {}).values())
    assert phase1_key("intermediate.mlm.alpha=1") == phase1_key() == phase1_key("intermediate.languages=[en]")


def test_a_translation_counts_where_it_is_trained_on():
    settings = identity.phase1_identity(smoke("intermediate=mnli", "intermediate.languages=[de,es]"), 1)["intermediate"]
    assert sorted(settings["splits"]["train"]["per_language"]) == ["de", "es"]


def test_the_release_trained_on_is_part_of_the_phase1_key_and_its_default_adds_nothing():
    translated = ("intermediate.languages=[de,es]",)
    assert phase1_key(*translated, "intermediate.translations=xnli_mt") == phase1_key(*translated)
    assert phase1_key(*translated, "intermediate.translations=xtreme") != phase1_key(*translated)
    settings = identity.phase1_identity(smoke(*translated, "intermediate.translations=xtreme"), 1)["intermediate"]
    train = settings["splits"]["train"]
    assert settings["translations"] == "xtreme" and "translations" not in train
    assert train["per_language"]["de"]["local"]["path"] == "translate-train/en-{lang}-translated.tsv"
    assert train["english"] == {"text_a": "premise_en", "text_b": "hypothesis_en"}


@pytest.mark.parametrize("override", ["intermediate.mlm.alpha=1", "intermediate.mlm.languages=[en,de]", "target=udpos"])
def test_the_mlm_settings_are_part_of_the_phase1_key_where_mlm_is_mixed_in(override: str):
    """The MLM text's languages follow the target by default: another target, other text."""
    mixed = ("intermediate.mlm.ratio=0.5",)
    assert phase1_key(*mixed, override) != phase1_key(*mixed)


def test_training_languages_are_a_set():
    assert phase1_key("intermediate.languages=[de,es]") == phase1_key("intermediate.languages=[es,de,es]")
    assert phase1_key("intermediate.languages=[de,es]") != phase1_key("intermediate.languages=[de]")


def test_a_baseline_ignores_the_controls():
    plain = compose_cfg("experiment=smoke", "intermediate=none")
    with_controls = compose_cfg("experiment=smoke", "intermediate=none", "intermediate.mlm.ratio=0.5",
                                "intermediate.languages=[de]")
    assert identity.run_id(with_controls, 1) == identity.run_id(plain, 1)
    assert controls.result_columns(with_controls.intermediate) == {
        "intermediate_languages": None, "intermediate_translations": None, "intermediate_mlm_ratio": None}


def test_the_mlm_text_names_its_files_in_the_phase1_identity(tmp_path: Path):
    cfg = smoke("intermediate=mlm")
    files = [entry for entry in identity.phase1_identity(cfg, 1)["intermediate_files"] if entry[0] == NAME]
    assert [entry[2] for entry in files] == list(cfg.intermediate.mlm.languages)
    assert all(entry[3][0][0] == f"{entry[2]}.txt" for entry in files)
