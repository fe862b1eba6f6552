"""The comparison's page (build_comparison_html): its sections, its payload, escaping, size and offline-ness."""

from __future__ import annotations

import html as html_lib
import json
import re

import polars as pl
import pytest
from dsp_dashboard.domain import MAX_HTML_BYTES
from dsp_dashboard.domain.compare import MAX_CHARTED, MAX_ROWS_PER_SIDE, build_comparison_html
from shared_contracts.compare import (
    ColumnShift,
    CompareFinding,
    Comparison,
    RowOverlap,
    SchemaDiff,
    TargetShift,
)


def payload_of(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', page, re.S)
    assert found, "payload script missing"
    return json.loads(found.group(1))


def headings(page: str, level: int) -> list[str]:
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(rf"<h{level}>(.*?)</h{level}>", page)]


@pytest.fixture(scope="module")
def diamonds_page(diamonds_halves) -> str:
    a, b, comparison = diamonds_halves
    return build_comparison_html(comparison, a, b)


def test_the_page_has_every_section_in_order(diamonds_page):
    assert diamonds_page.startswith("<!DOCTYPE html>")
    assert headings(diamonds_page, 2) == ["Overview", "What changed", "Schema", "Distributions", "Every column"]
    assert "diamonds-2024.csv" in diamonds_page and "diamonds-2025.csv" in diamonds_page
    assert "<title>Comparison: diamonds-2024.csv → diamonds-2025.csv</title>" in diamonds_page
    # the header: rows of each side, the change, the overlap
    assert "26,970 rows" in diamonds_page and "Row count change" in diamonds_page
    assert "Rows of B also in A" in diamonds_page


def test_findings_are_ranked_and_link_to_their_charts(diamonds_halves, diamonds_page):
    _, _, comparison = diamonds_halves
    first = comparison.findings[0]
    assert first.column == "carat"  # shifted on purpose by 0.3
    items = re.findall(r'<li class="insight sev-(\w+)"><span class="badge">\w+</span> (.*?)\s*<a href="#([\w-]+)"',
                       diamonds_page)
    assert [html_lib.unescape(t) for _, t, _ in items] == [f.title for f in comparison.findings]
    target = items[0][2]
    chart = re.search(rf'<article class="card w-half" id="{target}">\s*<h3>(.*?)</h3>', diamonds_page)
    assert chart and chart.group(1) == "carat"
    assert f'id="{target}-chart" data-chart="{target}" data-chart-id="compare:column:carat"' in diamonds_page


def test_the_most_shifted_columns_are_drawn_side_by_side_on_the_same_bins(diamonds_halves, diamonds_page):
    a, b, comparison = diamonds_halves
    payload = payload_of(diamonds_page)
    charts = payload["charts"]
    drawn = [k for k in charts if k.startswith("cmp-col-")]
    assert len(drawn) == min(MAX_CHARTED, len(comparison.columns))
    names = [c["name"] for c in payload["data"]["columns"]]
    carat = charts["cmp-col-0"]
    assert carat["type"] == "sidehist" and names[carat["column"]] == "carat"
    assert len(carat["whole"][0]) == len(carat["whole"][1]) == len(carat["edges"]) - 1
    assert sum(carat["whole"][0]) == pytest.approx(1) and sum(carat["whole"][1]) == pytest.approx(1)
    assert carat["rows"] == [a.height, b.height]
    # the shift shows: B's carat mass sits to the right of A's
    centre = [sum(s * (lo + hi) / 2 for s, lo, hi in zip(w, carat["edges"], carat["edges"][1:], strict=False))
              for w in carat["whole"]]
    assert centre[1] - centre[0] == pytest.approx(0.3, abs=0.05)
    color = next(v for v in charts.values() if v["type"] == "sidebar" and names[v["column"]] == "color")
    assert color["new_levels"] == ["Z"] and color["gone_levels"] == []
    levels = payload["data"]["columns"][color["column"]]["levels"]
    assert color["whole"][0][levels.index("Z")] == 0 and color["whole"][1][levels.index("Z")] == pytest.approx(0.04,
                                                                                                               abs=0.001)
    missing = charts["cmp-missing"]
    assert [names[i] for i in missing["columns"]] == ["depth"]
    assert missing["whole"] == [[0.0], [pytest.approx(0.1, abs=0.001)]]


