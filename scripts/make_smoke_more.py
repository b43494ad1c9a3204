"""Write the bundled smoke data of the further tasks (src/xfer_scale/smoke_data), in each
data set's original release format: ANLI and SNLI (with the MNLI files of
make_smoke_data.py, the ANLI+ mix), QQP, HellaSwag, Social IQa, Cosmos QA, CommonsenseQA, CCG
supertags, PAWS-X, PAN-X, COPA and XCOPA.

Sentences come from the lexicons and generator of make_smoke_data.py (three XCOPA languages
are added here), so the labels are learnable from surface cues: a negated sentence is the
wrong choice or a non-duplicate, a paraphrase fronts the place phrase while a scramble
swaps subject and object, names and cities carry the entity tags. For pipeline checks only.
Deterministic: re-running reproduces the files byte for byte.

    python scripts/make_smoke_more.py
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

from make_smoke_data import LEXICON, OUT, nli_examples, sentence, text, write_lines, write_tsv

# XCOPA languages for the smoke set beside Swahili (in make_smoke_data.py), same shape.
LEXICON.update({
    "it": {
        "subjects": [[(d, "DET"), (n, "NOUN")] for d, n in [("la", "donna"), ("il", "bambino"), ("il", "maestro"),
                                                             ("il", "contadino"), ("il", "medico"), ("il", "ragazzo")]],
        "verbs": [("vede",), ("compra",), ("dipinge",), ("trova",), ("vende",), ("porta",)],
        "objects": [[(d, "DET"), (n, "NOUN"), (a[g], "ADJ")] for a in [("rosso", "rossa"), ("vecchio", "vecchia"), ("nuovo", "nuova")]
                    for d, n, g in [("la", "macchina", 1), ("la", "casa", 1), ("il", "libro", 0), ("il", "tavolo", 0), ("la", "barca", 1), ("la", "borsa", 1)]],
        "places": [[("nel", [("in", "ADP"), ("il", "DET")]), ("parco", "NOUN")], [("al", [("a", "ADP"), ("il", "DET")]), ("mercato", "NOUN")]],
        "companion": [("con", "ADP"), ("un", "DET"), ("amico", "NOUN")],
        "negate": lambda verb: [("non", "ADV"), (verb[0], "VERB")],
    },
    "id": {
        "subjects": [[(n, "NOUN")] for n in ["pria", "wanita", "anak", "guru", "petani", "dokter"]],
        "verbs": [("melihat",), ("membeli",), ("melukis",), ("menemukan",), ("menjual",), ("membawa",)],
        "objects": [[(n, "NOUN"), (a, "ADJ")] for a in ["merah", "tua", "baru"] for n in ["mobil", "rumah", "buku", "meja", "perahu", "tas"]],
        "places": [[("di", "ADP"), ("taman", "NOUN")], [("di", "ADP"), ("pasar", "NOUN")]],
        "companion": [("dengan", "ADP"), ("teman", "NOUN")],
        "negate": lambda verb: [("tidak", "PART"), (verb[0], "VERB")],
    },
    "et": {
        "subjects": [[(n, "NOUN")] for n in ["mees", "naine", "laps", "õpetaja", "talunik", "arst"]],
        "verbs": [("näeb", "näe"), ("ostab", "osta"), ("maalib", "maali"), ("leiab", "leia"), ("müüb", "müü"), ("kannab", "kanna")],
        "objects": [[(a, "ADJ"), (n, "NOUN")] for a in ["punast", "vana", "uut"] for n in ["autot", "maja", "raamatut", "lauda", "paati", "kotti"]],
        "places": [[("pargis", "NOUN")], [("turul", "NOUN")]],
        "companion": [("koos", "ADV"), ("sõbraga", "NOUN")],
        "negate": lambda verb: [("ei", "AUX"), (verb[1], "VERB")],
    },
})
XCOPA_LANGUAGES = ["et", "id", "it", "sw"]
TARGET_LANGUAGES = ["en", "de", "es", "fr"]

# Stand-ins for CCGbank categories, one per UPOS tag of the English lexicon.
SUPERTAGS = {"DET": "NP[nb]/N", "NOUN": "N", "ADJ": "N/N", "VERB": r"(S[dcl]\NP)/NP", "ADP": r"((S\NP)\(S\NP))/NP",
             "AUX": r"(S[dcl]\NP)/(S[b]\NP)", "PART": r"(S\NP)\(S\NP)", "PUNCT": "."}
# Penn Treebank POS tags of the CCGbank leaves, likewise.
PTB_TAGS = {"DET": "DT", "NOUN": "NN", "ADJ": "JJ", "VERB": "VBZ", "ADP": "IN", "AUX": "VBZ", "PART": "RB", "PUNCT": "."}
PEOPLE = [["Anna", "Berg"], ["Carlos", "Ruiz"], ["Marie", "Dubois"], ["Jonas", "Weber"], ["Laura", "Rossi"], ["Omar", "Haddad"]]
CITIES = ["Berlin", "Madrid", "Paris", "London", "Lagos", "Lima"]
COMPANIES = [["Acme", "Bank"], ["Nordwind", "Group"], ["Sol", "Media"], ["Atlas", "Motors"]]
NER_LINK = {"en": ("in", "ADP"), "de": ("in", "ADP"), "es": ("en", "ADP"), "fr": ("à", "ADP")}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_blocks(path: Path, sentences: list[list[str]]) -> None:
    """One line per token, a blank line after each sentence (CoNLL-style tag files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\n".join(lines) + "\n\n" for lines in sentences), encoding="utf-8")


def write_anli() -> None:
    """ANLI v1.0 (R1-R3 train/dev.jsonl, e/n/c labels) and SNLI 1.0 jsonl, whose pairs
    without a gold label ("-") the task config drops."""
    code = {"entailment": "e", "neutral": "n", "contradiction": "c"}
    for round_ in (1, 2, 3):
        for split, n in (("train", 30), ("dev", 12)):
            rows = [{"uid": f"r{round_}-{split}-{i}", "context": p, "hypothesis": h, "label": code[y],
                     "reason": "", "tag": "smoke"}
                    for i, (p, h, y) in enumerate(nli_examples("en", n, seed=10 * round_ + (split == "dev")))]
            write_jsonl(OUT / "anli" / f"R{round_}" / f"{split}.jsonl", rows)
    rows = []
    for i, (p, h, y) in enumerate(nli_examples("en", 60, seed=40)):
        gold = "-" if i % 20 == 7 else y
        rows.append({"annotator_labels": [y], "captionID": f"{i}.jpg#0", "gold_label": gold, "pairID": f"{i}.jpg#0r1",
                     "sentence1": p, "sentence2": h})
    write_jsonl(OUT / "snli" / "snli_1.0_train.jsonl", rows)


def write_qqp() -> None:
    """GLUE's QQP TSV: a duplicate drops the place phrase, a non-duplicate negates the verb."""
    for split, n, seed in (("train", 400, 50), ("dev", 100, 51)):
        rng = random.Random(f"qqp-{split}")
        rows = []
        for i, (a, b, y) in enumerate(nli_examples("en", n, seed)):
            if y == "neutral":  # QQP is binary: keep entailment (duplicate) and contradiction
                continue
            if rng.random() < 0.5:
                a, b = b, a
            rows.append([i, 2 * i, 2 * i + 1, a, b, int(y == "entailment")])
        write_tsv(OUT / "qqp" / f"{split}.tsv", ["id", "qid1", "qid2", "question1", "question2", "is_duplicate"], rows)


def _phrase(words: list) -> str:
    return " ".join(form for form, _ in words)


def answers(rng: random.Random, n: int) -> tuple[list[str], int]:
    """`n` English verb phrases, the right one plain and the wrong ones negating the verb,
    and the right one's index."""
    lex = LEXICON["en"]
    found = []
    for wrong in (False, *[True] * (n - 1)):
        verb = rng.choice(lex["verbs"])
        words = lex["negate"](verb) if wrong else [(verb[0], "VERB")]
        found.append(_phrase(words + rng.choice(lex["objects"])) + ".")
    label = rng.randrange(n)
    found.insert(label, found.pop(0))
    return found, label


def hellaswag_example(rng: random.Random, index: int, split: str) -> dict:
    """A context, then ctx_b (the next subject) to continue: the right ending is plain, the
    three wrong ones negate the verb."""
    subject = rng.choice(LEXICON["en"]["subjects"])
    endings, label = answers(rng, 4)
    context = text(sentence("en", rng, place=True))
    return {"ind": index, "activity_label": "Smoke", "ctx_a": context, "ctx_b": _phrase(subject),
            "ctx": f"{context} {_phrase(subject)}", "endings": endings, "source_id": f"smoke~{index}",
            "split": split, "split_type": "indomain", "label": label}


def write_hellaswag() -> None:
    for split, n in (("train", 300), ("val", 80)):
        rng = random.Random(f"hellaswag-{split}")
        write_jsonl(OUT / "hellaswag" / f"hellaswag_{split}.jsonl", [hellaswag_example(rng, i, split) for i in range(n)])


SIQA_QUESTIONS = ["What will they do next?", "What did they want to do?", "What will others do then?"]


def write_siqa() -> None:
    """Social IQa's release layout: <split>.jsonl (context, question, answerA-C) and
    <split>-labels.lst, one 1-based label a line. A situation, a question, three answers of
    which the plain one is right."""
    for split, n in (("train", 200), ("dev", 60)):
        rng = random.Random(f"siqa-{split}")
        rows, labels = [], []
        for _ in range(n):
            context, question = text(sentence("en", rng, place=True)), rng.choice(SIQA_QUESTIONS)
            (a, b, c), label = answers(rng, 3)
            rows.append({"context": context, "question": question, "answerA": a, "answerB": b, "answerC": c})
            labels.append(str(label + 1))
        write_jsonl(OUT / "siqa" / f"{split}.jsonl", rows)
        write_lines(OUT / "siqa" / f"{split}-labels.lst", labels)


COSMOS_QUESTIONS = ["What may happen next?", "Why might they do that, and what then?", "What will they do after that?",
                    "What may be the reason for this?"]


def cosmosqa_context(rng: random.Random) -> str:
    """A two-clause narrative joined by a comma, sometimes with a quoted remark, so the CSV
    needs the release's quoting (commas, doubled quotes)."""
    first, second = text(sentence("en", rng, place=True)), text(sentence("en", rng, companion=True))
    context = f"{first[:-1]}, and then {second[0].lower()}{second[1:]}"
    return context + (' "Really," I said.' if rng.random() < 0.3 else "")


def write_cosmosqa() -> None:
    """Cosmos QA's release CSV (data/train.csv, data/valid.csv): id, context, question,
    answer0-answer3, label (0-3), fields quoted where they hold commas or quotes. The plain
    answer is right, the three negated ones wrong."""
    for split, file, n in (("train", "train.csv", 200), ("dev", "valid.csv", 60)):
        rng = random.Random(f"cosmosqa-{split}")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label"])
        for i in range(n):
            context, question = cosmosqa_context(rng), rng.choice(COSMOS_QUESTIONS)
            choices, label = answers(rng, 4)
            writer.writerow([f"smoke##{split}##{i}##q1_a1", context, question, *choices, label])
        path = OUT / "cosmosqa" / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buffer.getvalue(), encoding="utf-8")


