"""Write the bundled smoke data set (src/xfer_scale/smoke_data) in the tasks' original formats.

The sentences are generated from small hand-written lexicons, so the files are ours to ship
and the labels are learnable: entailment drops a place phrase, contradiction negates the
verb, neutral adds a companion the premise does not mention. It is data for checking that
the pipeline trains and evaluates, never for research numbers. Deterministic: re-running
this script reproduces the committed files byte for byte.

    python scripts/make_smoke_data.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "xfer_scale" / "smoke_data"

# Each phrase is a list of (form, UPOS) words; a multiword token is ("del", [("de", "ADP"), ("el", "DET")]).
LEXICON = {
    "en": {
        "subjects": [[("the", "DET"), (n, "NOUN")] for n in ["man", "woman", "child", "teacher", "farmer", "doctor"]],
        "verbs": [("sees", "see"), ("buys", "buy"), ("paints", "paint"), ("finds", "find"), ("sells", "sell"), ("carries", "carry")],
        "objects": [[("the", "DET"), (a, "ADJ"), (n, "NOUN")] for a in ["red", "old", "new"] for n in ["car", "house", "book", "table", "boat", "bag"]],
        "places": [[("in", "ADP"), ("the", "DET"), ("park", "NOUN")], [("at", "ADP"), ("the", "DET"), ("market", "NOUN")]],
        "companion": [("with", "ADP"), ("a", "DET"), ("friend", "NOUN")],
        "negate": lambda verb: [("does", "AUX"), ("not", "PART"), (verb[1], "VERB")],
    },
    "de": {
        "subjects": [[(d, "DET"), (n, "NOUN")] for d, n in [("der", "Mann"), ("die", "Frau"), ("das", "Kind"), ("der", "Lehrer"), ("der", "Bauer"), ("der", "Arzt")]],
        "verbs": [("sieht",), ("kauft",), ("malt",), ("findet",), ("verkauft",), ("trägt",)],
        "objects": [[(d, "DET"), (a + e, "ADJ"), (n, "NOUN")] for a in ["rot", "alt", "neu"]
                    for d, e, n in [("das", "e", "Auto"), ("das", "e", "Haus"), ("das", "e", "Buch"), ("den", "en", "Tisch"), ("das", "e", "Boot"), ("die", "e", "Tasche")]],
        "places": [[("im", [("in", "ADP"), ("dem", "DET")]), ("Park", "NOUN")], [("auf", "ADP"), ("dem", "DET"), ("Markt", "NOUN")]],
        "companion": [("mit", "ADP"), ("einem", "DET"), ("Freund", "NOUN")],
        "negate_after_object": [("nicht", "PART")],
    },
    "es": {
        "subjects": [[(d, "DET"), (n, "NOUN")] for d, n in [("el", "hombre"), ("la", "mujer"), ("el", "niño"), ("el", "maestro"), ("el", "granjero"), ("el", "médico")]],
        "verbs": [("ve",), ("compra",), ("pinta",), ("encuentra",), ("vende",), ("lleva",)],
        "objects": [[(d, "DET"), (n, "NOUN"), (a[g], "ADJ")] for a in [("rojo", "roja"), ("viejo", "vieja"), ("nuevo", "nueva")]
                    for d, n, g in [("el", "coche", 0), ("la", "casa", 1), ("el", "libro", 0), ("la", "mesa", 1), ("el", "barco", 0), ("la", "bolsa", 1)]],
        "places": [[("cerca", "ADV"), ("del", [("de", "ADP"), ("el", "DET")]), ("parque", "NOUN")], [("en", "ADP"), ("el", "DET"), ("mercado", "NOUN")]],
        "companion": [("con", "ADP"), ("un", "DET"), ("amigo", "NOUN")],
        "negate": lambda verb: [("no", "ADV"), (verb[0], "VERB")],
    },
    "fr": {
        "subjects": [[(d, "DET"), (n, "NOUN")] for d, n in [("le", "garçon"), ("la", "femme"), ("la", "fille"), ("le", "maître"), ("le", "fermier"), ("le", "médecin")]],
        "verbs": [("voit",), ("achète",), ("peint",), ("trouve",), ("vend",), ("porte",)],
        "objects": [[(d, "DET"), (n, "NOUN"), (a[g], "ADJ")] for a in [("rouge", "rouge"), ("petit", "petite"), ("vert", "verte")]
                    for d, n, g in [("la", "voiture", 1), ("la", "maison", 1), ("le", "livre", 0), ("la", "table", 1), ("le", "bateau", 0), ("le", "sac", 0)]],
        "places": [[("au", [("à", "ADP"), ("le", "DET")]), ("marché", "NOUN")], [("dans", "ADP"), ("le", "DET"), ("parc", "NOUN")]],
        "companion": [("avec", "ADP"), ("un", "DET"), ("ami", "NOUN")],
        "negate": lambda verb: [("ne", "ADV"), (verb[0], "VERB"), ("pas", "ADV")],
    },
    "sw": {
        "subjects": [[(n, "NOUN")] for n in ["mtu", "mwanamke", "mtoto", "mwalimu", "mkulima", "daktari"]],
        "verbs": [("anaona", "haoni"), ("ananunua", "hanunui"), ("anapaka", "hapaki"), ("anapata", "hapati"), ("anauza", "hauzi"), ("anabeba", "habebi")],
        "objects": [[(n, "NOUN")] for n in ["gari", "nyumba", "kitabu", "meza", "mashua", "mfuko"]],
        "places": [[("sokoni", "NOUN")], [("shuleni", "NOUN")]],
        "companion": [("pamoja", "ADV"), ("na", "ADP"), ("rafiki", "NOUN")],
        "negate": lambda verb: [(verb[1], "VERB")],
    },
}
LABELS = ["entailment", "neutral", "contradiction"]
LANGUAGE_NAMES = {"en": "English", "de": "German", "es": "Spanish", "fr": "French"}


def sentence(lang: str, rng: random.Random, negated: bool = False, place: bool = False,
             companion: bool = False) -> list:
    lex = LEXICON[lang]
    verb = rng.choice(lex["verbs"])
    words = list(rng.choice(lex["subjects"]))
    words += lex["negate"](verb) if negated and "negate" in lex else [(verb[0], "VERB")]
    words += rng.choice(lex["objects"])
    if negated and "negate_after_object" in lex:
        words += lex["negate_after_object"]
    if place:
        words += rng.choice(lex["places"])
    if companion:
        words += lex["companion"]
    return words + [(".", "PUNCT")]


def text(words: list) -> str:
    out = " ".join(form for form, _ in words).replace(" .", ".")
    return out[0].upper() + out[1:]


def nli_pair(lang: str, rng: random.Random, label: str) -> tuple[str, str]:
    """Premise and hypothesis share subject, verb and object (same rng state for both)."""
    state = rng.getstate()
    premise = sentence(lang, rng, place=label == "entailment")
    rng.setstate(state)
    hypothesis = sentence(lang, rng, negated=label == "contradiction", companion=label == "neutral")
    return text(premise), text(hypothesis)


def parse(sentence_text: str) -> str:
    """A flat bracketing, standing in for the release's parse columns (unused by loaders)."""
    return "( " + sentence_text.replace(".", " .") + " )"


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    write_lines(path, ["\t".join(header)] + ["\t".join(map(str, row)) for row in rows])


