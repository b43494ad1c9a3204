"""Write the bundled smoke data of XTREME-R's ranking tasks (src/xfer_scale/smoke_data/{lareqa,mewslix})
in their release formats.

LAReQA: XQuAD-R files (`xquad-r/<lang>.json`, SQuAD JSON with each paragraph's
`sentence_breaks`) for en, de and es, parallel as the real ones are: paragraph i says the same
in every language and its questions share their ids, so a question's relevant answers are the
same sentence in all three files. Sentences come from make_smoke_qa.py's lexicons, whose word
lists are in the same order in every language. Training uses the bundled SQuAD (squad_v1).

Mewsli-X: the entities are the lexicon's objects ("the red car"), each with an English
description; Wikipedia training pairs (English) and WikiNews test mentions (en, de, es) mark an
object in a sentence and link it to its entity; a few entities nobody mentions stand in for the
million distractors of the real candidate set. Data for checking that the pipeline trains and
evaluates, never for research numbers. Deterministic: re-running this script reproduces the
committed files byte for byte.

    python scripts/make_smoke_ranking.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from make_smoke_qa import LANGUAGES, OUT, write

LAREQA_LANGUAGES = ("en", "de", "es")
LAREQA_PARAGRAPHS = 30
MEWSLIX_LANGUAGES = ("en", "de", "es")
TRAIN_PAIRS, TEST_MENTIONS = 300, 30
DESCRIPTIONS = ("{title} is a thing that people {verb}.", "It is often seen in the town.")


def _joined(sentences: list[str], space: str) -> tuple[str, list[tuple[int, int]]]:
    """The text of `sentences` and each one's [start, end) offsets in it."""
    text, breaks = "", []
    for sentence in sentences:
        if text:
            text += space
        breaks.append((len(text), len(text) + len(sentence)))
        text += sentence
    return text, breaks


def lareqa_paragraph(number: int, lang: str) -> dict[str, Any]:
    """Paragraph `number` in `lang`: one fact among fillers, a who and a what question about it."""
    rng = random.Random(f"lareqa-{number}")  # the same draws in every language
    spec = LANGUAGES[lang]
    s, v, o = rng.randrange(len(spec.subjects)), rng.randrange(len(spec.verbs)), rng.randrange(len(spec.objects))
    fillers = rng.sample(range(len(spec.fillers)), rng.randint(1, 3))
    position = rng.randint(0, len(fillers))
    subject, verb, obj = spec.subjects[s], spec.verbs[v], spec.objects[o]
    fact = spec.sentence.format(subject=subject, verb=verb, object=obj)
    sentences = [spec.fillers[f] for f in fillers]
    sentences.insert(position, fact)
    context, breaks = _joined(sentences, spec.space)
    start = breaks[position][0]
    qas = [{"id": f"lq{number:03d}-who", "question": spec.who.format(verb=verb, object=obj),
            "answers": [{"answer_start": start, "text": subject}]},
           {"id": f"lq{number:03d}-what", "question": spec.what.format(subject=subject, verb=verb),
            "answers": [{"answer_start": start + fact.index(obj, len(subject)), "text": obj}]}]
    return {"context": context, "qas": qas, "sentence_breaks": [list(b) for b in breaks],
            "sentences": sentences}


def lareqa_file(lang: str) -> dict[str, Any]:
    paragraphs = [lareqa_paragraph(n, lang) for n in range(LAREQA_PARAGRAPHS)]
    return {"version": "1.1", "data": [{"title": f"Smoke {i // 5}", "paragraphs": paragraphs[i:i + 5]}
                                       for i in range(0, len(paragraphs), 5)]}


def entity(index: int) -> dict[str, Any]:
    """Entity Q<index>: the English lexicon's object `index`, or a distractor beyond them."""
    objects = LANGUAGES["en"].objects
    title = objects[index] if index < len(objects) else f"the blue thing number {index}"
    verb = LANGUAGES["en"].verbs[index % len(LANGUAGES["en"].verbs)]
    sentences = [DESCRIPTIONS[0].format(title=title[0].upper() + title[1:], verb=verb), DESCRIPTIONS[1]]
    description, breaks = _joined(sentences, " ")
    return {"entity_id": f"Q{100 + index}", "title": title, "description": description,
            "sentence_spans": [{"start": a, "end": b} for a, b in breaks], "description_language": "en",
            "description_url": f"https://en.wikipedia.org/wiki/Smoke_{index}"}


def mention_context(lang: str, rng: random.Random, document: str) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """A context whose fact sentence mentions an object: (context, object index, mention span)."""
    spec = LANGUAGES[lang]
    o = rng.randrange(len(spec.objects))
    fact = spec.sentence.format(subject=rng.choice(spec.subjects), verb=rng.choice(spec.verbs), object=spec.objects[o])
    sentences = [rng.choice(spec.fillers), fact]
    text, breaks = _joined(sentences, spec.space)
    start = breaks[1][0] + fact.index(spec.objects[o], 1)
    span = {"start": start, "end": start + len(spec.objects[o]), "text": spec.objects[o]}
    context = {"document_title": f"Smoke {document}", "document_url": f"https://example.org/{document}",
               "document_id": document, "language": lang, "text": text,
               "sentence_spans": [{"start": a, "end": b} for a, b in breaks]}
    return context, o, span


def mewslix_files() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random("mewslix")
    entities = [entity(i) for i in range(len(LANGUAGES["en"].objects) + 6)]
    pairs = []
    for n in range(TRAIN_PAIRS):
        context, o, span = mention_context("en", rng, f"wiki-{n}")
        mention = {"example_id": f"wiki-{n}-0", "mention_span": span, "entity_id": entities[o]["entity_id"]}
        pairs.append({"contextual_mention": {"context": context, "mention": mention}, "entity": entities[o]})
    articles = []
    for lang in MEWSLIX_LANGUAGES:
        for n in range(TEST_MENTIONS):
            context, o, span = mention_context(lang, rng, f"news-{lang}-{n}")
            articles.append({"context": context, "mentions": [
                {"example_id": f"news-{lang}-{n}-0", "mention_span": span, "entity_id": entities[o]["entity_id"]}]})
    return {"wikipedia_pairs-train.jsonl": pairs, "wikinews_mentions-test.jsonl": articles,
            "candidate_set_entities.jsonl": entities}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    for lang in LAREQA_LANGUAGES:
        write(OUT / "lareqa" / "xquad-r" / f"{lang}.json", lareqa_file(lang))
    for name, rows in mewslix_files().items():
        write_jsonl(OUT / "mewslix" / name, rows)


if __name__ == "__main__":
    main()