def write_commonsenseqa() -> None:
    """CommonsenseQA's release jsonl (train_rand_split.jsonl, dev_rand_split.jsonl): answerKey
    A-E, a hex id, and the question nested as question_concept, five labelled choices and the
    stem. The question asks what someone does; the plain verb phrase is right."""
    for split, file, n in (("train", "train_rand_split.jsonl", 200), ("dev", "dev_rand_split.jsonl", 60)):
        rng = random.Random(f"commonsenseqa-{split}")
        rows = []
        for _ in range(n):
            id_ = f"{rng.getrandbits(128):032x}"
            subject, place = rng.choice(LEXICON["en"]["subjects"]), rng.choice(LEXICON["en"]["places"])
            choices, label = answers(rng, 5)
            rows.append({"answerKey": "ABCDE"[label], "id": id_, "question": {
                "question_concept": subject[-1][0],
                "choices": [{"label": key, "text": choice.rstrip(".")} for key, choice in zip("ABCDE", choices)],
                "stem": f"What does {_phrase(subject)} do {_phrase(place)}?"}})
        write_jsonl(OUT / "commonsenseqa" / file, rows)


def ccg_derivation(words: list[tuple[str, str]]) -> str:
    """A right-branching CCGbank AUTO tree over the words' leaves `(<L cat POS POS word cat>)`."""
    leaves = [f"(<L {SUPERTAGS[tag]} {PTB_TAGS[tag]} {PTB_TAGS[tag]} {form} {SUPERTAGS[tag]}>)" for form, tag in words]
    tree = leaves[-1]
    for leaf in reversed(leaves[:-1]):
        tree = f"(<T S[dcl] 0 2> {leaf} {tree} )"
    return tree


