"""Write the bundled smoke data of the QA tasks (src/xfer_scale/smoke_data/{squad_v1,squad_v2,
xquad,mlqa,tydiqa}) in the original release layouts and SQuAD-format JSON.

Each paragraph holds one template sentence "<subject> <verb> <object>." among one to four
filler sentences. A "who" question ("Who buys the red car?") has the subject as its answer,
a "what" question ("The farmer buys what?") the object: the model must find the sentence and
read the question's first word to pick the span. Long paragraphs are split into windows by
the smoke experiment's max_length of 64. SQuAD v2 adds unanswerable "who" questions about an
object the paragraph lacks. Data for checking that the pipeline trains and evaluates, never
for research numbers. Deterministic: re-running this script reproduces the committed files
byte for byte.

    python scripts/make_smoke_qa.py
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from make_smoke_data import LEXICON, text

OUT = Path(__file__).resolve().parents[1] / "src" / "xfer_scale" / "smoke_data"


@dataclass(frozen=True)
class Language:
    subjects: list[str]
    verbs: list[str]
    objects: list[str]
    who: str  # question templates over {subject}, {verb}, {object}
    what: str
    fillers: list[str]  # sentences no question asks about
    sentence: str = "{subject} {verb} {object}."
    space: str = " "  # between sentences ("" for Chinese)


def words(lang: str) -> dict[str, list[str]]:
    """Subjects (capitalized), verbs and objects of make_smoke_data.py's lexicon, as plain strings."""
    lex = LEXICON[lang]
    return {"subjects": [text(subject) for subject in lex["subjects"]],
            "verbs": [verb[0] for verb in lex["verbs"]],
            "objects": [" ".join(form for form, _ in phrase) for phrase in lex["objects"]]}


LANGUAGES = {
    # en, de, es: the words of make_smoke_data.py (its sw has fewer objects than this one)
    "en": Language(
        **words("en"), who="Who {verb} {object}?", what="{subject} {verb} what?",
        fillers=["It is a sunny day.", "The park is quiet.", "The market is busy.", "Nobody is at home.",
                 "A friend waits in the park."],
    ),
    "de": Language(
        **words("de"), who="Wer {verb} {object}?", what="{subject} {verb} was?",
        fillers=["Es ist ein sonniger Tag.", "Der Park ist ruhig.", "Der Markt ist voll.", "Niemand ist zu Hause.",
                 "Ein Freund wartet im Park."],
    ),
    "es": Language(
        **words("es"), who="¿Quién {verb} {object}?", what="¿{subject} {verb} qué?",
        fillers=["Hace un día soleado.", "El parque está tranquilo.", "El mercado está lleno.", "Nadie está en casa.",
                 "Un amigo espera en el parque."],
    ),
    "zh": Language(
        ["那个男人", "那个女人", "孩子", "老师", "农民", "医生"],
        ["看见", "买", "画", "找到", "卖", "拿着"],
        [f"{a}{n}" for a in ("红色的", "旧的", "新的") for n in ("车", "房子", "书", "桌子", "船", "包")],
        "谁{verb}{object}？", "{subject}{verb}什么？",
        ["今天天气很好。", "公园很安静。", "市场很热闹。", "家里没有人。", "一个朋友在公园里等。"],
        sentence="{subject}{verb}{object}。", space="",
    ),
    "fi": Language(
        ["Mies", "Nainen", "Lapsi", "Opettaja", "Maanviljelijä", "Lääkäri"],
        ["näkee", "ostaa", "maalaa", "löytää", "myy", "kantaa"],
        [f"{a} {n}" for a in ("punaisen", "vanhan", "uuden")
         for n in ("auton", "talon", "kirjan", "pöydän", "veneen", "laukun")],
        "Kuka {verb} {object}?", "{subject} {verb} mitä?",
        ["On aurinkoinen päivä.", "Puisto on hiljainen.", "Tori on täynnä.", "Kukaan ei ole kotona.",
         "Ystävä odottaa puistossa."],
    ),
    "id": Language(
        ["Pria itu", "Wanita itu", "Anak itu", "Guru", "Petani", "Dokter"],
        ["melihat", "membeli", "mengecat", "menemukan", "menjual", "membawa"],
        [f"{n} {a}" for a in ("merah", "lama", "baru") for n in ("mobil", "rumah", "buku", "meja", "perahu", "tas")],
        "Siapa yang {verb} {object}?", "{subject} {verb} apa?",
        ["Hari ini cerah.", "Taman itu sepi.", "Pasar itu ramai.", "Tidak ada orang di rumah.",
         "Seorang teman menunggu di taman."],
    ),
    "sw": Language(
        ["Mtu", "Mwanamke", "Mtoto", "Mwalimu", "Mkulima", "Daktari"],
        ["anaona", "ananunua", "anapaka", "anapata", "anauza", "anabeba"],
        ["gari", "nyumba", "kitabu", "meza", "mashua", "mfuko", "kiti", "kikombe"],
        "Nani {verb} {object}?", "{subject} {verb} nini?",
        ["Ni siku ya jua.", "Bustani ni tulivu.", "Soko lina watu wengi.", "Hakuna mtu nyumbani.",
         "Rafiki anasubiri shuleni."],
    ),
}
TYDIQA_NAMES = {"en": "english", "fi": "finnish", "id": "indonesian", "sw": "swahili"}


