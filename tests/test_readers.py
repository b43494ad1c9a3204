"""Readers against small hand-written files in each release's own format; the registry."""

import importlib
import sys
from pathlib import Path

import pytest

from xfer_scale.errors import UserError
from xfer_scale.readers import READERS, Located, TableRows, read, registry

FIXTURES = Path(__file__).parent / "fixtures" / "original"


def rows(reader: str, path: Path, **options) -> list[dict]:
    return list(read(reader, path, **options))


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def assert_user_error(pattern: str, reader: str, path: Path, **options) -> None:
    with pytest.raises(UserError, match=pattern):
        rows(reader, path, **options)


# --- tsv -----------------------------------------------------------------------------------


def test_tsv_names_fields_after_header_and_keeps_stray_quotes():
    result = rows("tsv", FIXTURES / "mnli_dev_matched.tsv")
    assert len(result) == 2
    assert len(result[1]) == 16
    assert result[1]["sentence1"] == '"We met at the café in Zürich, he said.'
    assert result[1]["sentence2"] == "He never went to Zürich."
    assert result[1]["gold_label"] == "contradiction"
    assert result[0]["sentence2"] == "Everyone really likes the newest benefits "
    assert result[0]["pairID"] == "63735n"


def test_tsv_headerless_with_columns():
    result = rows("tsv", FIXTURES / "pawsx_train-en.tsv", columns=["sentence1", "sentence2", "label"])
    assert result == [
        {"sentence1": "In Paris, Émile met Zoë .", "sentence2": "Émile met Zoë in Paris .", "label": "1"},
        {"sentence1": '"He called it "" home "" ."', "sentence2": "He called it home .", "label": "0"},
    ]


def test_tsv_splits_rows_on_newline_only_and_drops_bom_and_crlf(tmp_path):
    path = write(tmp_path, "train.tsv", "\ufeffid\tsentence1\r\n1\ta\rb\r\n")
    assert rows("tsv", path) == [{"id": "1", "sentence1": "a\rb"}]


def test_tsv_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "train.tsv", "id\tsentence1\tlabel\n1\tok\t0\n2\tmissing label\n")
    assert_user_error(r"train\.tsv:3: expected 3 tab-separated fields, found 2", "tsv", path)


def test_bad_utf8_names_file_and_line(tmp_path):
    path = write(tmp_path, "dev.tsv", b"id\tsentence1\n1\tcaf\xe9\n")
    assert_user_error(r"dev\.tsv:2: not UTF-8", "tsv", path)


# --- csv -----------------------------------------------------------------------------------


def test_csv_unquotes_fields_with_commas_quotes_and_line_breaks():
    (row,) = rows("csv", FIXTURES / "cosmosqa_valid.csv")
    assert row["context"] == (
        "Good Old War and person L : I saw both of these bands Wednesday night, and they both "
        'blew me away. "Seriously," it was great.\nCafé after.'
    )
    assert (
        row["answer1"]
        == "This person likes music and likes to see the show , they will see other bands play ."
    )
    assert row["answer3"] == "Other Bands is not on tour ."
    assert row["label"] == "1"
    assert list(row) == ["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"]


def test_csv_wrong_field_count_names_file_and_line(tmp_path):
    path = write(tmp_path, "valid.csv", 'id,context,label\n1,"two\nlines",0\n2,short\n')
    assert_user_error(r"valid\.csv:4: expected 3 comma-separated fields, found 2", "csv", path)


# --- jsonl ---------------------------------------------------------------------------------


def test_jsonl_rows_as_released():
    result = rows("jsonl", FIXTURES / "xcopa_val.et.jsonl")
    assert result[0] == {
        "premise": "Mees keeras kraani lahti.",
        "choice1": "Tualett täitus veega.",
        "choice2": "Kraanist voolas vett.",
        "question": "effect",
        "label": 1,
        "idx": 0,
        "changed": False,
    }
    assert result[1]["changed"] is True