def nli_examples(lang: str, n: int, seed: int, drawn_as: str | None = None) -> list[tuple[str, str, str]]:
    """`drawn_as`: make the choices `drawn_as`'s examples make (the lexicons list words in the
    same order), which translates them word for word into `lang`."""
    rng = random.Random(f"{drawn_as or lang}-{seed}")
    return [(*nli_pair(lang, rng, LABELS[i % 3]), LABELS[i % 3]) for i in range(n)]


def write_mnli() -> None:
    """GLUE's MNLI layout: train.tsv (12 columns) and dev_matched.tsv (16 columns)."""
    train = nli_examples("en", 600, seed=1)
    write_tsv(OUT / "mnli" / "train.tsv",
              ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"],
              [[i, i, f"{i}e", "smoke", parse(p), parse(h), parse(p), parse(h), p, h, y, y]
               for i, (p, h, y) in enumerate(train)])
    dev = nli_examples("en", 150, seed=2)
    write_tsv(OUT / "mnli" / "dev_matched.tsv",
              ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
               "sentence1_parse", "sentence2_parse", "sentence1", "sentence2",
               "label1", "label2", "label3", "label4", "label5", "gold_label"],
              [[i, i, f"{i}e", "smoke", parse(p), parse(h), parse(p), parse(h), p, h, y, y, y, y, y, y]
               for i, (p, h, y) in enumerate(dev)])


