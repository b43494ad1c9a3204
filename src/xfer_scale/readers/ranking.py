"""Readers for XTREME-R's two ranking tasks, LAReQA (XQuAD-R) and Mewsli-X, in their release formats:
`lareqa_questions`, `lareqa_candidates`, `mewslix_mentions`, `mewslix_entities`, `mewslix_pairs`.

Both tasks rank candidates for queries, so their rows come in two shapes: a query row
(`id`, `text`, `relevant`: the ids of the candidates that answer it) and a candidate row
(`id`, `text`); training rows are (`query`, `candidate`) pairs. Ids and texts are XTREME-R's,
so predictions score with its official code and its submission files:

- XQuAD-R (`lareqa/xquad-r/<lang>.json`, SQuAD JSON plus each paragraph's `sentence_breaks`):
  as `third_party/utils_lareqa.py` builds them, a question is `<qas id>_<lang>`, a candidate
  `<lang>_<paragraph number from 1 in its file>_<sentence index>` with the text sentence +
  paragraph (no separator, newlines removed), and a question's relevant candidates are the
  sentences equal to its answer's sentence, in its own paragraph of every language's file.
  Questions are scored against the candidates of all files together, so a question reader
  reads the other languages' files beside it.
- Mewsli-X (`wikinews_mentions-{dev,test}.jsonl`, `candidate_set_entities.jsonl`,
  `wikipedia_pairs-{train,dev}.jsonl`): a query is the sentence holding the mention, the
  mention marked `{ ... }` and put in front (`preprocess_mention` of `utils_mewslix.py`), an
  entity its description's sentences joined (`preprocess_entity_description`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from xfer_scale.errors import UserError
from xfer_scale.readers.generic import load_json, read_jsonl
from xfer_scale.readers.registry import Row, reader

_MARKED = re.compile(r"\{(.*?)\}")  # braces already in a context would read as a mention marker


def _paragraphs(path: Path) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(paragraph number from 1, paragraph, its sentences) of one XQuAD-R file."""
    document = load_json(path)
    number = 0
    try:
        for article in document["data"]:
            for paragraph in article["paragraphs"]:
                number += 1
                context = paragraph["context"]
                yield number, paragraph, [context[start:end] for start, end in paragraph["sentence_breaks"]]
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(
            f"{path}: not an XQuAD-R file ({type(error).__name__}: {error}); expected SQuAD JSON whose paragraphs "
            "have sentence_breaks, as lareqa/xquad-r/<lang>.json of github.com/google-research-datasets/lareqa"
        ) from None


def _answer_sentence(paragraph: dict[str, Any], question: dict[str, Any]) -> str | None:
    """The sentence its (only) answer starts in; None where no sentence holds it, which XTREME-R skips."""
    start = question["answers"][0]["answer_start"]
    context = paragraph["context"]
    return next((context[s:e] for s, e in paragraph["sentence_breaks"] if s <= start < e), None)


def _lareqa_relevant(path: Path) -> dict[str, list[str]]:
    """qas id -> the candidate ids of its answer sentence, in every language file beside `path`."""
    relevant: dict[str, list[str]] = {}
    for file in sorted(path.parent.glob("*.json")):
        lang = file.stem
        for number, paragraph, sentences in _paragraphs(file):
            for question in paragraph["qas"]:
                answer = _answer_sentence(paragraph, question)
                if answer is not None:
                    relevant.setdefault(question["id"], []).extend(
                        f"{lang}_{number}_{i}" for i, sentence in enumerate(sentences) if sentence == answer)
    return relevant


@reader("lareqa_questions")
def read_lareqa_questions(path: Path) -> Iterator[Row]:
    """The questions of one XQuAD-R language file, each with its relevant candidates in all languages."""
    lang = path.stem
    relevant = _lareqa_relevant(path)
    for _, paragraph, _ in _paragraphs(path):
        for question in paragraph["qas"]:
            if _answer_sentence(paragraph, question) is not None:
                yield {"id": f"{question['id']}_{lang}", "text": question["question"],
                       "relevant": relevant[question["id"]]}


@reader("lareqa_candidates")
def read_lareqa_candidates(path: Path) -> Iterator[Row]:
    """Every sentence of one XQuAD-R language file, as a candidate answer."""
    lang = path.stem
    for number, paragraph, sentences in _paragraphs(path):
        context = paragraph["context"]
        for i, sentence in enumerate(sentences):
            yield {"id": f"{lang}_{number}_{i}", "text": (sentence + context).replace("\n", "")}


def _normalized(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mention_query(context: dict[str, Any], mention: dict[str, Any], where: str) -> str:
    """`preprocess_mention`: "<mention>: <left> { <mention> } <right>" within the mention's sentence."""
    span = mention["mention_span"]
    start, end, text = span["start"], span["end"], span["text"]
    if context["text"][start:end] != text:
        raise UserError(f"{where}: mention {mention.get('example_id')!r} says {text!r}, but its offsets "
                        f"{start}:{end} hold {context['text'][start:end]!r}; use the release's files unchanged")
    sentence = next(((s["start"], s["end"]) for s in context["sentence_spans"]
                     if s["start"] <= start < s["end"] and end <= s["end"]), None)
    if sentence is None:
        raise UserError(f"{where}: mention {mention.get('example_id')!r} lies in no single sentence of its "
                        "context's sentence_spans; use the release's files unchanged")
    left = _MARKED.sub(r"(\1)", context["text"][sentence[0]:start])
    right = _MARKED.sub(r"(\1)", context["text"][end:sentence[1]])
    return _normalized(f"{text}: {left} {{ {text} }} {right}")


def entity_text(entity: dict[str, Any]) -> str:
    """`preprocess_entity_description`: the description's sentences, joined."""
    description = entity["description"]
    return _normalized(" ".join(description[s["start"]:s["end"]] for s in entity["sentence_spans"]))


def _fields(row: Row, build: Callable[[Row], Row]) -> Row:
    try:
        return build(row)
    except (KeyError, TypeError) as error:
        raise UserError(f"{row.where}: not a Mewsli-X row ({type(error).__name__}: {error}); use the files of the "
                        "Mewsli-X release (github.com/google-research/google-research, dense_representations_for_"
                        "entity_retrieval/mel)") from None


@reader("mewslix_mentions")
def read_mewslix_mentions(path: Path) -> Iterator[Row]:
    """One row a mention of `wikinews_mentions-*.jsonl` (one article a line), with its language;
    `relevant` is its gold entity, or empty where the file has none (XTREME's test copy)."""
    for article in read_jsonl(path):
        mentions = _fields(article, lambda row: row["mentions"])
        for mention in mentions:
            yield _fields(article, lambda row: {
                "id": mention["example_id"], "language": row["context"]["language"],
                "text": mention_query(row["context"], mention, row.where),
                "relevant": [mention["entity_id"]] if mention.get("entity_id") else []})


@reader("mewslix_entities")
def read_mewslix_entities(path: Path) -> Iterator[Row]:
    """One candidate a line of `candidate_set_entities.jsonl`."""
    for entity in read_jsonl(path):
        yield _fields(entity, lambda row: {"id": row["entity_id"], "text": entity_text(row)})


@reader("mewslix_pairs")
def read_mewslix_pairs(path: Path) -> Iterator[Row]:
    """One (query, candidate) training pair a line of `wikipedia_pairs-*.jsonl`."""
    for pair in read_jsonl(path):
        yield _fields(pair, lambda row: {
            "query": mention_query(row["contextual_mention"]["context"], row["contextual_mention"]["mention"],
                                   row.where),
            "candidate": entity_text(row["entity"])})
