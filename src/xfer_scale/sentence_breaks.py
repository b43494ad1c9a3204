"""Sentence spans of English Wikipedia paragraphs, for LAReQA's training pairs.

XTREME-R trains its LAReQA dual encoder on SQuAD v1.1, pairing each question with the
sentence that holds its answer (plus the paragraph). SQuAD has no sentence annotation, so
XTREME-R breaks paragraphs with a rule-based breaker (`third_party/processors/sb_sed.py`,
regular expressions tuned on SQuAD). This is our own breaker with the same main rules: a
break after sentence-final punctuation (and any closing quotes, brackets or Wikipedia
citation marks such as "[3]") when whitespace and an upper-case letter or digit follow, kept
together after titles, common abbreviations, month abbreviations and initials. It may cut a
handful of SQuAD paragraphs differently from sb_sed; the evaluation data (XQuAD-R) carries its
own sentence breaks and does not use this.
"""

from __future__ import annotations

import re

#: sentence-final punctuation, closers and citation marks, where whitespace and a capital or digit follow
_BOUNDARY = re.compile(r"""[.?!]+['")\]\u201d\u2019]*(?:\[[A-Za-z0-9 ?]+\])*(?=\s+['"(\[\u201c]?[A-Z0-9])""")
#: a word before a full stop that does not end a sentence ("Dr. Who", "e.g. Paris", "Jan. 5")
_NO_BREAK_AFTER = frozenset(
    "mr mrs ms dr prof fr rev msgr st sta lt gen col maj adm capt sgt rep gov sen pres "
    "e.g i.e ie vs v pp p cf a.k.a approx app esp est tr jan feb aug sept oct nov dec mt ft no".split()
)
_LAST_WORD = re.compile(r"([\w.]+)$")
_INITIALS = re.compile(r"(?:[A-Z]\.)*[A-Z]")


def _ends_sentence(text: str, punctuation_at: int) -> bool:
    if text[punctuation_at] != ".":
        return True
    word = _LAST_WORD.search(text, 0, punctuation_at)
    if word is None:
        return True
    word_text = word.group(1)
    initials = _INITIALS.fullmatch(word_text) is not None  # "J. R. R. Tolkien", "the U.S. Army"
    return not initials and word_text.lower() not in _NO_BREAK_AFTER


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each sentence of `text`, surrounding whitespace excluded."""
    cuts = [0]
    for match in _BOUNDARY.finditer(text):
        if _ends_sentence(text, match.start()):
            cuts.append(match.end())
    cuts.append(len(text))
    spans = []
    for start, end in zip(cuts, cuts[1:]):
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            first = start + len(piece) - len(piece.lstrip())
            spans.append((first, first + len(stripped)))
    return spans


def answer_sentence(text: str, answer_start: int) -> str | None:
    """The sentence that holds the character `answer_start`, or None where it falls between
    sentences (XTREME-R skips such a question)."""
    for start, end in sentence_spans(text):
        if start <= answer_start < end:
            return text[start:end]
    return None