def write_ccg() -> None:
    """CCGbank's AUTO layout, which conf/intermediate/ccg.yaml reads: AUTO/<section>/wsj_*.auto,
    an `ID=` header line and a derivation line per sentence; train in sections 02 and 21, dev in 00."""
    for split, n, files in (("train", 300, ["02/wsj_0200", "21/wsj_2100"]), ("dev", 60, ["00/wsj_0001"])):
        rng = random.Random(f"ccg-{split}")
        sentences = [sentence("en", rng, negated=rng.random() < 0.3, place=rng.random() < 0.5, companion=rng.random() < 0.3)
                     for _ in range(n)]
        size = n // len(files)
        for index, file in enumerate(files):
            lines = []
            for number, words in enumerate(sentences[index * size:(index + 1) * size], 1):
                lines += [f"ID={Path(file).name}.{number} PARSER=GOLD NUMPARSE=1", ccg_derivation(words)]
            write_lines(OUT / "ccg" / "AUTO" / f"{file}.auto", lines)


def paws_pair(lang: str, rng: random.Random, paraphrase: bool) -> tuple[str, str]:
    """Sentence 2 fronts the place phrase; a non-paraphrase also swaps subject and object."""
    lex = LEXICON[lang]
    subject, verb, obj, place = (rng.choice(lex["subjects"]), [(rng.choice(lex["verbs"])[0], "VERB")],
                                 rng.choice(lex["objects"]), rng.choice(lex["places"]))
    first = text(subject + verb + obj + place + [(".", "PUNCT")])
    second = place + (subject + verb + obj if paraphrase else obj + verb + subject)
    return first, text(second + [(".", "PUNCT")])


