"""Every XTREME-R (target, language) has a source that loads: the hub sources fixed or added for
XTREME-R's languages, checked against the schemas their repos record (a fake `load_dataset` asserts
the call and returns those features), the start-up stop for languages with local files only, and a
table over every target's XTREME-R languages.

Recorded schemas (evidence in the task files' comments and /tmp/notes/hub_evidence.md):
- aps/super_glue, Parquet branch folder copa/: premise, choice1, choice2, question, idx,
  label ClassLabel(choice1, choice2)
- google/xquad xquad.ro: id, context, question, answers{text, answer_start}
- mteb/tatoeba-bitext-mining <iso3>-eng, split test: sentence1 (the other language), sentence2 (English)
- unimelb-nlp/wikiann <lang>: tokens, ner_tags ClassLabel(O B-PER I-PER B-ORG I-ORG B-LOC I-LOC), langs, spans
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pytest

from tests.test_config import compose_cfg
from xfer_scale import catalog, data, identity, languages, read_plan
from xfer_scale.errors import UserError

PARQUET = "refs/convert/parquet"
WIKIANN_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
COPA_FEATURES = datasets.Features({
    "premise": datasets.Value("string"), "choice1": datasets.Value("string"), "choice2": datasets.Value("string"),
    "question": datasets.Value("string"), "idx": datasets.Value("int32"),
    "label": datasets.ClassLabel(names=["choice1", "choice2"]),
})
SQUAD_FEATURES = datasets.Features({
    "id": datasets.Value("string"), "context": datasets.Value("string"), "question": datasets.Value("string"),
    "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
})
MTEB_FEATURES = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string")})
WIKIANN_FEATURES = datasets.Features({
    "tokens": datasets.Sequence(datasets.Value("string")),
    "ner_tags": datasets.Sequence(datasets.ClassLabel(names=WIKIANN_TAGS)),
    "langs": datasets.Sequence(datasets.Value("string")), "spans": datasets.Sequence(datasets.Value("string")),
})
#: hub configs the evidence records, per repo (google/xtreme: XTREME's languages, checked apart)
RECORDED_CONFIGS = {
    "google/xquad": {"xquad.ro"},
    "mteb/tatoeba-bitext-mining": {"aze-eng", "lit-eng", "pol-eng", "ron-eng", "ukr-eng"},
    "unimelb-nlp/wikiann": {"az", "gu", "lt", "pa", "pl", "qu", "ro", "uk"},
    "aps/super_glue": {"copa/"},
}
#: the XTREME-R languages with no hub source whose schema is evidenced: original-release files only
LOCAL_ONLY = {"udpos": {"lt", "pl", "ro", "uk", "wo"}, "panx": set(), "tatoeba": set(), "xquad": set(),
              "xcopa": set()}
XTREME_R_TARGETS = [name for name in catalog.task_names("target")
                    if "xtreme-r" in compose_cfg(f"target={name}").target.benchmark_languages]


def fake_hub(monkeypatch: pytest.MonkeyPatch, expected: dict[str, Any], rows: dict[str, list],
             features: datasets.Features) -> list[dict[str, Any]]:
    """`datasets.load_dataset` that asserts its arguments are `expected` and returns `rows`."""
    calls: list[dict[str, Any]] = []

    def load_dataset(path, name=None, split=None, revision=None, **files):
        call = {"path": path, "name": name, "split": split, "revision": revision, **files}
        calls.append(call)
        assert call == expected
        return datasets.Dataset.from_dict(rows, features=features)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


@pytest.mark.parametrize("split, lang, hub_split", [("train", "en", "train"), ("dev", "en", "validation")])
def test_copa_loads_from_its_folder_on_the_parquet_branch(monkeypatch, split, lang, hub_split):
    """COPA (XCOPA's English training and selection data): `data_dir: copa`, no config name."""
    calls = fake_hub(monkeypatch, {"path": "aps/super_glue", "name": None, "split": hub_split, "revision": PARQUET,
                                   "data_dir": "copa"},
                     {"premise": ["The man broke his toe."], "choice1": ["He dropped a hammer."],
                      "choice2": ["He got a hole in his sock."], "question": ["cause"], "idx": [0], "label": [0]},
                     COPA_FEATURES)
    target = compose_cfg("target=xcopa", "benchmark=xtreme-r").target
    rows = data.load_split(target, split, lang)
    assert len(calls) == 1
    assert rows[0] == {"context": "The man broke his toe.", "question": "cause",
                       "choices": ["He dropped a hammer.", "He got a hole in his sock."], "label": 0}


def test_a_config_name_on_the_parquet_branch_is_refused_naming_data_dir(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("must not reach the hub"))
    target = compose_cfg("target=xcopa", "target.splits.train.hub.name=copa",
                         "target.splits.train.hub.data_dir=null").target
    with pytest.raises(UserError, match=r"xcopa train \[en\]: aps/super_glue at revision refs/convert/parquet has "
                                        r"no config 'copa'.*write `data_dir: copa` instead of `name`"):
        data.load_split(target, "train", "en")


def test_xquad_romanian_is_google_xquads_config(monkeypatch):
    context = "Bucureşti este capitala României."
    calls = fake_hub(monkeypatch, {"path": "google/xquad", "name": "xquad.ro", "split": "validation", "revision": None},
                     {"id": ["q1"], "context": [context], "question": ["Care este capitala?"],
                      "answers": [{"text": ["Bucureşti"], "answer_start": [0]}]}, SQUAD_FEATURES)
    target = compose_cfg("target=xquad", "benchmark=xtreme-r").target
    rows = data.load_split(target, "test", "ro")
    assert len(calls) == 1
    assert rows[0] == {"id": "q1", "context": context, "question": "Care este capitala?",
                       "answers": {"text": ["Bucureşti"], "answer_start": [0]}}


@pytest.mark.parametrize("lang", ["az", "lt", "pl", "ro", "uk"])
def test_xtreme_r_tatoeba_languages_load_from_the_mteb_mirror(monkeypatch, lang):
    iso3 = languages.language(lang).iso3
    calls = fake_hub(monkeypatch, {"path": "mteb/tatoeba-bitext-mining", "name": f"{iso3}-eng", "split": "test",
                                   "revision": None},
                     {"sentence1": [f"{lang} one", f"{lang} two"], "sentence2": ["one", "two"]}, MTEB_FEATURES)
    target = compose_cfg("target=tatoeba", "benchmark=xtreme-r").target
    rows = data.load_split(target, "test", lang)
    assert len(calls) == 1
    assert rows["source"] == [f"{lang} one", f"{lang} two"] and rows["target"] == ["one", "two"]


@pytest.mark.parametrize("split, hub_split", [("dev", "validation"), ("test", "test")])
@pytest.mark.parametrize("lang", ["az", "gu", "lt", "pa", "pl", "qu", "ro", "uk"])
def test_xtreme_r_panx_languages_load_from_wikiann(monkeypatch, lang, split, hub_split):
    calls = fake_hub(monkeypatch, {"path": "unimelb-nlp/wikiann", "name": lang, "split": hub_split, "revision": None},
                     {"tokens": [["Ion", "Popescu", "la", "Cluj"]], "ner_tags": [[1, 2, 0, 5]],
                      "langs": [[lang] * 4], "spans": [["PER: Ion Popescu", "LOC: Cluj"]]}, WIKIANN_FEATURES)
    target = compose_cfg("target=panx", "benchmark=xtreme-r").target
    rows = data.load_split(target, split, lang)
    assert len(calls) == 1
    assert rows[0] == {"tokens": ["Ion", "Popescu", "la", "Cluj"], "tags": [1, 2, 0, 5]}
    assert [target.label_names[tag] for tag in rows[0]["tags"]] == ["B-PER", "I-PER", "O", "B-LOC"]


def test_local_only_languages_stop_the_run_at_start_up_naming_layout_and_release(tmp_path: Path):
    cfg = compose_cfg("target=udpos", "benchmark=xtreme-r")
    with pytest.raises(UserError) as stop:
        read_plan.check_sources(cfg)
    message = str(stop.value)
    assert ("udpos in lt pl ro uk wo: DIR/udpos/UD_*/{lang}_*-ud-dev.conllu and "
            "DIR/udpos/UD_*/{lang}_*-ud-test.conllu") in message
    assert "https://lindat.mff.cuni.cz/repository/xmlui/handle/11234/1-3424" in message and "data.root=DIR" in message
    hub_languages = [lang for lang in cfg.target.benchmark_languages["xtreme-r"] if lang not in LOCAL_ONLY["udpos"]]
    restricted = f"target.languages=[{','.join(hub_languages)}]"
    assert restricted in message
    read_plan.check_sources(compose_cfg("target=udpos", "benchmark=xtreme-r", restricted))
    read_plan.check_sources(compose_cfg("target=udpos", "benchmark=xtreme-r", f"data.root={tmp_path}"))


def test_a_local_only_language_reads_the_ud_release_under_data_root(tmp_path: Path):
    treebank = tmp_path / "udpos" / "UD_Wolof-WTB"
    treebank.mkdir(parents=True)
    (treebank / "wo_wtb-ud-test.conllu").write_text(
        "# sent_id = 1\n1\tMaa\tmaa\tPRON\t_\t_\t2\tnsubj\t_\t_\n2\tdem\tdem\tVERB\t_\t_\t0\troot\t_\t_\n\n",
        encoding="utf-8")
    target = compose_cfg("target=udpos", "benchmark=xtreme-r").target
    rows = data.load_split(target, "test", "wo", str(tmp_path))
    assert rows[0] == {"tokens": ["Maa", "dem"], "tags": [list(target.label_names).index("PRON"),
                                                          list(target.label_names).index("VERB")]}


def test_hub_data_dir_is_part_of_the_task_identity():
    settings = identity.task_settings(compose_cfg("target=xcopa").target, world_size=1)
    assert settings["splits"]["train"]["hub"]["data_dir"] == "copa"
    assert settings["splits"]["dev"]["per_language"]["en"]["hub"]["data_dir"] == "copa"


class _Recorded(Exception):
    """Raised by the recording fake: the call is all the table needs."""


@pytest.mark.parametrize("name", XTREME_R_TARGETS)
def test_every_xtreme_r_language_of_every_target_resolves_to_a_source(monkeypatch, name):
    """Each zero-shot read of XTREME-R goes to a hub config the evidence records (google/xtreme:
    XTREME's languages only), or to local files where the task has no hub source for it."""
    calls: list[tuple[str, str]] = []

    def load_dataset(path, name=None, split=None, revision=None, data_dir=None, **_):
        calls.append((path, name if data_dir is None else f"{data_dir}/"))
        raise _Recorded

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    cfg = compose_cfg(f"target={name}", "benchmark=xtreme-r")
    target = cfg.target
    local_only = set()
    for _, split, lang in read_plan.zero_shot_reads(cfg):
        calls.clear()
        with pytest.raises(UserError):
            data.load_split(target, split, lang)
        parts = data.split_parts(target, split, lang)
        if not calls:  # no hub source: the split's parts must have local files
            assert all(part.get("local") is not None for part in parts), (split, lang)
            local_only.add(lang)
            continue
        (path, config_name), = calls
        if path == "google/xtreme":
            assert lang in target.benchmark_languages["xtreme"], f"google/xtreme has no {config_name} ({split} {lang})"
        elif path in RECORDED_CONFIGS:
            assert config_name in RECORDED_CONFIGS[path], (path, config_name, split, lang)
    if name in LOCAL_ONLY:
        assert local_only == LOCAL_ONLY[name]