def test_jsonl_commonsenseqa_flattening():
    result = rows("jsonl", FIXTURES / "commonsenseqa_dev.jsonl", flatten="commonsenseqa")
    assert result[0] == {
        "answerKey": "A",
        "id": "075e483d21c29a511267ef62bedc0461",
        "question": "The sanctions against the school were a punishing blow, and they seemed to what the "
        "efforts the school had made to change?",
        "question_concept": "punishing",
        "choices_label": ["A", "B"],
        "choices_text": ["ignore", "enforce"],
    }
    assert result[1] == {
        "id": "90b30172e645ff91f7171a048582eb8b",
        "question": "What does a café serve?",
        "question_concept": "café",
        "choices_label": ["A", "B"],
        "choices_text": ["crème brûlée", "tea"],
    }


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ('{"a": 1}\n\n{"a": 2,}\n', {}, r"data\.jsonl:3: not valid JSON"),
        ('{"a": 1}\n[1, 2]\n', {}, r"data\.jsonl:2: expected a JSON object, found list"),
        (
            '{"id": "x", "question": "flat"}\n',
            {"flatten": "commonsenseqa"},
            r"data\.jsonl:1: not a commonsenseqa row",
        ),
        (
            '{"a": 1}\n',
            {"flatten": "hellaswag"},
            r"unknown jsonl flattening 'hellaswag'; valid: commonsenseqa",
        ),
    ],
)
def test_jsonl_errors(tmp_path, content, options, message):
    assert_user_error(message, "jsonl", write(tmp_path, "data.jsonl", content), **options)


# --- squad_json ----------------------------------------------------------------------------


def test_squad_json_v2_answerable_and_unanswerable():
    assert rows("squad_json", FIXTURES / "squad_v2_dev.json") == [
        {
            "id": "56ddde6b9a695914005b9628",
            "title": "Normans",
            "context": "The Normans (Normands) gave their name to Normandy, a région in France.",
            "question": "In what country is Normandy located?",
            "answers": {"text": ["France", "France"], "answer_start": [64, 64]},
            "is_impossible": False,
        },
        {
            "id": "5ad39d53604f3c001a3fe8d1",
            "title": "Normans",
            "context": "The Normans (Normands) gave their name to Normandy, a région in France.",
            "question": "Who gave their name to Paris?",
            "answers": {"text": [], "answer_start": []},
            "is_impossible": True,
        },
    ]


def test_squad_json_gives_answer_offsets_as_released(tmp_path):
    """Offsets are checked where training uses them (data), not in evaluation files."""
    # 65 is where "France" would start if "é" were counted as two bytes.
    text = (
        (FIXTURES / "squad_v2_dev.json")
        .read_text(encoding="utf-8")
        .replace('"answer_start": 64', '"answer_start": 65', 1)
    )
    (first, _) = rows("squad_json", write(tmp_path, "dev.json", text))
    assert first["answers"] == {"text": ["France", "France"], "answer_start": [65, 64]}


def test_rows_of_line_based_files_know_their_line(tmp_path):
    tsv = write(tmp_path, "data.tsv", "a\tb\n1\t2\n\n3\t4\n")
    assert [row.where for row in rows("tsv", tsv)] == [f"{tsv}:2", f"{tsv}:4"]
    jsonl = write(tmp_path, "data.jsonl", '{"a": 1}\n\n{"a": null}\n')
    assert [row.where for row in rows("jsonl", jsonl)] == [f"{jsonl}:1", f"{jsonl}:3"]
    csv = write(tmp_path, "data.csv", 'a,b\n1,"two\nlines"\n3,4\n')
    assert [row.where for row in rows("csv", csv)] == [f"{csv}:3", f"{csv}:4"]  # a row's last line


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"data": [\n{"paragraphs": []},\n}', r"squad\.json:3: not valid JSON"),
        (
            '{"data": [{"paragraphs": [{"qas": [{"id": "q1"}]}]}]}',
            r"squad\.json: not SQuAD JSON \(KeyError: 'context'\)",
        ),
    ],
)
def test_squad_json_malformed(tmp_path, content, message):
    assert_user_error(message, "squad_json", write(tmp_path, "squad.json", content))


# --- conllu --------------------------------------------------------------------------------


def test_conllu_skips_comments_multiword_tokens_and_empty_nodes():
    assert rows("conllu", FIXTURES / "yo_sample.conllu") == [
        {
            "sent_id": "GEN_1.1",
            "tokens": ["Ó", "ní", "orúkọ", "."],
            "upos": ["PRON", "VERB", "NOUN", "PUNCT"],
        },
        {"tokens": ["Ayé", "wà"], "upos": ["NOUN", "VERB"]},
    ]


def test_conllu_wrong_column_count_names_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "test.conllu",
        "# sent_id = 1\n1\tA\ta\tDET\t_\t_\t0\troot\t_\t_\n2 B b NOUN _ _ 1 dep _ _\n",
    )
    assert_user_error(r"test\.conllu:3: expected 10 tab-separated CoNLL-U fields, found 1", "conllu", path)