def test_the_samples_are_bounded_and_tagged_with_their_side(diamonds_halves, diamonds_page):
    a, b, _ = diamonds_halves
    data = payload_of(diamonds_page)["data"]
    side = data["side"]
    assert len(side) == data["sample_rows"] == len(data["columns"][0]["values"])
    assert side.count(0) == side.count(1) == MAX_ROWS_PER_SIDE
    assert side == sorted(side)
    assert data["total_rows"] == a.height + b.height and data["sampled"] is True
    filters = [data["columns"][i]["name"] for i in payload_of(diamonds_page)["filters"]]
    assert {"cut", "color", "clarity", "carat", "price"} <= set(filters)
    assert ("uniform random samples of 5,000 of A's 26,970 rows and 5,000 of B's 26,970 rows"
            in html_lib.unescape(diamonds_page))


def test_every_common_column_has_a_row_in_the_shift_table(diamonds_halves, diamonds_page):
    _, _, comparison = diamonds_halves
    table = diamonds_page[diamonds_page.index('id="cmp-columns"'):]
    rows = re.findall(r'<tr id="shift-\d+" class="sev-(\w+)"><th scope="row" title="([^"]*)">', table)
    assert [name for _, name in rows] == [c.column for c in sorted(comparison.columns, key=lambda c: -c.score)]
    assert rows[0] == ("large", "carat")
    assert "D = " in table and "V = " in table and "0.0% → 10.0%" in table


def test_no_network_url_and_nothing_fetched(diamonds_page):
    assert diamonds_page.count("<script") == 3
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)=', diamonds_page)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', diamonds_page).group(1)
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    # outside the inlined plotly.js (whose SVG namespaces are URLs it never fetches) no URL at all
    ours = re.sub(r"<script>.*?</script>", "", diamonds_page, count=1, flags=re.S)
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", ours, re.I)


def test_the_page_stays_under_the_size_cap_for_large_wide_data():
    n, width = 150_000, 80
    a = pl.DataFrame({f"x{i}": pl.int_range(n, eager=True).cast(pl.Float64) * (i + 1.123456789) for i in range(width)})
    b = a.with_columns(pl.col("x0") * 2)
    shifts = [ColumnShift(column=c, kind="numeric", missing_a=0.0, missing_b=0.0, score=1.0 if c == "x0" else 0.0)
              for c in a.columns]
    comparison = Comparison(name_a="a", name_b="b", rows=RowOverlap(rows_a=n, rows_b=n),
                            schema_diff=SchemaDiff(common=a.columns), columns=shifts)
    page = build_comparison_html(comparison, a, b)
    assert len(page.encode()) <= MAX_HTML_BYTES
    data = payload_of(page)["data"]
    assert len(data["columns"]) == 60 and data["sample_rows"] <= 2 * MAX_ROWS_PER_SIDE
    assert data["columns"][0]["name"] == "x0"


def test_hostile_names_are_escaped_everywhere(make_comparison):
    evil_col = "<script>alert(1)</script>"
    link = '=HYPERLINK("http://evil.example","click")'
    level = "<img src=x onerror=alert(2)>"
    a = pl.DataFrame({evil_col: [1.0, 2.0, 3.0, 4.0] * 25, link: ["p", "q", level, "p"] * 25})
    b = pl.DataFrame({evil_col: [3.0, 4.0, 5.0, 6.0] * 25, link: ["p", level, level, "</script>new"] * 25,
                      "<b>added</b>": [1] * 100})
    comparison = make_comparison(a, b, name_a="</script><script>alert(3)</script>.csv", name_b='"><svg onload=x>.csv')
    page = build_comparison_html(comparison, a, b)
    assert page.count("<script") == 3  # the payload, plotly.js and the page's script: nothing injected
    for raw in (evil_col, level, "<svg onload", "<b>added</b>", "</script><script>alert(3)"):
        assert raw not in page
    assert '"><svg' not in page
    assert html_lib.escape(evil_col, quote=False) in page  # shown as text in headings and the table
    assert 'href="http://evil' not in page and "&#34;http://evil.example&#34;" in page
    # the payload carries the names as they are, to be set as text by the script
    payload = payload_of(page)
    assert {c["name"] for c in payload["data"]["columns"]} == {evil_col, link}
    bars = next(v for v in payload["charts"].values() if v["type"] == "sidebar")
    assert bars["new_levels"] == ["</script>new"]
    assert payload["sides"][0].startswith("A · </script>")


