"""The further task YAMLs on the data layer: release files to canonical rows, a split made of
several sources (ANLI+), a per-language source (XCOPA's English dev set is COPA's), a label
set read from the data (CCG), language lists, the XTREME recipe, and smoke runs of an MC and
a tagging target."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
from omegaconf import OmegaConf

from tests.conftest import run_cli
from tests.test_config import compose_cfg
from xfer_scale import catalog, config, data, formats
from xfer_scale.errors import UserError


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def jsonl(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def nli(premise: str, hypothesis: str, label: str, keys=("context", "hypothesis", "label")) -> dict:
    return dict(zip(keys, (premise, hypothesis, label)))


def write_anli_plus(root: Path) -> None:
    write(root / "anli" / "R1" / "train.jsonl", jsonl(nli("p1", "h1", "e"), nli("p2", "h2", "c")))
    write(root / "anli" / "R2" / "train.jsonl", jsonl(nli("p3", "h3", "n")))
    write(root / "anli" / "R3" / "train.jsonl", jsonl(nli("p4", "h4", "c")))
    snli = ("sentence1", "sentence2", "gold_label")
    write(root / "snli" / "snli_1.0_train.jsonl",
          jsonl(nli("s1", "t1", "neutral", snli), nli("s2", "t2", "-", snli), nli("s3", "t3", "entailment", snli)))
    write(root / "mnli" / "train.tsv", "sentence1\tsentence2\tgold_label\nm1\tn1\tcontradiction\nm2\tn2\tneutral\n")


def test_anli_plus_is_the_anli_rounds_then_snli_then_mnli(tmp_path: Path):
    write_anli_plus(tmp_path)
    cfg = compose_cfg("intermediate=anli")
    rows = data.load_split(cfg.intermediate, "train", "en", str(tmp_path))
    assert len(rows) == 4 + 2 + 2  # SNLI's pair without a gold label ("-") is dropped
    assert rows["text_a"] == ["p1", "p2", "p3", "p4", "s1", "s3", "m1", "m2"]
    assert rows["label"] == [0, 2, 1, 2, 1, 0, 2, 1]


def test_anli_plus_from_the_hub_asks_for_each_source_once(monkeypatch):
    nli_features = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"])})
    sizes = {"facebook/anli": 3, "stanfordnlp/snli": 4, "nyu-mll/glue": 2}
    calls = []

    def load_dataset(path, name=None, split=None, revision=None):
        calls.append((path, name, split))
        labels = [-1 if i == 1 and path == "stanfordnlp/snli" else i % 3 for i in range(sizes[path])]
        return datasets.Dataset.from_dict({"premise": [path] * len(labels), "hypothesis": ["h"] * len(labels),
                                           "label": labels}, features=nli_features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    cfg = compose_cfg("intermediate=anli")
    rows = data.load_split(cfg.intermediate, "train", "en", data_root=None)
    assert calls == [("facebook/anli", None, "train_r1+train_r2+train_r3"), ("stanfordnlp/snli", None, "train"),
                     ("nyu-mll/glue", "mnli", "train")]
    assert len(rows) == 3 + 3 + 2 and rows["text_a"].count("stanfordnlp/snli") == 3


def test_bundled_anli_plus_smoke_data_counts():
    cfg = compose_cfg("experiment=smoke", "intermediate=anli")
    assert len(data.load_split(cfg.intermediate, "train", "en", cfg.data.root)) == 90 + 57 + 600


def test_sources_of_one_split_must_give_the_same_columns(tmp_path: Path):
    write_anli_plus(tmp_path)
    cfg = compose_cfg("intermediate=anli")
    cfg.intermediate.splits.train.also[0].local.fields = {"text_a": "sentence1", "label": "gold_label"}
    with pytest.raises(UserError, match=r"anli train \[en\]: the split's sources give different columns"):
        data.load_split(cfg.intermediate, "train", "en", str(tmp_path))


def test_xcopa_english_dev_set_is_copa_and_the_others_are_xcopa(monkeypatch):
    copa_label = datasets.Features({"premise": datasets.Value("string"), "choice1": datasets.Value("string"),
                                    "choice2": datasets.Value("string"), "question": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["choice1", "choice2"])})
    calls = []

    def load_dataset(path, name=None, split=None, revision=None, **files):
        calls.append((path, name, split, revision, files))
        rows = {"premise": [path], "choice1": ["a"], "choice2": ["b"], "question": ["effect"], "label": [1]}
        return datasets.Dataset.from_dict(rows, features=copa_label if path == "aps/super_glue" else None)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    target = compose_cfg("target=xcopa", "benchmark=xtreme-r").target
    en = data.load_split(target, "dev", "en")
    et = data.load_split(target, "dev", "et")
    assert calls == [("aps/super_glue", None, "validation", "refs/convert/parquet", {"data_dir": "copa"}),
                     ("cambridgeltl/xcopa", "et", "validation", None, {})]
    assert en[0] == {"context": "aps/super_glue", "question": "effect", "choices": ["a", "b"], "label": 1}
    assert et[0]["label"] == 1


def test_bundled_xcopa_smoke_data_selects_on_copa():
    cfg = compose_cfg("experiment=smoke", "target=xcopa")
    assert len(data.load_split(cfg.target, "dev", "en", cfg.data.root)) == 60  # copa/val.jsonl
    assert len(data.load_split(cfg.target, "dev", "sw", cfg.data.root)) == 40  # xcopa/sw/val.sw.jsonl


@pytest.mark.parametrize("task, choices, dev_row", [
    ("cosmosqa", 4, (1, {  # valid.csv quotes this context: it holds commas and doubled quotes
        "context": 'The man sees the old book in the park, and then the doctor sells the new house with a friend. '
                   '"Really," I said.',
        "question": "What may be the reason for this?",
        "choices": ["does not carry the new bag.", "does not sell the new house.", "does not carry the new boat.",
                    "carries the new car."], "label": 3})),
    ("commonsenseqa", 5, (0, {
        "question": "What does the doctor do at the market?",
        "choices": ["does not sell the old car", "does not paint the red bag", "does not see the new house",
                    "does not see the new boat", "finds the new bag"], "label": 4})),
])
def test_bundled_multiple_choice_smoke_data_loads_as_released(task, choices, dev_row):
    """Cosmos QA's CSV and CommonsenseQA's nested jsonl as make_smoke_more.py writes them, read
    through the task configs: 200 training and 60 dev questions, every answer position used."""
    cfg = compose_cfg("experiment=smoke", f"intermediate={task}")
    splits = {split: data.load_split(cfg.intermediate, split, "en", cfg.data.root) for split in ("train", "dev")}
    assert {split: len(rows) for split, rows in splits.items()} == {"train": 200, "dev": 60}
    for rows in splits.values():
        assert {len(found) for found in rows["choices"]} == {choices}
        assert set(rows["label"]) == set(range(choices))
    index, expected = dev_row
    assert splits["dev"][index] == expected


RELEASE_FILES = [
    ("intermediate=hellaswag", "dev", "en", "hellaswag/hellaswag_val.jsonl",
     jsonl({"ctx_a": "A man sits.", "ctx_b": "he", "endings": ["a", "b", "c", "d"], "label": 3, "ind": 1}),
     {"context": "A man sits.", "question": "he", "choices": ["a", "b", "c", "d"], "label": 3}),
    ("intermediate=cosmosqa", "dev", "en", "cosmosqa/valid.csv",
     'id,context,question,answer0,answer1,answer2,answer3,label\nx1,"I ran, fast.",Why?,a,b,c,d,2\n',
     {"context": "I ran, fast.", "question": "Why?", "choices": ["a", "b", "c", "d"], "label": 2}),
    ("intermediate=commonsenseqa", "train", "en", "commonsenseqa/train_rand_split.jsonl",
     jsonl({"answerKey": "D", "id": "q1", "question": {"question_concept": "x", "stem": "Where?", "choices": [
         {"label": key, "text": key.lower()} for key in "ABCDE"]}}),
     {"question": "Where?", "choices": ["a", "b", "c", "d", "e"], "label": 3}),
    ("intermediate=qqp", "train", "en", "qqp/train.tsv",
     "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tHow?\tHow so?\t1\n",
     {"text_a": "How?", "text_b": "How so?", "label": 1}),
    ("target=pawsx", "test", "de", "pawsx/de/test_2k.tsv",
     'id\tsentence1\tsentence2\tlabel\n1\tEr sagt "ja.\tEr sagt ja.\t0\n',
     {"text_a": 'Er sagt "ja.', "text_b": "Er sagt ja.", "label": 0}),
    ("target=panx", "dev", "de", "panx/de-dev", "de:Anna\tB-PER\nde:liegt\tO\nde:12:30\tO\n\nde:Köln\tB-LOC\n",
     {"tokens": ["Anna", "liegt", "12:30"], "tags": [1, 0, 0]}),
    ("target=xcopa", "test", "it", "xcopa/it/test.it.jsonl",
     jsonl({"premise": "Piove.", "choice1": "A", "choice2": "B", "question": "cause", "label": 0, "idx": 1}),
     {"context": "Piove.", "question": "cause", "choices": ["A", "B"], "label": 0}),
]


@pytest.mark.parametrize("group, split, lang, path, content, first", RELEASE_FILES,
                         ids=[case[0].split("=")[1] for case in RELEASE_FILES])
def test_release_files_become_canonical_rows(tmp_path: Path, group, split, lang, path, content, first):
    write(tmp_path / path, content)
    cfg = compose_cfg(group, "benchmark=xtreme-r")
    task = cfg.intermediate if group.startswith("intermediate") else cfg.target
    assert data.load_split(task, split, lang, str(tmp_path))[0] == first


def ccg_auto(path: Path, *sentences: str) -> None:
    """A CCGbank AUTO file (LDC layout AUTO/<section>/wsj_*.auto): per sentence an `ID=` header
    and a derivation over `word|category` leaves."""
    lines = []
    for number, sentence in enumerate(sentences, 1):
        leaves = " ".join(f"(<L {cat} XX XX {word} {cat}>)" for word, cat in (w.split("|") for w in sentence.split()))
        lines += [f"ID={path.stem}.{number} PARSER=GOLD NUMPARSE=1", f"(<T S[dcl] 0 2> {leaves} )"]
    write(path, "\n".join(lines) + "\n")


def test_ccg_label_set_is_read_from_training_then_grows_with_unseen_dev_tags(tmp_path: Path):
    auto = tmp_path / "ccg" / "AUTO"
    ccg_auto(auto / "21" / "wsj_2100.auto", "Cats|N sleep|S\\NP")
    ccg_auto(auto / "02" / "wsj_0200.auto", "The|NP/N dog|N barks|S\\NP")
    ccg_auto(auto / "23" / "wsj_2300.auto", "Or|conj not|S/S")  # test section: in neither split
    ccg_auto(auto / "00" / "wsj_0001.auto", "A|NP/N bird|N and|conj")
    task = compose_cfg("intermediate=ccg").intermediate
    given = OmegaConf.to_container(task)
    train = data.load_split(task, "train", "en", str(tmp_path))
    assert train["tokens"] == [["The", "dog", "barks"], ["Cats", "sleep"]]  # sections in order
    assert data.label_names(train) == ["NP/N", "N", "S\\NP"] and train["tags"] == [[0, 1, 2], [1, 2]]
    fmt = formats.get(task).trained_on(train)
    head = fmt.head(8, 0.1)  # built, as training builds it, before dev is read
    dev = data.load_split(task, "dev", "en", str(tmp_path), fmt.label_names)
    assert dev["tags"] == [[0, 1, 3]] and data.label_names(dev) == ["NP/N", "N", "S\\NP", "conj"]
    assert head.out.out_features == 3 and fmt.selection_metric == "accuracy"
    assert fmt.references(dev) == [["NP/N", "N", "conj"]]  # an untrained tag: always an error
    assert OmegaConf.to_container(task) == given and not task.label_names  # the learnt names are data


def test_language_lists_follow_xtreme_and_xtreme_r():
    def languages(target: str, benchmark: str) -> list[str]:
        return config.target_languages(compose_cfg(f"target={target}", f"benchmark={benchmark}"))

    assert languages("pawsx", "xtreme") == languages("pawsx", "xtreme-r") == ["de", "en", "es", "fr", "ja", "ko", "zh"]
    xtreme, xtreme_r = languages("panx", "xtreme"), languages("panx", "xtreme-r")
    assert len(xtreme) == 40 and set(xtreme_r) - set(xtreme) == {"qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"}
    assert languages("xcopa", "xtreme-r") == ["et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh"]
    with pytest.raises(UserError, match="benchmark=xtreme is not defined for target=xcopa"):
        languages("xcopa", "xtreme")


@pytest.mark.parametrize("target, learning_rate, eval_every", [
    ("xnli", 3e-5, 100), ("pawsx", 2e-5, 200), ("udpos", 2e-5, 500), ("panx", 2e-5, 1000), ("xcopa", 3e-5, 1000)])
def test_xtreme_recipe_replaces_the_papers_target_training(target, learning_rate, eval_every):
    paper = compose_cfg(f"target={target}").target.train
    xtreme = compose_cfg(f"target={target}", "recipe=xtreme").target.train
    assert (paper.learning_rate, paper.batch_size, paper.grad_accum, paper.max_length) == (1e-5, 4, 8, 256)
    assert (xtreme.learning_rate, xtreme.batch_size, xtreme.grad_accum, xtreme.max_length) == (learning_rate, 2, 16, 128)
    assert xtreme.eval_every_steps == eval_every and xtreme.early_stop_patience is None and xtreme.eval_examples is None


@pytest.mark.parametrize("target, metrics", [("xcopa", {"accuracy"}), ("panx", {"f1", "precision", "recall", "accuracy"})])
def test_smoke_run_scores_every_language_with_its_true_size(target, metrics, cache_dir: Path, tmp_path: Path):
    run_dir = tmp_path / target
    assert run_cli(f"target={target}", "intermediate=none", "target.train.max_steps=8", run_dir=run_dir, cache_dir=cache_dir) == 0
    frame = pd.read_parquet(run_dir / "results.parquet")
    languages = config.target_languages(compose_cfg("experiment=smoke", f"target={target}"))
    assert sorted(frame.language.unique()) == sorted(languages) and set(frame.metric) == metrics
    sizes = frame.groupby("split").n_examples.unique().map(list).to_dict()
    assert sizes == {"dev": [40], "test": [60]}
    assert len(frame) == len(languages) * 2 * len(metrics)
    assert frame.value.between(0, 100).all()


def test_no_shipped_hub_source_names_a_config_on_the_parquet_branch():
    """On `refs/convert/parquet` the original configs are folders (`data_dir`), not names: COPA's
    `name: copa` failed there with "BuilderConfig 'copa' not found. Available: ['default']"."""
    on_branch = []
    for task in catalog.load_tasks():
        for split, source in task.config.splits.items():
            for part in [source, *(source.get("also") or []), *(source.get("per_language") or {}).values()]:
                hub = part.get("hub")
                if hub is not None and hub.revision == data.PARQUET_BRANCH:
                    on_branch.append(task.name)
                    assert hub.name in (None, "default"), f"{task.name} {split}: use data_dir: {hub.name}"
    assert {"xcopa", "hellaswag", "siqa", "cosmosqa"} <= set(on_branch)
