"""Write the bundled smoke data of the retrieval tasks (src/xfer_scale/smoke_data/{tatoeba,bucc})
in their original release formats.

A translation pair is one sentence drawn twice from `make_smoke_data`'s lexicons, in English and
in another language, from the same random state: the lexicons list subjects, verbs, objects and
places in the same order in every language, so the two draws say the same thing. BUCC adds
sentences on each side that have no translation, as the real corpora do. Texts are distinct
within a file, so no mined pair is dropped for an ambiguous sentence. Data for checking that
the pipeline runs, never for research numbers. Deterministic: re-running this script
reproduces the committed files byte for byte.

    python scripts/make_smoke_retrieval.py
"""

from __future__ import annotations

import json
import random

from make_smoke_data import OUT, sentence, text, write_lines

LANGUAGES = {"de": "deu", "es": "spa", "fr": "fra"}  # code -> LASER's Tatoeba code
TATOEBA_PAIRS = 60
BUCC_SIZES = {"sample": (30, 15, 20), "training": (40, 20, 25)}  # pairs, source-only, English-only


def pair(lang: str, rng: random.Random) -> tuple[str, str]:
    """(English, `lang`) renderings of one random sentence."""
    flags = {"negated": rng.random() < 0.3, "place": rng.random() < 0.5, "companion": rng.random() < 0.3}
    state = rng.getstate()
    english = text(sentence("en", rng, **flags))
    rng.setstate(state)
    return english, text(sentence(lang, rng, **flags))


def distinct_pairs(lang: str, rng: random.Random, n: int, taken: set[str]) -> list[tuple[str, str]]:
    """`n` pairs whose English and `lang` texts are all new (also against `taken`, which grows)."""
    out = []
    while len(out) < n:
        english, other = pair(lang, rng)
        if english not in taken and other not in taken:
            taken.update((english, other))
            out.append((english, other))
    return out


def write_tatoeba() -> None:
    """LASER's layout: tatoeba.<iso3>-eng.<iso3> and tatoeba.<iso3>-eng.eng, line-aligned."""
    for lang, iso3 in LANGUAGES.items():
        pairs = distinct_pairs(lang, random.Random(f"tatoeba-{lang}"), TATOEBA_PAIRS, set())
        write_lines(OUT / "tatoeba" / f"tatoeba.{iso3}-eng.{iso3}", [other for _, other in pairs])
        write_lines(OUT / "tatoeba" / f"tatoeba.{iso3}-eng.eng", [english for english, _ in pairs])


def write_bucc() -> None:
    """BUCC 2018's layout: <lang>-en/<lang>-en.<split>.{<lang>,en,gold}, `id<TAB>text` lines
    in shuffled order and `source_id<TAB>english_id` gold lines."""
    for lang in LANGUAGES:
        for split, (n_pairs, n_source_only, n_english_only) in BUCC_SIZES.items():
            rng = random.Random(f"bucc-{lang}-{split}")
            taken: set[str] = set()
            pairs = distinct_pairs(lang, rng, n_pairs, taken)
            sources = [other for _, other in pairs + distinct_pairs(lang, rng, n_source_only, taken)]
            english = [en for en, _ in pairs + distinct_pairs(lang, rng, n_english_only, taken)]
            source_ids = [f"{lang}-{i:09d}" for i in rng.sample(range(1, len(sources) + 1), len(sources))]
            english_ids = [f"en-{i:09d}" for i in rng.sample(range(1, len(english) + 1), len(english))]
            stem = OUT / "bucc" / f"{lang}-en" / f"{lang}-en.{split}"
            write_lines(stem.with_name(f"{stem.name}.{lang}"),
                        [f"{id_}\t{t}" for id_, t in sorted(zip(source_ids, sources))])
            write_lines(stem.with_name(f"{stem.name}.en"),
                        [f"{id_}\t{t}" for id_, t in sorted(zip(english_ids, english))])
            write_lines(stem.with_name(f"{stem.name}.gold"),
                        sorted(f"{source_ids[i]}\t{english_ids[i]}" for i in range(n_pairs)))


def main() -> None:
    write_tatoeba()
    write_bucc()
    print(json.dumps({"written": [str(OUT / "tatoeba"), str(OUT / "bucc")]}))


if __name__ == "__main__":
    main()
