"""Extractive-QA exact match and token F1: SQuAD v1.1 rules and MLQA's per-language rules.

XTREME scores XQuAD and TyDiQA-GoldP with the SQuAD v1.1 script (ASCII punctuation,
English articles, whitespace tokens) and MLQA with the MLQA script (all Unicode
punctuation, per-language articles, character segmentation for Chinese). Both scripts
divide by the number of gold questions, so an unanswered question scores 0.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cache

from xfer_scale.errors import UserError
from xfer_scale.metrics.registry import metric
from xfer_scale.prediction_kinds import ANSWERS

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Articles MLQA strips per answer language; hi and zh have none. Arabic is special-cased
# below. The patterns run on lower-cased text, as in the MLQA script.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": None,
    "hi": None,
    "zh": None,
}
MLQA_LANGUAGES = tuple(_MLQA_ARTICLES)
_CJK = re.compile(r"[\u4e00-\u9fa5]")


@cache
def _unicode_punct() -> frozenset[str]:
    """Every Unicode P* character plus ASCII punctuation (which adds symbols like $ and +).

    Built on first use: scanning all code points takes a noticeable fraction of a second.
    """
    return frozenset(
        chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")
    ) | _ASCII_PUNCT


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 answer normalisation: lower, drop ASCII punctuation and a/an/the."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str, punct: frozenset[str]) -> list[str]:
    """Chinese: each CJK ideograph (and punctuation mark) is a token; other runs split on
    whitespace, so embedded Latin words stay whole."""
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.match(ch) or ch in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def _check_mlqa_language(language: str) -> None:
    if language not in _MLQA_ARTICLES:
        raise UserError(
            f"mlqa: no answer normalisation for language {language!r}; "
            f"MLQA defines it for {', '.join(MLQA_LANGUAGES)}"
        )


def normalize_mlqa(text: str, language: str) -> str:
    """MLQA answer normalisation for `language` (one of MLQA_LANGUAGES)."""
    _check_mlqa_language(language)
    punct = _unicode_punct()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    if language == "ar":
        # The MLQA script's pattern reduces to removing every "ال" (its other branch can
        # never match), even inside words; kept as is to stay score-identical.
        text = text.replace("ال", " ")
    elif (articles := _MLQA_ARTICLES[language]) is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text, punct) if language == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = prediction.split(), gold.split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _em_f1(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    normalize: Callable[[str], str],
) -> dict[str, float]:
    if not references:
        raise UserError("qa: no gold questions to score")
    exact = f1 = 0.0
    for qid, golds in references.items():
        if not golds:
            raise UserError(f"qa: question {qid!r} has no gold answer")
        if qid not in predictions:
            continue
        pred = normalize(predictions[qid])
        gold_norms = [normalize(g) for g in golds]
        exact += max(float(pred == g) for g in gold_norms)
        f1 += max(_token_f1(pred, g) for g in gold_norms)
    return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}


@metric("squad", needs=ANSWERS, selects="f1")
def squad_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """SQuAD v1.1 EM and F1 (0-100), best over each question's gold answers."""
    return _em_f1(predictions, references, normalize_squad)


@metric("mlqa", needs=ANSWERS, selects="f1")
def mlqa_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], language: str
) -> dict[str, float]:
    """MLQA EM and F1 (0-100) with the answer language's normalisation."""
    _check_mlqa_language(language)  # also when no question is answered
    return _em_f1(predictions, references, lambda text: normalize_mlqa(text, language))
