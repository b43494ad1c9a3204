"""The README stays a front page and the docs site stays whole.

The reference lives in docs/ (an mkdocs site, `mkdocs.yml` at the root); the README keeps
set-up, the smoke run, the tests and a first experiment. These checks are cheap on purpose:
CI builds the site itself (`mkdocs build --strict`, which fails on a broken link or anchor),
so nothing here runs mkdocs.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250


def _nav_pages(entries: object) -> list[str]:
    """Every page file mkdocs.yml's nav names, at any depth."""
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    return []


def _nav() -> list[str]:
    return _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])


def _commands(block: str) -> list[str]:
    """A shell block's commands: comments dropped, `a && b` as two commands."""
    found = []
    for line in block.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            found += [part.strip() for part in line.split(" && ")]
    return found


def _readme_block(heading: str) -> list[str]:
    """The commands of the first bash block under the README's `## heading`."""
    text = README.read_text(encoding="utf-8")
    section = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, f"README.md has no section '## {heading}'"
    block = re.search(r"^```bash\n(.*?)^```", section.group(1), re.M | re.S)
    assert block, f"README.md's '{heading}' has no bash block"
    return _commands(block.group(1))


def _ci_blocks() -> dict[str, list[str]]:
    """.ci/run's blocks, by the README section each names (`# --- README: <section> ...`)."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines():
        marker = re.match(r"# --- README: (.+?)(?: \(.*\))? ---$", line)
        if marker:
            current = marker.group(1)
            blocks[current] = []
        elif current is not None:
            blocks[current] += _commands(line)
    return blocks


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, (
        f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move reference material into docs/")


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists():
    nav = _nav()
    pages = sorted(str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md"))
    assert sorted(set(pages) - set(nav)) == [], "docs pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(pages)) == [], "mkdocs.yml's nav names pages that do not exist"
    assert len(nav) == len(set(nav)), "a page is listed twice in mkdocs.yml's nav"


def test_readme_links_into_docs_exist():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)(?:#[^)]*)?\)", text)
    assert links, "README.md links to no docs page"
    assert [link for link in links if not (ROOT / link).is_file()] == []
    linked = {link.removeprefix("docs/") for link in links}
    assert sorted(set(_nav()) - linked - {"index.md"}) == [], "README.md does not link every docs page"


def test_ci_runs_the_readme_commands():
    """.ci/run runs exactly the README's set-up, smoke, test and install commands; its docs block
    builds what the README's Documentation block builds, into a throw-away folder."""
    ci = _ci_blocks()
    for heading in ("Set up", "Run the smoke experiment", "Test", "Install as a package"):
        assert heading in ci, f".ci/run has no '# --- README: {heading}' block"
        assert ci[heading] == _readme_block(heading), f"README's '{heading}' block differs from .ci/run's"
    readme_docs = _readme_block("Documentation")
    assert ci["Documentation"][0] == 'pip install -e ".[docs]"' == readme_docs[0]
    assert ci["Documentation"][1].startswith(readme_docs[1] + " --site-dir ")
