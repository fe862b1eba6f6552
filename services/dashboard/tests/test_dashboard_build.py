"""build_dashboard end to end: one self-contained HTML document from a dataset and its results."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from dsp_dashboard.domain import MAX_HTML_BYTES, build_dashboard, build_zip


def payload_of(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    assert found, "payload script missing"
    return json.loads(found.group(1))


def test_builds_a_page_from_data_alone(iris, write_parquet):
    seen = []
    html = build_dashboard(data=write_parquet(iris), profile=None, progress=lambda f, m: seen.append(f))
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<script") == 3
    payload = payload_of(html)
    kinds = {c["name"]: c["kind"] for c in payload["data"]["columns"]}
    assert kinds == {"sepal_length": "numeric", "sepal_width": "numeric", "petal_length": "numeric",
                     "petal_width": "numeric", "species": "categorical"}
    assert payload["data"]["sample_rows"] == 150 and payload["data"]["sampled"] is False
    charts = payload["charts"]
    assert {charts[f"col-{i}"]["type"] for i in range(4)} == {"hist"}
    assert charts["col-4"] == {"type": "bar", "column": 4}
    assert "corr" in charts
    assert "missing" not in charts  # iris has no missing value
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_plotly_is_inlined_once_and_nothing_is_fetched(iris, write_parquet):
    html = build_dashboard(data=write_parquet(iris), profile=None)
    assert html.count("plotly.js (dashboard partial: scatter, bar, box, heatmap - minified)") == 1
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=', html)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert len(html.encode()) < MAX_HTML_BYTES


def test_size_stays_under_the_cap_for_a_large_wide_file(write_parquet):
    n = 200_000
    frame = pl.DataFrame({f"x{i}": pl.int_range(n, eager=True).cast(pl.Float64) * (i + 1.123456789)
                          for i in range(80)}).with_columns(
        label=pl.int_range(n, eager=True).map_elements(lambda v: f"long text value {v}", return_dtype=pl.String))
    html = build_dashboard(data=write_parquet(frame), profile=None)
    payload = payload_of(html)
    assert len(html.encode()) <= MAX_HTML_BYTES
    assert payload["data"]["sampled"] is True
    assert payload["data"]["total_rows"] == n
    assert "uniform random sample" in html


def test_dark_theme_and_title_are_applied(iris, write_parquet):
    html = build_dashboard(data=write_parquet(iris), profile=None, title="Iris <study>", theme="dark")
    assert '<html lang="en" data-theme="dark">' in html
    assert "<title>Iris &lt;study&gt;</title>" in html


def test_zip_holds_the_page_and_the_notice(iris, write_parquet):
    import io
    import zipfile

    html = build_dashboard(data=write_parquet(iris), profile=None)
    with zipfile.ZipFile(io.BytesIO(build_zip(html))) as archive:
        assert sorted(archive.namelist()) == ["THIRD_PARTY_NOTICES.txt", "index.html"]
        assert archive.read("index.html").decode() == html
        assert b"MIT License" in archive.read("THIRD_PARTY_NOTICES.txt")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_same_input_gives_the_same_page(iris, write_parquet, theme):
    path = write_parquet(iris)
    assert build_dashboard(data=path, profile=None, theme=theme) == build_dashboard(data=path, profile=None, theme=theme)


def test_the_sample_shrinks_until_the_page_fits(write_parquet):
    n = 20_000
    frame = pl.DataFrame({f"text_{i}": pl.int_range(n, eager=True).map_elements(
        lambda v, i=i: f"{i:02d}-{v:07d}-" + "x" * 70, return_dtype=pl.String) for i in range(40)})
    html = build_dashboard(data=write_parquet(frame), profile=None)
    payload = payload_of(html)
    assert len(html.encode()) <= MAX_HTML_BYTES
    assert 0 < payload["data"]["sample_rows"] < 250_000 // 40
    assert all(c["kind"] == "text" for c in payload["data"]["columns"])


def test_a_column_named_like_the_counts_is_charted():
    """value_counts names its count column "n": a dataset's own column "n" must not clash with it."""
    frame = pl.DataFrame({"n": ["a", "b", "a"] * 10, "value": ["x", "y", "x"] * 10})
    payload = payload_of(build_dashboard(data=frame, profile=None))
    assert {c["name"]: c["levels"] for c in payload["data"]["columns"]} == {"n": ["a", "b"], "value": ["x", "y"]}
