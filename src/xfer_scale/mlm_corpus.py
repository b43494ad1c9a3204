"""The text of the masked-LM control: paragraphs drawn from a multilingual corpus, as many as
phase 1's step budget needs, never the corpus whole (48 languages of Wikipedia or CC-100 would
not fit in memory, and most of it would go unread).

Languages are sampled as XLM-R samples them (Conneau et al. 2020, after Lample and Conneau
2019): p(lang) ~ q^alpha, q the language's share of the corpus, alpha = 0.3 by default (1:
in proportion to size, 0: uniform). Sizes are bytes, which both sources state without reading
any text. The paper does not say which rule its MLM runs used (TASKS.md), hence XLM-R's own.
A language's paragraph count is its share of the total, rounded by largest remainder.

Local text (`DIR/mlm/<lang>.txt`, one paragraph a line) is read at seeded random byte offsets,
each taking the line after the one it falls in (offset 0: the first line): no pass over the
file, and a line's chance is proportional to the length of the line before it, which says
nothing about the line itself. Hub text is streamed (`datasets` streaming, shuffled through a
buffer); an article's paragraphs are the lines of its `text`. Each language draws from its own
seeded generator, so adding a language leaves the others' paragraphs as they were, and a
larger budget draws the smaller one's paragraphs first.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from xfer_scale import data
from xfer_scale.errors import UserError

#: rows `datasets` keeps in its shuffle buffer while streaming (its own default)
SHUFFLE_BUFFER = 1000


def language_shares(sizes: dict[str, float], alpha: float) -> dict[str, float]:
    """p(lang) ~ (size / total)^alpha."""
    total = sum(sizes.values())
    weights = {lang: (size / total) ** alpha for lang, size in sizes.items()}
    norm = sum(weights.values())
    return {lang: weight / norm for lang, weight in weights.items()}


def apportion(total: int, shares: dict[str, float]) -> dict[str, int]:
    """`total` split by `shares` into whole counts summing to it (largest remainder)."""
    exact = {lang: total * share for lang, share in shares.items()}
    counts = {lang: math.floor(value) for lang, value in exact.items()}
    by_remainder = sorted(exact, key=lambda lang: (counts[lang] - exact[lang], lang))
    for lang in by_remainder[: total - sum(counts.values())]:
        counts[lang] += 1
    return counts


class LocalText:
    """A language's text files, one paragraph a line, read at random offsets."""

    def __init__(self, files: list[Path]):
        self.files = files
        self.ends = np.cumsum([file.stat().st_size for file in files])

    def size(self) -> int:
        return int(self.ends[-1])

    def draw(self, n: int, rng: np.random.Generator) -> list[str]:
        offsets = rng.integers(0, self.size(), n)
        which = np.searchsorted(self.ends, offsets, side="right")
        starts = offsets - np.concatenate([[0], self.ends[:-1]])[which]
        out: list[str] = [""] * n
        for number, file in enumerate(self.files):
            rows = np.flatnonzero(which == number)
            with file.open("rb") as handle:
                for row in rows[np.argsort(starts[rows], kind="stable")]:  # in file order: sequential reads
                    out[row] = _line_after(handle, int(starts[row]), file)
        return out


def _line_after(handle: Any, offset: int, file: Path) -> str:
    """The first non-blank line starting after `offset` (the first line for offset 0),
    wrapping round to the start of the file."""
    handle.seek(offset)
    if offset:
        handle.readline()  # the rest of the line the offset fell in
    for wrapped in (False, True):
        for raw in iter(handle.readline, b""):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise UserError(f"{file}: not UTF-8 at byte {handle.tell() - len(raw) + error.start} "
                                f"({error.reason}); re-save the file as UTF-8.") from None
            if line:
                return line
        if wrapped:
            break
        handle.seek(0)
    raise UserError(f"{file}: no text; the MLM corpus needs one paragraph a line.")


class HubText:
    """A language's hub corpus, streamed: one row an article, its lines the paragraphs."""

    def __init__(self, corpus: Any, source: Any, lang: str):
        self.source, self.lang = source, lang
        self.name = source.name.format(lang=lang) if source.name else None
        self.convert = data.RowConverter(corpus, source, lang, f"{corpus.name} train [{lang}]", data.labels(corpus))
        self.convert.origin = f"hub {source.path} {self.name}"

    def size(self) -> int:
        try:
            info = datasets.load_dataset_builder(self.source.path, self.name, revision=self.source.revision).info
            return int(info.splits[self.source.split].num_bytes)
        except Exception as error:  # offline, or a card without sizes
            raise UserError(f"cannot read the size of {self.source.path} ({self.name}) from the hub, which the "
                            f"language sampling needs ({type(error).__name__}: {error}); set "
                            "intermediate.mlm.alpha=0 (uniform) or use local text (data.root).") from error

    def draw(self, n: int, rng: np.random.Generator) -> list[str]:
        out: list[str] = []
        for paragraph in self._paragraphs(int(rng.integers(2**31))):
            if len(out) == n:
                break
            out.append(paragraph)
        if len(out) < n:
            raise UserError(f"{self.source.path} ({self.name}) has only {len(out)} paragraphs; the budget needs {n}.")
        return out

    def _paragraphs(self, seed: int) -> Iterator[str]:
        try:
            stream = datasets.load_dataset(self.source.path, self.name, split=self.source.split,
                                           revision=self.source.revision, streaming=True)
        except Exception as error:  # the hub's errors vary by release: offline, missing, gated
            raise UserError(f"cannot stream {self.source.path} ({self.name}) from the hub: {type(error).__name__}: "
                            f"{error}. Streaming needs the network; offline, put one paragraph a line in "
                            f"DIR/mlm/{self.lang}.txt and set data.root=DIR.") from error
        for number, row in enumerate(stream.shuffle(seed=seed, buffer_size=SHUFFLE_BUFFER), 1):
            article = self.convert(row, number)
            if article is not None:
                yield from (line.strip() for line in article["text"].splitlines() if line.strip())


def text_source(corpus: Any, lang: str, data_root: str | None) -> LocalText | HubText:
    files = data.local_files(corpus, "train", lang, data_root)
    if files is not None:
        return LocalText(files)
    source = data.split_parts(corpus, "train", lang)[0]
    if not source.get("hub"):
        raise UserError(f"{corpus.name} [{lang}]: the MLM text has only local files; set data.root.")
    return HubText(corpus, source.hub, lang)


def sample(corpus: Any, languages: Sequence[str], alpha: float, paragraphs: int, seed: int,
           data_root: str | None) -> tuple[datasets.Dataset, dict[str, int]]:
    """`paragraphs` rows (`text`, `language`) over `languages`, and how many each language gave."""
    sources = {lang: text_source(corpus, lang, data_root) for lang in languages}
    sizes = {lang: 1 if alpha == 0 else source.size() for lang, source in sources.items()}
    counts = apportion(paragraphs, language_shares(sizes, alpha))
    rows = [{"text": text, "language": lang} for lang, source in sources.items()
            for text in source.draw(counts[lang], np.random.default_rng([seed, *lang.encode()]))]
    return datasets.Dataset.from_list(rows), counts
