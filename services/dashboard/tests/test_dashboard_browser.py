"""Generated dashboards opened in headless Chromium: drawn, offline, interactive, and safe."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
from dsp_dashboard.domain import build_dashboard

pytestmark = pytest.mark.browser

HOSTILE_NAMES = [
    "<img src=x onerror=\"window.__pwned=1\">",
    "</script><script>window.__pwned=2</script>",
    "<!--",
    "<b>bold</b>",
]


def charts_in(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="dsp-payload">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))["charts"]


def assert_clean(opened) -> None:
    assert opened.errors == []
    assert opened.requests == [], "the page requested something outside the file"


def drawn_chart_ids(opened) -> list[str]:
    return opened.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(n => n.querySelector('.main-svg'))"
        ".map(n => n.id.replace(/-chart$/, ''))")


@pytest.mark.parametrize("dataset", ["iris", "wine", "breast_cancer", "penguins", "macrodata"])
def test_real_datasets_draw_every_chart_without_error(dataset, request, write_parquet, open_dashboard):
    frame = request.getfixturevalue(dataset)
    html = build_dashboard(data=write_parquet(frame), profile=None, title=dataset)
    opened = open_dashboard(html)
    assert_clean(opened)
    drawn_at_open = drawn_chart_ids(opened)
    assert drawn_at_open, "no chart drawn in the first screen"
    opened.evaluate("window.dsp.drawAll()")
    assert sorted(drawn_chart_ids(opened)) == sorted(charts_in(html))
    # every chart has at least one trace with data in it
    empty = opened.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(n => !n.data.some("
        "t => (t.x && t.x.length) || (t.y && t.y.length) || (t.z && t.z.length))).map(n => n.id)")
    assert empty == []
    # the page's plotly.js bundle holds every trace type drawn (an unknown type would be drawn as another, or not)
    mismatched = opened.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(n => n.data.map((t, i) =>"
        " [n.id, t.type || 'scatter', n._fullData[i] && n._fullData[i].type])).filter(([, a, b]) => a !== b)")
    assert mismatched == []
    assert opened.evaluate("document.querySelectorAll('[data-widget=preview] tbody tr').length") == min(25, frame.height)


def test_category_filter_redraws_the_other_charts(penguins, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(penguins), profile=None)
    opened = open_dashboard(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    species, mass = names.index("species"), names.index("body_mass_g")
    before = opened.chart_data(f"col-{mass}")[1]["y"]
    corr_before = opened.chart_data("corr")[0]["z"]
    opened.page.select_option(f"#flt-{species}", label="Gentoo")
    after = opened.chart_data(f"col-{mass}")[1]["y"]
    assert sum(before) == penguins["body_mass_g"].drop_nulls().len()
    assert sum(after) == penguins.filter(pl.col("species") == "Gentoo")["body_mass_g"].drop_nulls().len()
    assert opened.chart_data("corr")[0]["z"] != corr_before
    assert "species" in opened.evaluate("document.getElementById('active-filters').textContent")
    shown = opened.evaluate("document.querySelector('[data-widget=preview] .page-info').textContent")
    assert f"{penguins.filter(pl.col('species') == 'Gentoo').height} rows" in shown
    # the filtered column's own chart keeps every level, and highlights the chosen one
    species_bars = opened.chart_data(f"col-{species}")[1]["x"]
    assert sum(species_bars) == penguins["species"].drop_nulls().len()
    opened.page.click("#reset-filters")
    assert opened.chart_data(f"col-{mass}")[1]["y"] == before
    assert_clean(opened)


def test_numeric_range_filter_and_click_on_a_bar(penguins, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(penguins), profile=None)
    opened = open_dashboard(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    mass, island = names.index("body_mass_g"), names.index("island")
    opened.page.fill(f"#flt-{mass}", "5000")
    opened.page.dispatch_event(f"#flt-{mass}", "change")
    heavy = penguins.filter(pl.col("body_mass_g") >= 5000)
    island_counts = opened.chart_data(f"col-{island}")[1]["x"]
    assert sum(island_counts) == heavy["island"].drop_nulls().len()

    # click the tallest bar of the island chart: a cross-filter on that island
    opened.page.click("#reset-filters")
    version = opened.version()
    bars = opened.page.locator(f"#col-{island}-chart .trace.bars").nth(1).locator("path")
    opened.page.locator(f"#col-{island}").scroll_into_view_if_needed()
    box = bars.first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    opened.page.mouse.move(x, y)
    opened.page.wait_for_timeout(200)  # Plotly finds the hovered bar on a throttled mousemove
    opened.page.mouse.click(x, y)
    opened.page.wait_for_function(f"() => Number(document.documentElement.getAttribute('data-dsp-version')) > {version}")
    filters = opened.evaluate("Object.keys(window.dsp.state.filters).map(Number)")
    assert filters == [island]
    top_island = penguins["island"].value_counts(sort=True)["island"][0]
    expected = penguins.filter(pl.col("island") == top_island)["body_mass_g"].drop_nulls().len()
    assert sum(opened.chart_data(f"col-{mass}")[1]["y"]) == expected
    assert_clean(opened)


def test_legend_click_filters_by_that_category(iris, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(iris), profile=None)
    opened = open_dashboard(html)
    pair = next(k for k, v in charts_in(html).items() if v["type"] == "scatter")
    version = opened.version()
    opened.page.locator(f"#{pair}").scroll_into_view_if_needed()
    opened.page.locator(f"#{pair}-chart .legend .traces").nth(0).click()
    opened.page.wait_for_function(f"() => Number(document.documentElement.getAttribute('data-dsp-version')) > {version}")
    active = opened.evaluate("window.dsp.state.filters")
    assert len(active) == 1
    # the histograms now count only the first species' rows
    first_hist = next(k for k, v in charts_in(html).items() if v["type"] == "hist")
    assert sum(opened.chart_data(first_hist)[1]["y"]) == 50
    assert_clean(opened)


def test_date_range_filter(macrodata, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(macrodata), profile=None)
    assert charts_in(html)["timeseries"]["type"] == "timeseries"
    opened = open_dashboard(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    date_col = names.index("date")
    points_before = sum(1 for y in opened.chart_data("timeseries")[0]["y"] if y is not None)
    opened.page.fill(f"#flt-{date_col}", "2000-01-01")
    opened.page.dispatch_event(f"#flt-{date_col}", "change")
    points_after = sum(1 for y in opened.chart_data("timeseries")[0]["y"] if y is not None)
    assert 0 < points_after < points_before
    realgdp = names.index("realgdp")
    assert sum(opened.chart_data(f"col-{realgdp}")[1]["y"]) == macrodata.filter(
        pl.col("date") >= pl.date(2000, 1, 1)).height
    assert_clean(opened)


def test_hostile_names_and_values_render_as_text(write_parquet, open_dashboard):
    frame = pl.DataFrame({
        HOSTILE_NAMES[0]: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] * 5,
        HOSTILE_NAMES[1]: ["<script>window.__pwned=3</script>", "<!-- x", "a&amp;b", "<b>bold</b>", "]]>", "ok"] * 5,
        HOSTILE_NAMES[2]: [6.0, 1.0, 2.0, 5.0, 3.0, 4.0] * 5,
        HOSTILE_NAMES[3]: ["<img src=x onerror=window.__pwned=4>"] * 10 + ["{{7*7}}"] * 20,
    })
    html = build_dashboard(data=write_parquet(frame), profile=None, title="<script>window.__pwned=5</script>")
    assert "<script>window.__pwned" not in html
    assert "<img src=x" not in html
    opened = open_dashboard(html)
    assert opened.evaluate("window.__pwned") is None
    assert_clean(opened)
    titles = opened.evaluate("Array.from(document.querySelectorAll('.card h3')).map(h => h.textContent)")
    for name in HOSTILE_NAMES:
        assert name in titles
    assert opened.evaluate("document.querySelectorAll('main img, main script, main b').length") == 0
    headers = opened.evaluate("Array.from(document.querySelectorAll('[data-widget=preview] th')).map(t => t.textContent)")
    assert headers == HOSTILE_NAMES
    cells = opened.evaluate("Array.from(document.querySelectorAll('[data-widget=preview] td')).map(t => t.textContent)")
    assert "<script>window.__pwned=3</script>" in cells and "<img src=x onerror=window.__pwned=4>" in cells
    # Plotly shows the markup literally in axis labels instead of interpreting it
    ticks = opened.evaluate("Array.from(document.querySelectorAll('#col-1-chart .ytick text')).map(t => t.textContent)")
    assert "<b>bold</b>" in ticks
    assert opened.evaluate("document.querySelectorAll('.js-plotly-plot text b, .js-plotly-plot tspan[style*=bold]').length") == 0


def test_sort_and_page_the_preview(iris, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(iris), profile=None)
    opened = open_dashboard(html)
    page = opened.page
    page.click("[data-widget=preview] th:nth-child(1)")
    first = page.inner_text("[data-widget=preview] tbody tr:first-child td:first-child")
    assert float(first) == iris["sepal_length"].min()
    page.click("[data-widget=preview] th:nth-child(1)")
    first = page.inner_text("[data-widget=preview] tbody tr:first-child td:first-child")
    assert float(first) == iris["sepal_length"].max()
    page.click("[data-widget=preview] [data-page=next]")
    assert "page 2 of 6" in page.inner_text("[data-widget=preview] .page-info")
    assert_clean(opened)


def test_theme_switch_redraws_with_the_other_palette(iris, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(iris), profile=None, theme="dark")
    opened = open_dashboard(html)
    font = opened.evaluate("document.getElementById('corr-chart').layout.font.color")
    opened.page.click("#theme-toggle")
    assert opened.evaluate("document.documentElement.getAttribute('data-theme')") == "light"
    assert opened.evaluate("document.getElementById('corr-chart').layout.font.color") != font
    assert_clean(opened)


def test_narrow_screen_stacks_the_cards(iris, write_parquet, open_dashboard):
    html = build_dashboard(data=write_parquet(iris), profile=None)
    opened = open_dashboard(html, width=600)
    widths = opened.evaluate("Array.from(document.querySelectorAll('.card')).map(c => c.getBoundingClientRect().width)")
    assert min(widths) > 500
    assert opened.evaluate("document.documentElement.scrollWidth") <= 600
    assert_clean(opened)


PROTOTYPE_NAMES = ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]


def test_column_names_of_object_prototype_draw_like_any_other(write_parquet, open_dashboard):
    n = 60
    frame = pl.DataFrame({
        **{name: [float((i * (k + 3)) % 17) + 0.5 * k for i in range(n)] for k, name in enumerate(PROTOTYPE_NAMES)},
        "weight": [1.5 * i for i in range(n)],
        "group": ["a", "b", "c"] * (n // 3),
    })
    html = build_dashboard(data=write_parquet(frame), profile=None, title="prototype names")
    opened = open_dashboard(html)
    assert_clean(opened)
    opened.evaluate("window.dsp.drawAll()")
    assert_clean(opened)
    charts = charts_in(html)
    names = opened.evaluate("window.dsp.columns.map(c => c.name)")
    assert set(PROTOTYPE_NAMES + ["weight"]) <= set(names)
    column_charts = {f"col-{names.index(name)}" for name in PROTOTYPE_NAMES + ["weight"]}
    assert column_charts <= set(charts)
    assert sorted(drawn_chart_ids(opened)) == sorted(charts)
    for chart_id in sorted(column_charts):
        traces = opened.chart_data(chart_id)
        assert sum(traces[0]["y"]) == n, chart_id
    # a filter on one of them filters the others too
    idx = names.index("constructor")
    opened.page.fill(f"#flt-{idx}", "5")
    opened.page.dispatch_event(f"#flt-{idx}", "change")
    kept = frame.filter(pl.col("constructor") >= 5).height
    assert 0 < kept < n
    assert sum(opened.chart_data(f"col-{names.index('weight')}")[1]["y"]) == kept
    assert_clean(opened)
