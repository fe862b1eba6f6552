"""The XSS corpus as an uploaded CSV's column names and cells, read by ingest, drawn in the self-contained
dashboard and opened in Chromium: every string shows as text, and no script runs (no dialog, no console error,
no marker set by an injected handler)."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from dsp_dashboard.domain import build_dashboard
from dsp_ingest.domain import ingest_file

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.corpus.hostile import XSS  # noqa: E402

pytestmark = pytest.mark.browser
MARKED = [x.replace("alert(", "window.__pwned=(") for x in XSS]  # the same markup, setting a marker if it ran


def test_the_xss_corpus_in_names_and_cells_renders_as_text_and_runs_nothing(tmp_path, open_dashboard):
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(MARKED[:4] + ["amount"])
    for i in range(40):
        writer.writerow([MARKED[4 + (i + k) % 4] for k in range(4)] + [i * 1.5])
    src = tmp_path / "xss.csv"
    src.write_text(buf.getvalue())
    report = ingest_file(src, tmp_path / "data.parquet")
    assert [c.source_name for c in report.columns][:4] == MARKED[:4]
    html = build_dashboard(data=tmp_path / "data.parquet", profile=None, title=MARKED[0])
    assert "<script>window.__pwned" not in html and "<img src=x" not in html and "<svg onload" not in html
    opened = open_dashboard(html)
    assert opened.evaluate("window.__pwned") is None
    assert opened.errors == [], opened.errors  # a dialog (alert) or a script error would be listed here
    assert opened.requests == []
    assert opened.evaluate("document.querySelectorAll('main img, main svg[onload], main iframe, main a[href^=javascript]')"
                           ".length") == 0
    headers = opened.evaluate("Array.from(document.querySelectorAll('[data-widget=preview] th')).map(t => t.textContent)")
    assert [c.name for c in report.columns][:4] == [h for h in headers if h][:4], headers
    cells = set(opened.evaluate("Array.from(document.querySelectorAll('[data-widget=preview] td'))"
                                ".map(t => t.textContent)"))
    assert set(MARKED) & cells, "the cells show the markup as text"
