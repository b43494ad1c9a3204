"""Loading original-format files through the task configs, and nested subsampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pytest

from omegaconf import OmegaConf

from xfer_scale import config, data, formats, readers
from xfer_scale.errors import UserError
from xfer_scale.fields import NUMBER, TEXT, Field
from tests.test_config import compose_cfg


def smoke_cfg(*overrides: str):
    return compose_cfg("experiment=smoke", *overrides)


def test_xnli_local_split_filters_one_language_and_maps_labels():
    cfg = smoke_cfg()
    de = data.load_split(cfg.target, "test", "de", cfg.data.root)
    assert len(de) == 90 and set(de.column_names) == {"text_a", "text_b", "label"}
    assert sorted(set(de["label"])) == [0, 1, 2]
    assert de[2]["label"] == 2 and "nicht" in de[2]["text_b"]  # contradiction negates the verb


def test_target_training_data_comes_from_another_task_folder():
    cfg = smoke_cfg()
    train = data.load_split(cfg.target, "train", "en", cfg.data.root)
    assert len(train) == 600  # MultiNLI, read from data.root/mnli/


def test_udpos_glob_reads_conllu_words_not_multiword_tokens():
    cfg = smoke_cfg("target=udpos")
    es = data.load_split(cfg.target, "dev", "es", cfg.data.root)
    assert len(es) == 40
    for tokens, tags in zip(es["tokens"], es["tags"]):
        assert len(tokens) == len(tags) and "del" not in tokens


def test_data_dir_overrides_root_for_one_task(tmp_path: Path):
    cfg = smoke_cfg("target=udpos")
    folder = tmp_path / "UD_German-Mine"
    folder.mkdir()
    (folder / "de_mine-ud-test.conllu").write_text(
        "# sent_id = 1\n1\tHallo\t_\tINTJ\t_\t_\t0\troot\t_\t_\n2\t!\t_\tPUNCT\t_\t_\t1\tpunct\t_\t_\n\n", encoding="utf-8")
    cfg.target.data_dir = str(tmp_path)
    de = data.load_split(cfg.target, "test", "de", cfg.data.root)
    assert de[0] == {"tokens": ["Hallo", "!"], "tags": [6, 12]}


def test_missing_files_name_the_path_and_the_fix(tmp_path: Path):
    cfg = smoke_cfg("target=udpos")
    with pytest.raises(UserError, match=r"no file matches .*UD_\*/fr_\*-ud-train.conllu.*data.root"):
        data.load_split(cfg.target, "train", "fr", cfg.data.root)
    with pytest.raises(UserError, match="does not exist"):
        data.load_split(cfg.target, "test", "de", str(tmp_path / "nowhere"))


def test_unknown_label_names_the_file_and_the_fix(tmp_path: Path):
    cfg = smoke_cfg()
    (tmp_path / "xnli").mkdir()
    (tmp_path / "xnli" / "xnli.test.tsv").write_text(
        "language\tgold_label\tsentence1\tsentence2\nde\tmaybe\tA\tB\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"xnli.test.tsv.*label 'maybe' is not one of entailment"):
        data.load_split(cfg.target, "test", "de", str(tmp_path))


def test_language_absent_from_file_is_an_empty_split_error():
    cfg = smoke_cfg()
    with pytest.raises(UserError, match=r"xnli test \[zh\]: no examples"):
        data.load_split(cfg.target, "test", "zh", cfg.data.root)


def test_hub_source_maps_classlabel_ints_by_name(monkeypatch):
    """The hub path without the network: ClassLabel ints are mapped through their names."""
    features = datasets.Features({
        "premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["contradiction", "entailment", "neutral"]),  # another order
    })
    fake = datasets.Dataset.from_dict(
        {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 1, 2]}, features=features)
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or fake)
    cfg = smoke_cfg()
    rows = data.load_split(cfg.target, "train", "en", data_root=None)
    assert calls == [(("nyu-mll/glue", "mnli"), {"split": "train", "revision": None})]
    assert rows["label"] == [2, 0, 1]  # contradiction, entailment, neutral in label_names order


def test_hub_failure_says_how_to_work_offline(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")
    monkeypatch.setattr(datasets, "load_dataset", offline)
    cfg = smoke_cfg()
    with pytest.raises(UserError, match="xfer-scale prepare.*data.root"):
        data.load_split(cfg.target, "test", "de", data_root=None)


def copa_with(tmp_path: Path, line: int, **changes) -> Path:
    """A copy of the bundled COPA training file with `changes` made to the row on `line`."""
    cfg = smoke_cfg()
    lines = (Path(cfg.data.root) / "copa" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    lines[line - 1] = json.dumps({**json.loads(lines[line - 1]), **changes})
    path = tmp_path / "copa" / "train.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("changes, field", [
    ({"premise": None}, "field context (from 'premise') is null"),
    ({"choice2": None}, "field choices (from ['choice1', 'choice2']) is null"),
    ({"question": None}, "field question (from 'question') is null"),
])
def test_a_null_field_names_the_file_and_line(tmp_path: Path, changes, field):
    cfg = smoke_cfg("target=xcopa")
    path = copa_with(tmp_path, 3, **changes)
    with pytest.raises(UserError) as raised:
        data.load_split(cfg.target, "train", "en", str(tmp_path))
    assert str(raised.value) == f"xcopa train [en] ({path}:3): {field}; fix or remove that row."


def test_a_missing_column_names_the_file_and_line(tmp_path: Path):
    cfg = smoke_cfg("target=xcopa")
    path = copa_with(tmp_path, 5, choice1=None)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    del rows[4]["choice1"]
    path.write_text("\n".join(map(json.dumps, rows)) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=rf"\({path}:5\): a row has no field 'choice1'"):
        data.load_split(cfg.target, "train", "en", str(tmp_path))


def test_a_null_field_of_a_hub_row_names_the_row(monkeypatch):
    fake = datasets.Dataset.from_dict({"premise": ["a", None], "hypothesis": ["x", "y"], "label": ["neutral"] * 2})
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: fake)
    with pytest.raises(UserError) as raised:
        data.load_split(smoke_cfg().target, "train", "en", data_root=None)
    assert str(raised.value) == ("xnli train [en] (hub nyu-mll/glue mnli train, row 2): field text_a (from 'premise') "
                                 "is null; fix or remove that row.")


def test_subsample_is_nested_and_stratified():
    labels = [0] * 600 + [1] * 300 + [2] * 100
    order = data.subsample_order(labels, len(labels), seed=3)
    assert sorted(order.tolist()) == list(range(1000))
    small, large = set(order[:100].tolist()), set(order[:300].tolist())
    assert small <= large
    counts = np.bincount(np.asarray(labels)[order[:100]], minlength=3)
    assert abs(counts - [60, 30, 10]).max() <= 1  # proportions kept to one example
    assert data.subsample_order(labels, 1000, seed=3).tolist() == order.tolist()
    assert data.subsample_order(labels, 1000, seed=4).tolist() != order.tolist()


def test_subsample_counts_fractions_and_errors():
    dataset = datasets.Dataset.from_dict({"label": [0, 1] * 50})
    mnli = OmegaConf.create({"name": "mnli", "format": "classification"})
    subset, chosen = data.subsample(dataset, 0.1, None, 0, mnli)
    assert len(subset) == 10 and chosen == sorted(chosen) and subset["label"].count(0) == 5
    subset, _ = data.subsample(dataset, 1.0, 7, 0, mnli)
    assert len(subset) == 7
    with pytest.raises(UserError, match="empty subsample"):
        data.subsample(dataset, 0.001, None, 0, mnli)
    with pytest.raises(UserError, match="exceeds the 100 training examples"):
        data.subsample(dataset, 1.0, 101, 0, mnli)


# --- column-by-column conversion ----------------------------------------------------------

def _both_conversions(task: dict, source: dict, read, class_names=None) -> tuple[datasets.Dataset, ...]:
    """A source's rows converted column by column and row by row, and the label names each
    read them with; the task config is left as it was."""
    out = []
    for columnar in (True, False):
        task_cfg = OmegaConf.create(task)
        labels = data.labels(task_cfg)
        convert = data.RowConverter(task_cfg, OmegaConf.create(source), "de", "t dev [de]", labels, class_names)
        convert.origin = "hub t"
        if columnar:
            rows = read()
            assert convert.columnar(rows.table)
            dataset = datasets.Dataset(datasets.table.InMemoryTable(convert.table(rows)))
        else:
            dataset = datasets.Dataset.from_list(list(data._convert(read(), convert)))
        assert task_cfg == OmegaConf.create(task)
        out.append((dataset, labels.names))
    (columnar, names), (rows, row_names) = out
    return columnar, rows, names, row_names


SOURCE = {"filter": {}, "skip_labels": [], "label_values": None}


def test_columns_convert_as_rows_do_filter_skip_and_label_values(tmp_path: Path):
    path = write_file(tmp_path / "dev.tsv", "language\tgold\ta\tb\nde\tyes\tA1\tB1\nen\tno\tA2\tB2\nde-x\t-\tA3\tB3\n"
                                            "\nde-y\tno\tA4\tB4\nfr\tbad\tA5\tB5\n")
    task = {"name": "t", "format": "classification", "label_names": ["entailment", "not"]}
    source = {**SOURCE, "filter": {"language": "{lang}*"}, "skip_labels": ["-"], "label_values": ["yes", "no"],
              "fields": {"text_a": "a", "text_b": "b", "label": "gold"}}
    columnar, rows, _, _ = _both_conversions(task, source, lambda: readers.read("tsv", path))
    assert columnar.features == rows.features and columnar.to_dict() == rows.to_dict()
    assert columnar.to_dict() == {"text_a": ["A1", "A4"], "text_b": ["B1", "B4"], "label": [0, 1]}
    source["filter"] = {}
    for columnar in (True, False):
        task_cfg = OmegaConf.create(task)
        convert = data.RowConverter(task_cfg, OmegaConf.create(source), "de", "t dev [de]", data.labels(task_cfg))
        rows = readers.read("tsv", path)
        with pytest.raises(UserError, match=rf"t dev \[de\] \({path}:7\): label 'bad' is not one of yes, no"):
            convert.table(rows) if columnar else list(data._convert(rows, convert))


def test_columns_convert_as_rows_do_tags_grown_from_data(tmp_path: Path):
    path = write_file(tmp_path / "train.tsv", "a\tN\nb\tV\n\nc\tX\nd\tADJ\n\n\ne\tV\nf\tDET\n")
    task = {"name": "t", "format": "tagging", "label_names": ["N"], "labels_from_data": True}
    source = {**SOURCE, "skip_labels": ["X"], "fields": {"tokens": "tokens", "tags": "tags"}}
    read = lambda: readers.read("conll_tags", path, strip_lang_prefix=False)  # noqa: E731
    columnar, rows, names, row_names = _both_conversions(task, source, read)
    assert columnar.features == rows.features and columnar.to_dict() == rows.to_dict()
    # the skipped sentence (c d) is left out, but ADJ, first seen there, was learnt in row order
    assert columnar.to_dict() == {"tokens": [["a", "b"], ["e", "f"]], "tags": [[0, 1], [1, 3]]}
    assert names == row_names == ["N", "V", "ADJ", "DET"]


def test_hub_columns_convert_as_hub_rows_do():
    tags = datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"]))
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": tags,
                                  "langs": datasets.Value("string")})
    hub = datasets.Dataset.from_dict({"tokens": [["a", "b"], ["c"], ["d", "e"]], "ner_tags": [[1, 2], [0], [0, 1]],
                                      "langs": ["de", "en", "de"]}, features=features)
    task = {"name": "t", "format": "tagging", "label_names": ["O", "B-PER", "I-PER"]}
    source = {**SOURCE, "filter": {"langs": "{lang}"}, "fields": {"tokens": "tokens", "tags": "ner_tags"}}
    names = data._class_names(hub.features)
    read = lambda: readers.TableRows(hub.with_format("arrow")[:])  # noqa: E731  (as data._load_hub holds it)
    columnar, rows, _, _ = _both_conversions(task, source, read, names)
    assert columnar.features == rows.features and columnar.to_dict() == rows.to_dict()
    assert columnar.to_dict() == {"tokens": [["a", "b"], ["d", "e"]], "tags": [[1, 2], [0, 1]]}


# --- declared fields ---------------------------------------------------------------------

def test_a_source_mapping_fields_its_format_does_not_declare_or_needs_is_refused_before_reading():
    cfg = smoke_cfg()
    train = cfg.target.splits.train.local
    train.fields = {"text_a": "sentence1", "txt_b": "sentence2", "label": "gold_label"}
    declared = r"\(its fields: text_a \(text\), text_b \(text, optional\), label \(class\)\)"
    with pytest.raises(UserError, match=r"^task xnli, train split \(local\): the source's `fields` maps txt_b, which "
                                        rf"format classification does not declare {declared}; map the format's"):
        config.validate(cfg)
    with pytest.raises(UserError, match=rf"^xnli train \[en\]: the source's `fields` maps txt_b, .* {declared}"):
        data.load_split(cfg.target, "train", "en", cfg.data.root)
    train.fields = {"text_a": "sentence1"}
    with pytest.raises(UserError, match=r"^xnli train \[en\]: the source's `fields` does not map label, which format "
                                        "classification needs"):
        data.load_split(cfg.target, "train", "en", cfg.data.root)


def test_a_value_of_the_wrong_kind_is_refused_at_its_line(tmp_path: Path):
    rows = [{"premise": "A man sleeps.", "hypothesis": "He rests.", "label": "entailment"},
            {"premise": 7, "hypothesis": "He rests.", "label": "entailment"}]
    path = write_file(tmp_path / "t" / "train.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    task = tiny_task("classification", "train.jsonl", "jsonl", {"text_a": "premise", "text_b": "hypothesis",
                                                               "label": "label"}, label_names=["entailment"])
    with pytest.raises(UserError, match=rf"^t train \[en\] \({path}:2\): field text_a \(from 'premise'\): "
                                        r"expected a text, found 7 \(int\); fix the file"):
        data.load_split(task, "train", "en", str(tmp_path))


class Regression(formats.Format):
    """A float target named `label`, which only the declaration tells from a class."""

    fields = {"text_a": Field(TEXT), "label": Field(NUMBER)}


def test_a_number_field_named_label_is_read_as_a_float_and_stratifies_nothing(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(formats.base._REGISTRY, "regression", Regression)
    path = write_file(tmp_path / "t" / "train.tsv", "sentence\tscore\na\t3.5\nb\t1\nc\t0.25\n")
    task = tiny_task("regression", "train.tsv", "tsv", {"text_a": "sentence", "label": "score"})
    train = data.load_split(task, "train", "en", str(tmp_path))
    assert train["label"] == [3.5, 1.0, 0.25] and train.features["label"] == datasets.Value("float64")
    assert data.strata(train, task) is None and data.label_names(train) is None
    assert data.subsample(train, 1.0, 2, 0, task)[1] == sorted(np.random.default_rng(0).permutation(3)[:2].tolist())
    write_file(path, "sentence\tscore\na\t3.5\nb\tabout 2\n")
    with pytest.raises(UserError, match=rf"\({path}:3\): field label \(from 'score'\): expected a number, "
                                        r"found 'about 2' \(str\)"):
        data.load_split(task, "train", "en", str(tmp_path))
    hub = pa.table({"sentence": ["a", "b"], "score": [3.5, 1.0]})  # floats already: read column by column
    source = {**SOURCE, "fields": {"text_a": "sentence", "label": "score"}}
    columnar, rows, _, _ = _both_conversions(dict(task), source, lambda: readers.TableRows(hub))
    assert columnar.features == rows.features and columnar.to_dict() == rows.to_dict() == {
        "text_a": ["a", "b"], "label": [3.5, 1.0]}


def tiny_task(format_name: str, path: str, reader: str, fields: dict, **settings) -> Any:
    """A task of one local train file, `data.root/t/<path>`."""
    return OmegaConf.merge(OmegaConf.structured(config.TaskConfig), {
        "name": "t", "format": format_name, **settings,
        "splits": {"train": {"local": {"path": path, "reader": reader, "fields": fields}}}})


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path