# --- conll_tags ----------------------------------------------------------------------------


def test_conll_tags_strips_panx_language_prefix_up_to_first_colon():
    assert rows("conll_tags", FIXTURES / "panx_de-dev") == [
        {"tokens": ["Zürich", "liegt", "12:30"], "tags": ["B-LOC", "O", "O"]},
        {"tokens": ["Angela", "Merkel"], "tags": ["B-PER", "I-PER"]},
    ]


def test_conll_tags_labelless_test_file():
    assert rows("conll_tags", FIXTURES / "udpos_test-yo.tsv", strip_lang_prefix=False) == [
        {"tokens": ["Ó", "lórúkọ"], "tags": []},
        {"tokens": ["Ayé", "wà"], "tags": []},
    ]


def test_conll_tags_sentence_breaks_bom_crlf_and_last_line(tmp_path):
    """Blank or whitespace-only lines end a sentence, runs of them make no empty sentence, and
    the last line needs no ending; rows know their sentence's first line."""
    path = write(tmp_path, "tags.tsv", "\ufeffa\tO\r\nb\tB-PER\r\n \t\r\n\n\nc\tO\nd\tO")
    assert rows("conll_tags", path, strip_lang_prefix=False) == [
        {"tokens": ["a", "b"], "tags": ["O", "B-PER"]}, {"tokens": ["c", "d"], "tags": ["O", "O"]}]
    assert [row.where for row in rows("conll_tags", path, strip_lang_prefix=False)] == [f"{path}:1", f"{path}:6"]


def test_tsv_empty_and_header_only_files_have_no_rows(tmp_path):
    assert rows("tsv", write(tmp_path, "empty.tsv", "")) == []
    assert rows("tsv", write(tmp_path, "header.tsv", "a\tb\n")) == []


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (
            "Paris\tB-LOC\n",
            {},
            r"tags\.tsv:1: token 'Paris' has no language prefix .* strip_lang_prefix: false",
        ),
        (
            "a\tO\nb\tO\textra\n",
            {"strip_lang_prefix": False},
            r"tags\.tsv:2: expected `token<TAB>tag` or a lone token, found 3",
        ),
        (
            "\na\tO\nb\n",
            {"strip_lang_prefix": False},
            r"tags\.tsv:3: found 1 tab-separated fields but the sentence's first line \(2\) has 2",
        ),
    ],
)
def test_conll_tags_errors(tmp_path, content, options, message):
    assert_user_error(message, "conll_tags", write(tmp_path, "tags.tsv", content), **options)


# --- ccg_auto ------------------------------------------------------------------------------

CCG_AUTO = (
    "ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n"
    "(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 0 2> (<T NP 0 2> (<T NP 0 1> (<T N 1 2> "
    "(<L N/N NNP NNP Pierre N_73/N_73>) (<L N NNP NNP Vinken N>) ) ) (<L , , , , ,>) ) "
    "(<T NP\\NP 0 1> (<L N CD CD 61 N>) ) ) (<T S[dcl]\\NP 0 2> "
    "(<L (S[dcl]\\NP)/NP VBD VBD joined (S[dcl]\\NP_10)/NP_11>) (<T NP 0 2> "
    "(<L NP[nb]/N DT DT the NP[nb]_29/N_29>) (<L N NN NN board N>) ) ) ) (<L . . . . .>) ) \n"
    "ID=wsj_0001.2 PARSER=GOLD NUMPARSE=1\n"
    "(<T S[dcl] 0 2> (<T S[dcl] 1 2> (<T NP 0 1> (<L N NNP NNP Vinken N>) ) "
    "(<L S[dcl]\\NP VBZ VBZ sleeps S[dcl]\\NP_1>) ) (<L . . . . .>) ) \n"
)


def test_ccg_auto_reads_leaf_words_and_categories(tmp_path):
    assert rows("ccg_auto", write(tmp_path, "wsj_0001.auto", CCG_AUTO)) == [
        {"id": "wsj_0001.1", "tokens": ["Pierre", "Vinken", ",", "61", "joined", "the", "board", "."],
         "tags": ["N/N", "N", ",", "N", "(S[dcl]\\NP)/NP", "NP[nb]/N", "N", "."]},
        {"id": "wsj_0001.2", "tokens": ["Vinken", "sleeps", "."], "tags": ["N", "S[dcl]\\NP", "."]},
    ]