def paragraph(lang: str, rng: random.Random, questions: int, unanswerable: bool, v2: bool,
              ids: Iterator[str]) -> dict[str, Any]:
    """A SQuAD paragraph with `questions` (1 or 2) of the who/what questions about its one
    fact, plus an unanswerable one if asked."""
    spec = LANGUAGES[lang]
    subject, verb, obj = rng.choice(spec.subjects), rng.choice(spec.verbs), rng.choice(spec.objects)
    fact = spec.sentence.format(subject=subject, verb=verb, object=obj)
    sentences = [fact, *rng.choices(spec.fillers, k=rng.randint(1, 4))]
    rng.shuffle(sentences)
    context = spec.space.join(sentences)
    start = context.index(fact)
    asked = {
        "who": (spec.who.format(verb=verb, object=obj), subject, start),
        "what": (spec.what.format(subject=subject, verb=verb), obj, start + fact.index(obj, len(subject))),
    }
    qas = [{"answers": [{"answer_start": at, "text": text}], "question": question, "id": next(ids)}
           for question, text, at in (asked[kind] for kind in rng.sample(sorted(asked), questions))]
    if unanswerable:
        absent = rng.choice([o for o in spec.objects if o != obj])
        qas.append({"answers": [], "question": spec.who.format(verb=verb, object=absent), "id": next(ids)})
    if v2:
        for qa in qas:
            qa["is_impossible"] = not qa["answers"]
    return {"context": context, "qas": qas}


def document(lang: str, seed: int, paragraphs: int, questions: int = 2, unanswerable: float = 0.0,
             id_format: str = "{lang}{seed}-{n:05d}", version: str = "1.1") -> dict[str, Any]:
    """A SQuAD-format file: articles of five paragraphs each."""
    rng = random.Random(f"{lang}-{seed}")
    ids = (id_format.format(lang=lang, seed=seed, n=n, name=TYDIQA_NAMES.get(lang, "")) for n in itertools.count())
    v2 = unanswerable > 0
    items = [paragraph(lang, rng, questions, rng.random() < unanswerable, v2, ids) for _ in range(paragraphs)]
    articles = [{"title": f"Smoke {lang} {i // 5}", "paragraphs": items[i:i + 5]} for i in range(0, len(items), 5)]
    return {"version": version, "data": articles}


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")


def tydiqa_document(lang: str, seed: int, paragraphs: int) -> dict[str, Any]:
    """TyDiQA-GoldP's shape: one question a passage, ids `<language name>-<number>-<index>`."""
    return document(lang, seed, paragraphs, questions=1, id_format="{name}-{seed}{n:05d}-0",
                    version="TyDiQA-GoldP-1.1-for-SQuAD-1.1")


def main() -> None:
    write(OUT / "squad_v1" / "train-v1.1.json", document("en", 1, 200))
    write(OUT / "squad_v1" / "dev-v1.1.json", document("en", 2, 40))
    write(OUT / "squad_v2" / "train-v2.0.json", document("en", 3, 160, unanswerable=0.5, version="v2.0"))
    write(OUT / "squad_v2" / "dev-v2.0.json", document("en", 4, 40, unanswerable=0.5, version="v2.0"))
    for lang in ("en", "de", "es", "zh"):
        write(OUT / "xquad" / f"xquad.{lang}.json", document(lang, 5, 30))
        for split, seed, count in (("dev", 6, 20), ("test", 8, 30)):
            write(OUT / "mlqa" / split / f"{split}-context-{lang}-question-{lang}.json", document(lang, seed, count))
    # the release's one training file holds every language; training keeps the `english-` ids
    parts = [tydiqa_document(lang, 7, count) for lang, count in (("en", 400), ("fi", 20), ("id", 20), ("sw", 20))]
    write(OUT / "tydiqa" / "tydiqa-goldp-v1.1-train.json", {**parts[0], "data": [a for p in parts for a in p["data"]]})
    for lang, name in TYDIQA_NAMES.items():
        write(OUT / "tydiqa" / "tydiqa-goldp-v1.1-dev" / f"tydiqa-goldp-dev-{name}.json", tydiqa_document(lang, 9, 50))


if __name__ == "__main__":
    main()
