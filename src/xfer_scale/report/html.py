"""report.html: report.md as one self-contained page, for readers who get a file, not a repository.

The page is rendered from the markdown the report writes, not assembled from the tables a second
time, so report.md stays the one owner of what the report says and in what order: a section added
there is in the page too. markdown-it (CommonMark with GitHub's pipe tables, raw HTML off, so a cell
never becomes markup) covers what report.md uses: headings, paragraphs, lists, quotes, emphasis,
code, tables and images. Each image becomes a data: URI of its file, styles and the few lines that
sort a table on a header click are inline, and a Content-Security-Policy lets the browser load
nothing else, so the page makes no network request wherever it is opened.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from collections.abc import Sequence
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

# Only inline styles, inline script and data: images; no request of any kind.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
:root { color-scheme: light; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 72rem; margin: 0 auto; padding: 1rem; overflow-wrap: break-word; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
img { display: block; max-width: 100%; height: auto; margin: 1rem 0; }
code { background: #f2f2f2; padding: 0 .2em; border-radius: 3px; }
blockquote { margin: 1rem 0; padding: .5rem 1rem; background: #fff6e0; border-left: 4px solid #e0a000; }
.scroll { overflow-x: auto; margin: 1rem 0; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .5rem; border-bottom: 1px solid #e4e4e4; white-space: nowrap; }
th { cursor: pointer; background: #f6f6f6; user-select: none; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
"""

# A click (or Enter) on a header sorts the rows by that column, again to reverse: numbers (cells
# that start with one, as "+3.11 ± 0.40" does) by value and before text, text in the reader's locale.
SCRIPT = """
const number = text => /^[+-]?\\d/.test(text) ? parseFloat(text) : NaN;
const compare = (a, b) => {
  const x = number(a), y = number(b);
  if (!isNaN(x) && !isNaN(y)) return x - y;
  if (!isNaN(x) || !isNaN(y)) return isNaN(x) ? 1 : -1;
  return a.localeCompare(b);
};
for (const table of document.querySelectorAll("table")) {
  const body = table.tBodies[0], headers = [...table.querySelectorAll("th")];
  if (!body) continue;
  headers.forEach((th, column) => {
    const sort = () => {
      const up = th.getAttribute("aria-sort") !== "ascending";
      headers.forEach(other => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      const cell = row => row.cells[column].textContent.trim();
      body.append(...[...body.rows].sort((a, b) => compare(cell(a), cell(b)) * (up ? 1 : -1)));
    };
    th.tabIndex = 0;
    th.title = "sort";
    th.addEventListener("click", sort);
    th.addEventListener("keydown", event => { if (event.key === "Enter") sort(); });
  });
}
"""


def render_html(markdown: str, folder: Path) -> str:
    """The page for `markdown`, report.md's text, whose image paths are relative to `folder`."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    parser.add_render_rule("image", _inline_image)
    parser.add_render_rule("table_open", _open_scroll)
    parser.add_render_rule("table_close", _close_scroll)
    env: EnvType = {"folder": folder}
    tokens = parser.parse(markdown, env)
    body = parser.renderer.render(tokens, parser.options, env)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"  # else a browser asks the server for /favicon.ico
        f"<title>{html.escape(_title(tokens))}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"{body}<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _title(tokens: Sequence[Token]) -> str:
    """The first top-level heading's text: report.md's title."""
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type == "heading_open" and opening.tag == "h1":
            return inline.content
    return "report"


def _inline_image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image of the report folder, as a data: URI; anything else is a bug of the report, not a link to keep."""
    token = tokens[idx]
    source = str(token.attrGet("src"))
    path = env["folder"] / source
    kind, _ = mimetypes.guess_type(source)
    if "://" in source or not path.is_file() or not (kind or "").startswith("image/"):
        raise ValueError(f"report.md shows {source!r}, which is not an image file of the report in {env['folder']}")
    token.attrSet("src", f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}")
    return self.image(tokens, idx, options, env)


def _open_scroll(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """A wide table scrolls inside its box, so a phone-width page keeps its width."""
    return '<div class="scroll">' + self.renderToken(tokens, idx, options, env)


def _close_scroll(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return self.renderToken(tokens, idx, options, env) + "</div>\n"