def test_ccg_auto_sections_keep_only_files_in_the_range(tmp_path):
    for section in ("00", "01", "02", "10", "21", "22", "23"):
        (tmp_path / section).mkdir()
        write(tmp_path / section, f"wsj_{section}00.auto", CCG_AUTO.replace("wsj_0001", f"wsj_{section}00"))
    ids = [row["id"] for path in sorted(tmp_path.glob("*/*.auto")) for row in rows("ccg_auto", path, sections="02-21")]
    assert ids == ["wsj_0200.1", "wsj_0200.2", "wsj_1000.1", "wsj_1000.2", "wsj_2100.1", "wsj_2100.2"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("(<T NP 0 1> (<L N NNP NNP Vinken N>) )\n", r"wsj_0001\.auto:1: derivation without an `ID=` header"),
        ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\nID=wsj_0001.2 PARSER=GOLD NUMPARSE=1\n",
         r"wsj_0001\.auto:1: header without a derivation line"),
        (CCG_AUTO + "ID=wsj_0001.3 PARSER=GOLD NUMPARSE=1\n", r"wsj_0001\.auto:5: header without a derivation line"),
        ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n(<T NP 0 1> )\n", r"wsj_0001\.auto:2: a derivation with no leaves"),
        ("ID=wsj_0001.1 PARSER=GOLD NUMPARSE=1\n(<T NP 0 2> (<L N NNP Vinken N>) (<L . . . . .>) )\n",
         r"wsj_0001\.auto:2: a derivation with no leaves or a malformed one"),
    ],
)
def test_ccg_auto_errors_name_file_and_line(tmp_path, content, message):
    assert_user_error(message, "ccg_auto", write(tmp_path, "wsj_0001.auto", content))


def test_ccg_auto_sections_need_a_range_and_section_folders(tmp_path):
    path = write(tmp_path, "wsj_0001.auto", CCG_AUTO)
    assert_user_error(r"sections='2' is not a range FIRST-LAST", "ccg_auto", path, sections="2")
    assert_user_error(r"wsj_0001\.auto: not in a numbered section folder", "ccg_auto", path, sections="02-21")


# --- retrieval -----------------------------------------------------------------------------


def test_aligned_text_pairs_line_i_with_line_i():
    result = rows(
        "aligned_text", FIXTURES / "tatoeba.amh-eng.amh", target_path=FIXTURES / "tatoeba.amh-eng.eng"
    )
    assert result == [
        {"id": "s0", "text": "በውነት ያስፈራል።", "side": "source", "gold": "t0"},
        {"id": "t0", "text": "It's truly frightening.", "side": "target", "gold": ""},
        {"id": "s1", "text": "ቶም ደስ ብሎታል።", "side": "source", "gold": "t1"},
        {"id": "t1", "text": "Tom is happy.", "side": "target", "gold": ""},
    ]


def test_aligned_text_unequal_line_counts(tmp_path):
    source = write(tmp_path, "tatoeba.jav-eng.jav", "a\nb\nc\n")
    target = write(tmp_path, "tatoeba.jav-eng.eng", "A\nB\n")
    assert_user_error(
        r"tatoeba\.jav-eng\.jav has 3 lines but .*tatoeba\.jav-eng\.eng has 2",
        "aligned_text",
        source,
        target_path=target,
    )


def test_bucc_sources_carry_their_gold_target():
    assert rows("bucc", FIXTURES / "bucc2018", lang="de", split="sample") == [
        {"id": "de-000001", "text": "Das Café öffnet um acht.", "side": "source", "gold": "en-000002"},
        {"id": "de-000002", "text": "Es regnet.", "side": "source", "gold": ""},
        {"id": "en-000001", "text": "It is sunny.", "side": "target", "gold": ""},
        {"id": "en-000002", "text": "The café opens at eight.", "side": "target", "gold": ""},
    ]


def test_bucc_split_without_gold_file(tmp_path):
    write(tmp_path, "fr-en.test.fr", "fr-1\tBonjour.\n")
    write(tmp_path, "fr-en.test.en", "en-1\tHello.\n")
    assert [row["gold"] for row in rows("bucc", tmp_path, lang="fr", split="test")] == ["", ""]