def test_target_section_says_whether_the_relation_moved(diamonds_halves):
    a, b, comparison = diamonds_halves
    shift = TargetShift(target="price", task="regression", model="LightGBM", metric="r2", score_a=0.98,
                        score_b=0.81, change=-0.17, relative_change=-0.173, interval_a=(0.975, 0.985), moved=True,
                        rows_train=20_000, rows_holdout_a=6_970, rows_scored_b=26_970)
    finding = CompareFinding(rank=1, kind="target", column="price", severity="moderate", score=0.2,
                             title="A model trained on A explains price less well on B", chart_id="compare:target")
    moved = comparison.model_copy(update={"target": shift, "findings": [finding]})
    page = build_comparison_html(moved, a, b)
    assert headings(page, 2)[3] == "Target"
    assert re.search(r'explains price less well on B\s*<a href="#cmp-target" class="see">see the target', page)
    assert "Target: price" in page
    assert "The relation of the features to price moved" in page and "95% interval 0.975 – 0.985" in page
    figure = payload_of(page)["charts"]["cmp-target"]
    assert figure["data"][0]["x"] == [0.98, 0.81]
    assert figure["data"][0]["error_x"]["array"] == [pytest.approx(0.005), 0]
    with_b = build_comparison_html(moved.model_copy(update={"target": shift.model_copy(
        update={"interval_b": (0.8, 0.82)})}), a, b)
    assert "and 0.81 on B (95% interval 0.8 – 0.82)." in with_b
    assert payload_of(with_b)["charts"]["cmp-target"]["data"][0]["error_x"]["arrayminus"][1] == pytest.approx(0.01)
    still = shift.model_copy(update={"score_b": 0.979, "change": -0.001, "moved": False})
    page = build_comparison_html(comparison.model_copy(update={"target": still}), a, b)
    assert "did not move" in page
    assert "Target" not in headings(build_comparison_html(comparison, a, b), 2)


def test_schema_diff_lists_added_removed_and_changed_columns(make_comparison):
    a = pl.DataFrame({"id": [1, 2, 3], "old": ["x", "y", "z"], "n": [1, 2, 3]})
    b = pl.DataFrame({"id": [1, 2, 4], "new": [1.0, 2.0, 3.0], "n": ["1", "2", "x"]})
    page = build_comparison_html(make_comparison(a, b), a, b)
    schema = page[page.index('id="cmp-schema"'):page.index('id="section-distributions"')
                  if 'id="section-distributions"' in page else None]
    assert "Added in B (1)" in schema and "<code>new</code>" in schema
    assert "Removed from A (1)" in schema and "<code>old</code>" in schema
    assert "Type changed (1)" in schema and "<code>n</code>: Int64 → String" in schema


def test_an_unchanged_pair_has_no_finding_and_the_same_input_gives_the_same_page(iris, make_comparison):
    comparison = make_comparison(iris, iris)
    page = build_comparison_html(comparison, iris, iris, theme="dark")
    assert '<html lang="en" data-theme="dark">' in page
    assert "No change between the two datasets reaches the thresholds of a finding." in page
    assert page == build_comparison_html(comparison, iris, iris, theme="dark")


def test_a_comparison_with_no_common_column_still_renders(make_comparison):
    a, b = pl.DataFrame({"x": [1, 2]}), pl.DataFrame({"y": ["a", "b"]})
    page = build_comparison_html(make_comparison(a, b), a, b)
    assert payload_of(page)["data"]["columns"] == [] and "Distributions" not in headings(page, 2)


def test_dates_booleans_and_a_changed_type_are_drawn(make_comparison):
    from datetime import date, timedelta

    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(200)]
    a = pl.DataFrame({"day": days, "member": [i % 3 == 0 for i in range(200)], "code": list(range(200))})
    b = pl.DataFrame({"day": [d + timedelta(days=90) for d in days], "member": [i % 2 == 0 for i in range(200)],
                      "code": [str(i) for i in range(200)]})
    comparison = make_comparison(a, b)
    page = build_comparison_html(comparison, a, b)
    payload = payload_of(page)
    kinds = {c["name"]: c["kind"] for c in payload["data"]["columns"]}
    charts = {payload["data"]["columns"][v["column"]]["name"]: v for k, v in payload["charts"].items()
              if k.startswith("cmp-col-")}
    assert kinds["day"] == "datetime" and charts["day"]["type"] == "sidehist"
    assert charts["day"]["range"][1] - charts["day"]["range"][0] == pytest.approx((199 + 90) * 86_400_000)
    assert kinds["member"] == "categorical" and charts["member"]["type"] == "sidebar"
    member_levels = payload["data"]["columns"][charts["member"]["column"]]["levels"]
    whole = dict(zip(member_levels, charts["member"]["whole"][1], strict=True))
    assert whole == {"true": 0.5, "false": 0.5}
    assert "<code>code</code>: Int64 → String" in page
