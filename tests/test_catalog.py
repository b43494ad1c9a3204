"""`xfer-scale tasks`, and the guard that every shipped task file composes and validates."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

from xfer_scale import catalog, config, formats, languages
from xfer_scale.cli import main
from xfer_scale.config import setup
from xfer_scale.errors import UserError

INTERMEDIATES = catalog.task_names("intermediate")
TARGETS = catalog.task_names("target")


@pytest.fixture
def compose_cfg():
    setup()
    with initialize_config_module("xfer_scale.conf", version_base=None):
        yield lambda *overrides: compose("config", overrides=list(overrides))


def test_the_shipped_tasks_are_found():
    assert {"mnli", "squad_v1"} <= set(INTERMEDIATES) and "none" not in INTERMEDIATES
    assert {"xnli", "udpos", "tatoeba", "bucc"} <= set(TARGETS)


@pytest.mark.parametrize("name", INTERMEDIATES)
def test_every_intermediate_composes_with_a_target(compose_cfg, name):
    cfg = compose_cfg(f"intermediate={name}", "target=xnli")
    config.validate(cfg)
    assert cfg.intermediate.name == name and cfg.intermediate.format in formats.names("intermediate")
    formats.get(cfg.intermediate)  # its format exists and accepts its format_options


@pytest.mark.parametrize("name", TARGETS)
def test_every_target_composes_and_validates_for_each_of_its_benchmarks(compose_cfg, name):
    cfg = compose_cfg(f"target={name}")
    assert cfg.target.name == name and cfg.target.benchmark_languages
    formats.get(cfg.target)
    for benchmark, codes in cfg.target.benchmark_languages.items():
        cfg = compose_cfg(f"target={name}", f"benchmark={benchmark}")
        config.validate(cfg)
        assert config.target_languages(cfg) == list(codes)
        for code in codes:  # {iso3} and {lang_name} templates resolve for every listed language
            languages.language(code)


def test_retrieval_targets_list_xtremes_languages(compose_cfg):
    tatoeba = compose_cfg("target=tatoeba").target
    assert len(tatoeba.benchmark_languages.xtreme) == 36 and len(tatoeba.benchmark_languages["xtreme-r"]) == 41
    added = set(tatoeba.benchmark_languages["xtreme-r"]) - set(tatoeba.benchmark_languages.xtreme)
    assert added == {"az", "lt", "pl", "uk", "ro"}
    bucc = compose_cfg("target=bucc").target
    assert list(bucc.benchmark_languages) == ["xtreme", "smoke"] and bucc.submission_task == "bucc2018"
    assert bucc.train.max_length == tatoeba.train.max_length == 512


def test_tasks_command_prints_one_entry_per_task(capsys):
    assert main(["tasks", "--benchmark", "xtreme-r"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["kind", "name", "format", "metric", "languages"]
    rows = {line.split()[1]: line.split() for line in out[1:] if not line.startswith(" ")}
    assert sorted(rows) == sorted(INTERMEDIATES + TARGETS)
    assert rows["tatoeba"][:5] == ["target", "tatoeba", "retrieval", "accuracy", "41:"]
    assert rows["bucc"][4:] == ["-", "(not", "in", "xtreme-r)"]
    assert rows["mnli"][:5] == ["intermediate", "mnli", "classification", "accuracy", "1:"]
    assert rows["siqa"] == ["intermediate", "siqa", "multiple_choice", "accuracy", "1:", "en"]
    siqa = out.index(next(line for line in out if line.split()[:2] == ["intermediate", "siqa"]))
    assert out[siqa + 1].split() == ["hub:", "allenai/social_i_qa", "[train", "dev]"]
    assert "DIR/siqa/train.jsonl (jsonl, labels: {dir}/train-labels.lst) [train]" in out[siqa + 2]
    ccg = out.index(next(line for line in out if line.split()[:2] == ["intermediate", "ccg"]))
    assert "DIR/ccg/AUTO/*/*.auto (ccg_auto, sections: 02-21) [train]" in out[ccg + 2]
    tatoeba = out.index(next(line for line in out if line.split()[:2] == ["target", "tatoeba"]))
    assert out[tatoeba + 1].split() == ["hub:", "google/xtreme", "tatoeba.{iso3}", "[test]"]
    assert out[tatoeba + 2].split() == ["local:", "DIR/tatoeba/tatoeba.{iso3}-eng.{iso3}", "(aligned_text,",
                                        "target_path:", "{dir}/tatoeba.{iso3}-eng.eng)", "[test]"]
    assert out[tatoeba + 3].split()[:3] == ["languages", "by", "source:"]
    assert not out[siqa + 3].strip().startswith("languages by source")  # intermediate tasks are English


def test_tasks_command_shows_which_source_each_benchmark_language_uses(capsys):
    """A target's third line groups its languages by source: the hub config, a per-language
    override (XTREME-R's additions), or local files only."""
    assert main(["tasks", "--benchmark", "xtreme-r"]) == 0
    out = capsys.readouterr().out.splitlines()
    prefix = "languages by source: "
    by_source = {line.split()[1]: out[index + 3].strip().removeprefix(prefix).split(" | ")
                 for index, line in enumerate(out[:-3])
                 if line.startswith("target ") and out[index + 3].strip().startswith(prefix)}
    assert by_source["udpos"][1] == "local only: lt pl ro uk wo"
    assert by_source["udpos"][0].startswith("google/xtreme udpos.{lang_name}: af ar bg")
    assert by_source["panx"][1] == "unimelb-nlp/wikiann {lang}: az gu lt pa pl qu ro uk"
    assert by_source["tatoeba"][1] == "mteb/tatoeba-bitext-mining {iso3}-eng: az lt pl ro uk"
    assert by_source["xquad"] == ["google/xtreme XQuAD.{lang}: ar de el en es hi ru th tr vi zh",
                                  "google/xquad xquad.ro: ro"]
    assert by_source["xcopa"] == ["cambridgeltl/xcopa {lang}: et ht id it qu sw ta th tr vi zh"]
    assert "bucc" not in by_source  # not in XTREME-R


def test_tasks_command_refuses_an_unknown_benchmark():
    """The names come from the targets' language lists, and a new target may bring a list of
    its own: the message must name the benchmarks' lists among them, sorted, and this test
    must not enumerate every target's (a new target would break it)."""
    with pytest.raises(UserError, match="--benchmark xtreme-3: no target lists languages for it; choose one of ") as refused:
        catalog.main(["--benchmark", "xtreme-3"])
    named = str(refused.value).split("choose one of ")[1].rstrip(".").split(", ")
    assert {"smoke", "xtreme", "xtreme-r"} <= set(named) and named == sorted(named)
