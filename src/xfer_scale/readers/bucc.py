"""BUCC 2018's bitext-mining folders, as retrieval rows: reader `bucc`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from xfer_scale.errors import UserError
from xfer_scale.readers.generic import numbered_lines, retrieval_row
from xfer_scale.readers.registry import Row, existing, reader


def _id_pairs(path: Path) -> Iterator[tuple[int, str, str]]:
    """BUCC's `id<TAB>value` lines: sentence files and gold files share this shape."""
    for number, line in numbered_lines(path):
        fields = line.split("\t")
        if len(fields) != 2:
            raise UserError(
                f"{path}:{number}: expected `id<TAB>...` (2 tab-separated fields), found {len(fields)}"
            )
        yield number, fields[0], fields[1]


def _bucc_gold(path: Path) -> dict[str, str]:
    """Source id -> English id; the release has no gold for its test split, so no file means
    no gold. A source id twice would need two golds, which the row format cannot hold."""
    gold: dict[str, str] = {}
    if not path.exists():
        return gold
    for number, source_id, target_id in _id_pairs(path):
        if source_id in gold:
            raise UserError(f"{path}:{number}: source id {source_id} is listed twice; keep one pair")
        gold[source_id] = target_id
    return gold


@reader("bucc")
def read_bucc(path: Path, lang: str, split: str) -> Iterator[Row]:
    """Retrieval rows from a BUCC 2018 folder: `<lang>-en.<split>.<lang>` (sources),
    `<lang>-en.<split>.en` (targets), `<lang>-en.<split>.gold` (pairs, optional).

    Gold ids missing from the sentence files are an error: silently dropped pairs would
    shrink recall's denominator and inflate F1.
    """
    stem = f"{lang}-en.{split}"
    files = {
        "source": existing(path / f"{stem}.{lang}", f"BUCC {lang} sentences"),
        "target": existing(path / f"{stem}.en", "BUCC English sentences"),
    }
    gold_path = path / f"{stem}.gold"
    gold = _bucc_gold(gold_path)
    unseen = {"source": set(gold), "target": set(gold.values())}
    for side, file in files.items():
        for _, id_, text in _id_pairs(file):
            unseen[side].discard(id_)
            yield retrieval_row(id_, text, side, gold.get(id_, "") if side == "source" else "")
        if unseen[side]:
            raise UserError(
                f"{gold_path}: {len(unseen[side])} ids are not in {file} (e.g. {min(unseen[side])}); "
                "use the gold file of the same language and split"
            )