def write_xnli() -> None:
    """XNLI-1.0's layout: xnli.dev.tsv and xnli.test.tsv, every language in one file."""
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
              "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre",
              "label1", "label2", "label3", "label4", "label5"]
    for split, n, seed in [("dev", 60, 3), ("test", 90, 4)]:
        rows = []
        for lang in LEXICON:
            for i, (p, h, y) in enumerate(nli_examples(lang, n, seed)):
                rows.append([lang, y, parse(p), parse(h), parse(p), parse(h), p, h, i, f"{i}{lang}", "smoke", y, y, y, y, y])
        write_tsv(OUT / "xnli" / f"xnli.{split}.tsv", header, rows)


def conllu_sentence(words: list, sent_id: str) -> str:
    lines = [f"# sent_id = {sent_id}", f"# text = {text(words)}"]
    index = 1
    for form, tag in words:
        if isinstance(tag, list):  # multiword token: a range line, then its syntactic words
            lines.append(f"{index}-{index + len(tag) - 1}\t{form}\t_\t_\t_\t_\t_\t_\t_\t_")
            parts = tag
        else:
            parts = [(form, tag)]
        for part_form, part_tag in parts:
            lines.append(f"{index}\t{part_form}\t_\t{part_tag}\t_\t_\t{max(index - 1, 0)}\tdep\t_\t_")
            index += 1
    return "\n".join(lines) + "\n"


def write_udpos() -> None:
    """UD's release layout: UD_<Language>-Smoke/<code>_smoke-ud-<split>.conllu."""
    sizes = {"train": 300, "dev": 40, "test": 60}
    for lang, name in LANGUAGE_NAMES.items():
        for split, n in sizes.items():
            if split == "train" and lang != "en":
                continue
            rng = random.Random(f"ud-{lang}-{split}")
            sentences = [
                conllu_sentence(sentence(lang, rng, negated=rng.random() < 0.3, place=rng.random() < 0.5,
                                         companion=rng.random() < 0.3), f"smoke-{split}-{i}")
                for i in range(n)
            ]
            write_lines(OUT / "udpos" / f"UD_{name}-Smoke" / f"{lang}_smoke-ud-{split}.conllu", sentences)


def write_corpus() -> None:
    """Plain text in every smoke language, to train the tiny model's tokenizer on."""
    lines = []
    for lang in LEXICON:
        rng = random.Random(f"corpus-{lang}")
        for _ in range(400):
            lines.append(text(sentence(lang, rng, negated=rng.random() < 0.3, place=rng.random() < 0.5,
                                       companion=rng.random() < 0.3)))
    write_lines(OUT / "corpus.txt", lines)


def main() -> None:
    write_mnli()
    write_xnli()
    write_udpos()
    write_corpus()
    print(json.dumps({"written": str(OUT)}))


if __name__ == "__main__":
    main()
