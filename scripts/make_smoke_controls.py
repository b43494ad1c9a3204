"""Write the smoke data of the paper's control conditions (src/xfer_scale/smoke_data): the
MLM text and machine-translated MNLI, in the release layouts the task configs read.

- `mlm/<lang>.txt`: one paragraph a line (the local layout of conf/mlm/wikipedia.yaml), for
  every language a smoke target evaluates, so the MLM text defaults to any target's languages;
- `mnli/XNLI-MT-1.0/multinli/multinli.train.<lang>.tsv` for de, es, fr: XNLI-MT 1.0's layout
  (header premise, hypo, label; contradiction spelt "contradictory"), each row the word-by-
  word translation of the same row of the smoke `mnli/train.tsv`, as XNLI-MT's rows are
  translations of MultiNLI's, line by line;
- `mnli/translate-train/en-<lang>-translated.tsv` for de, es, fr: XTREME's translate-train
  layout (no header; English premise, English hypothesis, their translations, the label with
  contradiction spelt "contradictory"), the same translations in another order, the English
  tokenized ("park ." for "park."), as XTREME's rows are not in MultiNLI's order.

Data for checking that the pipeline trains and evaluates, never for research numbers.
Deterministic: re-running this script reproduces the committed files byte for byte.

    python scripts/make_smoke_controls.py
"""

from __future__ import annotations

import json
import random

import make_smoke_more  # noqa: F401  (adds the XCOPA languages to LEXICON)
from make_smoke_data import LEXICON, OUT, nli_examples, sentence, text, write_lines, write_tsv
from make_smoke_qa import LANGUAGES

MNLI_TRAIN = (600, 1)  # examples and seed of make_smoke_data.py's mnli/train.tsv
TRANSLATED = ["de", "es", "fr"]
PARAGRAPHS = 200
XNLI_MT_LABELS = {"contradiction": "contradictory"}


def lexicon_sentence(lang: str, rng: random.Random) -> str:
    return text(sentence(lang, rng, negated=rng.random() < 0.3, place=rng.random() < 0.5, companion=rng.random() < 0.3))


def qa_sentence(lang: str, rng: random.Random) -> str:
    """For the languages only make_smoke_qa.py has words for (zh, fi): its facts and fillers."""
    spec = LANGUAGES[lang]
    if rng.random() < 0.5:
        return rng.choice(spec.fillers)
    return spec.sentence.format(subject=rng.choice(spec.subjects), verb=rng.choice(spec.verbs),
                                object=rng.choice(spec.objects))


def write_mlm_text() -> None:
    for lang in sorted({*LEXICON, *LANGUAGES}):
        rng = random.Random(f"mlm-{lang}")
        make, space = (lexicon_sentence, " ") if lang in LEXICON else (qa_sentence, LANGUAGES[lang].space)
        write_lines(OUT / "mlm" / f"{lang}.txt",
                    [space.join(make(lang, rng) for _ in range(rng.randint(1, 4))) for _ in range(PARAGRAPHS)])


def write_xnli_mt() -> None:
    for lang in TRANSLATED:
        rows = [[p, h, XNLI_MT_LABELS.get(y, y)] for p, h, y in nli_examples(lang, *MNLI_TRAIN, drawn_as="en")]
        write_tsv(OUT / "mnli" / "XNLI-MT-1.0" / "multinli" / f"multinli.train.{lang}.tsv", ["premise", "hypo", "label"], rows)


def _tokenized(sentence: str) -> str:
    """The English as a tokenizer leaves it: final punctuation split off."""
    return f"{sentence[:-1]} {sentence[-1]}" if sentence[-1:] in ".?!" else sentence


def write_xtreme_translate_train() -> None:
    english = nli_examples("en", *MNLI_TRAIN)
    for lang in TRANSLATED:
        rows = [[_tokenized(ep), _tokenized(eh), p, h, XNLI_MT_LABELS.get(y, y)]
                for (ep, eh, _), (p, h, y) in zip(english, nli_examples(lang, *MNLI_TRAIN, drawn_as="en"), strict=True)]
        random.Random(f"xtreme-{lang}").shuffle(rows)
        write_lines(OUT / "mnli" / "translate-train" / f"en-{lang}-translated.tsv", ["\t".join(row) for row in rows])


def main() -> None:
    write_mlm_text()
    write_xnli_mt()
    write_xtreme_translate_train()
    print(json.dumps({"written": str(OUT)}))


if __name__ == "__main__":
    main()
