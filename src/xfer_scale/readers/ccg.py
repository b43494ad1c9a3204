"""CCGbank's AUTO files (LDC2005T13), for CCG supertagging: reader `ccg_auto`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from xfer_scale.errors import UserError
from xfer_scale.readers.generic import numbered_lines
from xfer_scale.readers.registry import Row, reader

#: a CCGbank leaf: (<L category modified-POS original-POS word predicate-argument-category>)
_CCG_LEAF = re.compile(r"\(<L (\S+) \S+ \S+ (\S+) \S+>\)")
_CCG_SECTIONS = re.compile(r"(\d+)-(\d+)")


def _in_ccg_sections(path: Path, sections: str) -> bool:
    """Whether the file's folder, a CCGbank section (`AUTO/02/wsj_0201.auto`), is in FIRST-LAST."""
    bounds = _CCG_SECTIONS.fullmatch(str(sections))
    if bounds is None:
        raise UserError(f"reader 'ccg_auto': sections={sections!r} is not a range FIRST-LAST such as 02-21")
    if not path.parent.name.isdigit():
        raise UserError(
            f"{path}: not in a numbered section folder; `sections` needs CCGbank's AUTO/<section>/*.auto "
            "layout (or leave `sections` out to read every file the path matches)"
        )
    return int(bounds[1]) <= int(path.parent.name) <= int(bounds[2])


@reader("ccg_auto")
def read_ccg_auto(path: Path, sections: str | None = None) -> Iterator[Row]:
    """One row a sentence of CCGbank's AUTO files (LDC2005T13 `data/AUTO/<section>/wsj_*.auto`):
    `id` from its `ID=` header line, and `tokens` and `tags`, the words and categories of the
    leaves `(<L category POS POS word PredArgCat>)` of the derivation on the next line.

    With `sections: 02-21` a file outside that range of section folders gives no rows, so one
    glob over `AUTO/*/*.auto` selects a standard split (train 02-21, dev 00, test 23).
    """
    if sections is not None and not _in_ccg_sections(path, sections):
        return
    header: tuple[int, str] | None = None
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        if line.startswith("ID="):
            if header is not None:
                raise UserError(f"{path}:{header[0]}: header without a derivation line after it; "
                                "each `ID=` line must be followed by its tree")
            header = (number, line.split()[0].removeprefix("ID="))
            continue
        if header is None:
            raise UserError(f"{path}:{number}: derivation without an `ID=` header line before it; "
                            "use CCGbank's AUTO files as released")
        leaves = _CCG_LEAF.findall(line)
        if not leaves or len(leaves) != line.count("(<L "):
            raise UserError(f"{path}:{number}: a derivation with no leaves or a malformed one; "
                            "expected leaves `(<L category POS POS word PredArgCat>)`")
        yield {"id": header[1], "tokens": [word for _, word in leaves], "tags": [tag for tag, _ in leaves]}
        header = None
    if header is not None:
        raise UserError(f"{path}:{header[0]}: header without a derivation line after it; "
                        "the file ends there (truncated?)")
