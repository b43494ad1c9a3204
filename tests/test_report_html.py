"""report.html's rendering rules, and the browser check that the report's page test relies on."""

from __future__ import annotations

import re

import pytest

from tests.chromium import Chromium
from xfer_scale.report.html import POLICY, render_html


def test_a_cell_is_text_and_an_image_must_be_a_file_of_the_report(tmp_path):
    page = render_html("| language |\n|:--|\n| <img src=x onerror=alert(1)> |\n", tmp_path)
    assert ">&lt;img src=x onerror=alert(1)&gt;</td>" in page and "<img" not in page
    (tmp_path / "plot.txt").write_text("not an image")
    for source in ("http://example.com/plot.png", "missing.png", "plot.txt"):
        with pytest.raises(ValueError, match=re.escape(source)):
            render_html(f"![a plot]({source})", tmp_path)


def test_the_browser_check_sees_what_a_page_asks_for_and_what_it_is_refused(browser: Chromium, tmp_path):
    """Without this the offline test of report.html could pass by hearing nothing: a page that asks
    for an image on the network shows the request, and under report.html's policy the refusal too."""
    image = '<img src="http://example.invalid/plot.png">'
    (tmp_path / "open.html").write_text(image)
    (tmp_path / "policed.html").write_text(f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">{image}')
    visits = [browser.visit(tmp_path / page) for page in ("open.html", "policed.html")]
    assert all("http://example.invalid/plot.png" in visit.requests for visit in visits)
    assert any("Content Security Policy" in error for error in visits[1].errors)