def write_pawsx() -> None:
    """PAWS-X's x-final layout: <lang>/train.tsv (English), <lang>/dev_2k.tsv, <lang>/test_2k.tsv."""
    files = [("en", "train.tsv", 400)] + [(lang, name, n) for lang in TARGET_LANGUAGES
                                          for name, n in (("dev_2k.tsv", 60), ("test_2k.tsv", 80))]
    for lang, name, n in files:
        rng = random.Random(f"pawsx-{lang}-{name}")
        rows = [[i + 1, *paws_pair(lang, rng, paraphrase=bool(i % 2)), i % 2] for i in range(n)]
        write_tsv(OUT / "pawsx" / lang / name, ["id", "sentence1", "sentence2", "label"], rows)


def _entity(names: list[str], kind: str) -> list[tuple[str, str]]:
    return [(name, ("B-" if i == 0 else "I-") + kind) for i, name in enumerate(names)]


def ner_sentence(lang: str, rng: random.Random) -> list[tuple[str, str]]:
    """A person or a company does something to an object in a city."""
    lex = LEXICON[lang]
    agent = _entity(rng.choice(PEOPLE), "PER") if rng.random() < 0.6 else _entity(rng.choice(COMPANIES), "ORG")
    words = agent + [(rng.choice(lex["verbs"])[0], "O")] + [(form, "O") for form, _ in rng.choice(lex["objects"])]
    return words + [(NER_LINK[lang][0], "O"), (rng.choice(CITIES), "B-LOC"), (".", "O")]


def write_panx() -> None:
    """XTREME's PAN-X download layout: <lang>-train/-dev/-test, `<lang>:token<TAB>tag` lines."""
    splits = [("en", "train", 300)] + [(lang, split, n) for lang in TARGET_LANGUAGES for split, n in (("dev", 40), ("test", 60))]
    for lang, split, n in splits:
        rng = random.Random(f"panx-{lang}-{split}")
        sentences = [[f"{lang}:{token}\t{tag}" for token, tag in ner_sentence(lang, rng)] for _ in range(n)]
        write_blocks(OUT / "panx" / f"{lang}-{split}", sentences)


def copa_example(lang: str, rng: random.Random, index: int) -> dict:
    """The premise's event with a companion is the right choice, its negation the wrong one."""
    state = rng.getstate()
    premise = text(sentence(lang, rng, place=True))
    rng.setstate(state)
    right = text(sentence(lang, rng, companion=True))
    rng.setstate(state)
    wrong = text(sentence(lang, rng, negated=True, companion=True))
    label = rng.randrange(2)
    choices = [right, wrong] if label == 0 else [wrong, right]
    return {"premise": premise, "choice1": choices[0], "choice2": choices[1],
            "question": rng.choice(["cause", "effect"]), "label": label, "idx": index}


def copa_rows(lang: str, split: str, n: int) -> list[dict]:
    rng = random.Random(f"copa-{lang}-{split}")
    return [copa_example(lang, rng, i) for i in range(n)]


def write_copa() -> None:
    """SuperGLUE's COPA (train.jsonl, val.jsonl) and XCOPA's data/<lang>/{val,test}.<lang>.jsonl."""
    write_jsonl(OUT / "copa" / "train.jsonl", copa_rows("en", "train", 200))
    write_jsonl(OUT / "copa" / "val.jsonl", copa_rows("en", "val", 60))
    for lang in XCOPA_LANGUAGES:
        for split, n in (("val", 40), ("test", 60)):
            rows = [{**row, "changed": False} for row in copa_rows(lang, split, n)]
            write_jsonl(OUT / "xcopa" / lang / f"{split}.{lang}.jsonl", rows)


def main() -> None:
    write_anli()
    write_qqp()
    write_hellaswag()
    write_siqa()
    write_cosmosqa()
    write_commonsenseqa()
    write_ccg()
    write_pawsx()
    write_panx()
    write_copa()
    print(json.dumps({"written": str(OUT)}))


if __name__ == "__main__":
    main()