@pytest.mark.parametrize(
    ("gold", "source", "message"),
    [
        (
            "de-1\ten-1\n",
            "de-1 no tab\n",
            r"de-en\.sample\.de:1: expected `id<TAB>\.\.\.` \(2 tab-separated fields\), found 1",
        ),
        (
            "de-1\ten-1\nde-1\ten-2\n",
            "de-1\tHallo.\n",
            r"de-en\.sample\.gold:2: source id de-1 is listed twice",
        ),
        (
            "de-9\ten-1\n",
            "de-1\tHallo.\n",
            r"de-en\.sample\.gold: 1 ids are not in .*de-en\.sample\.de \(e\.g\. de-9\)",
        ),
        (
            "de-1\ten-9\n",
            "de-1\tHallo.\n",
            r"de-en\.sample\.gold: 1 ids are not in .*de-en\.sample\.en \(e\.g\. en-9\)",
        ),
    ],
)
def test_bucc_errors(tmp_path, gold, source, message):
    write(tmp_path, "de-en.sample.gold", gold)
    write(tmp_path, "de-en.sample.de", source)
    write(tmp_path, "de-en.sample.en", "en-1\tHello.\n")
    assert_user_error(message, "bucc", tmp_path, lang="de", split="sample")


# --- registry ------------------------------------------------------------------------------


def test_unknown_reader_lists_valid_ones():
    with pytest.raises(UserError, match=r"unknown reader 'parquet'; valid readers: tsv, csv, jsonl"):
        read("parquet", FIXTURES / "pawsx_train-en.tsv")


def test_missing_file_says_expected_path(tmp_path):
    with pytest.raises(UserError, match=r"absent\.tsv: not found \(input of reader 'tsv'\)"):
        read("tsv", tmp_path / "absent.tsv")


def test_missing_target_file_is_named(tmp_path):
    assert_user_error(
        r"absent\.eng: not found",
        "aligned_text",
        FIXTURES / "tatoeba.amh-eng.amh",
        target_path=tmp_path / "absent.eng",
    )


@pytest.mark.parametrize(
    ("reader", "options", "message"),
    [
        ("tsv", {"colums": ["a"]}, r"reader 'tsv': .*'colums'.*; its options are: columns"),
        (
            "bucc",
            {"lang": "de"},
            r"reader 'bucc': missing a required argument: 'split'; its options are: lang, split",
        ),
        ("squad_json", {"flatten": "x"}, r"its options are: none"),
    ],
)
def test_option_mistakes_are_user_errors(reader, options, message):
    with pytest.raises(UserError, match=message):
        read(reader, FIXTURES, **options)


def test_every_reader_is_registered():
    assert set(READERS) == {
        "tsv",
        "csv",
        "jsonl",
        "squad_json",
        "conllu",
        "conll_tags",
        "ccg_auto",
        "aligned_text",
        "bucc",
        "lareqa_questions",
        "lareqa_candidates",
        "mewslix_mentions",
        "mewslix_entities",
        "mewslix_pairs",
    }


#: a dataset-specific reader as a new format's module writes it
NEW_FORMAT_MODULE = """
from pathlib import Path

from xfer_scale.readers import reader


@reader("shouting")
def read_shouting(path: Path, marks: int = 1):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        yield {"text": line.upper() + "!" * marks, "number": number}
"""


def test_a_reader_registered_by_decorator_in_its_own_module_is_found_by_read(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "READERS", dict(registry.READERS))  # the registration ends with the test
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shouting_format", raising=False)
    write(tmp_path, "shouting_format.py", NEW_FORMAT_MODULE)
    importlib.import_module("shouting_format")
    path = write(tmp_path, "words.txt", "hello\nworld\n")
    assert rows("shouting", path, marks=2) == [{"text": "HELLO!!", "number": 1}, {"text": "WORLD!!", "number": 2}]
    with pytest.raises(UserError, match=r"reader 'shouting': .*'mark'.*; its options are: marks"):
        read("shouting", path, mark=2)
    with pytest.raises(ValueError, match=r"reader 'shouting' is registered twice"):
        registry.reader("shouting")(lambda path: iter(()))
    sys.modules.pop("shouting_format")


def test_table_rows_iterate_as_located_rows_again_and_again(tmp_path):
    path = write(tmp_path, "data.tsv", "a\tb\n1\t2\n\n3\t4\n")
    found = read("tsv", path)
    assert isinstance(found, TableRows) and len(found) == 2 and found.table.column_names == ["a", "b"]
    assert list(found) == list(found) == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert all(isinstance(row, Located) for row in found) and found.where(1) == f"{path}:4"
    hub = TableRows(found.table)  # a hub split's table: its rows know no line
    assert [type(row) for row in hub] == [dict, dict] and hub.where(0) is None
